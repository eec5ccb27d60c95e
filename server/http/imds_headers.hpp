// The header fields the metadata surface reads, found in one pass over a request's fields.
// Beast's fields.find() walks a case-insensitive tree per name: four lookups cost about 1,200
// instructions per IMDSv2 GET (callgrind, in process), where one scan of the three to five fields
// a client sends, comparing lengths first, cut the request by ~840 (GET ~90: docs/benchmarks.md).
// The first of repeated fields wins, as fields.find() had it, except the proxy header
// (TRUSTED_PROXY_HEADER): its lines are one list (RFC 9110 5.3), and the line a proxy added
// (HAProxy's `option forwardfor` adds one below the caller's own) is the one that counts, so
// every line is read and joined in order. Only a second line copies, into the connection's
// `joined` buffer (its capacity stays): a request with none or one allocates nothing.
// Connection is read in the same pass for keep_alive() below (Beast's request.keep_alive() looks
// the field up again: ~480 instructions of a new-connection GET that sends "Connection: close").
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "cloudmeta/asio.hpp"
#include "cloudmeta/caller_identity.hpp"
#include "cloudmeta/config.hpp"
#include "cloudmeta/imds.hpp"

namespace cloudmeta::http_server {

struct ImdsHeaders {
  ForwardingFields forwarding;  // views into the request, or into `joined`
  std::optional<std::string_view> token;  // imds::kTokenHeader
  std::optional<std::string_view> ttl;    // imds::kTtlHeader
  std::optional<std::string_view> connection;
};

template <class Fields>
ImdsHeaders read_imds_headers(const Fields& fields, ProxyHeader proxy_header,
                              std::string& joined) {
  static constexpr std::string_view kForwardedFor = "X-Forwarded-For";
  static constexpr std::string_view kRealIp = "X-Real-IP";
  static constexpr std::string_view kConnection = "Connection";
  ImdsHeaders h;
  const auto take = [](std::optional<std::string_view>& slot, std::string_view wanted,
                       std::string_view name, std::string_view value) {
    if (!slot && beast::iequals(name, wanted)) slot = value;
  };
  std::optional<std::string_view>& list = h.forwarding.proxy_list;
  bool list_joined = false;
  const auto add_line = [&](std::string_view line) {
    if (!list) {
      list = line;
      return;
    }
    if (!list_joined) joined.assign(*list);
    list_joined = true;
    joined += ", ";
    joined += line;
  };
  for (const auto& field : fields) {
    const std::string_view name = field.name_string();
    switch (name.size()) {  // the five names differ in length
      case kForwardedFor.size():
        if (beast::iequals(name, kForwardedFor)) {
          h.forwarding.x_forwarded_for = true;
          if (proxy_header == ProxyHeader::kXForwardedFor) add_line(field.value());
        }
        break;
      case kRealIp.size():
        if (proxy_header == ProxyHeader::kXRealIp && beast::iequals(name, kRealIp)) {
          add_line(field.value());
        }
        break;
      case imds::kTokenHeader.size(): take(h.token, imds::kTokenHeader, name, field.value()); break;
      case imds::kTtlHeader.size(): take(h.ttl, imds::kTtlHeader, name, field.value()); break;
      case kConnection.size(): take(h.connection, kConnection, name, field.value()); break;
      default: break;
    }
  }
  if (list_joined) list = joined;
  return h;
}

inline imds::Method imds_method(http::verb verb) {
  switch (verb) {
    case http::verb::get: return imds::Method::kGet;
    case http::verb::head: return imds::Method::kHead;
    case http::verb::put: return imds::Method::kPut;
    default: return imds::Method::kOther;
  }
}

// The view imds::respond takes, over `request`'s target and the fields read above (it holds
// string_views into both: use it while they live). One place for the session, the fuzz target
// and the hot-path harness, so that what they test is what the session answers.
template <class Message>
imds::Request imds_request_view(const Message& request, const ImdsHeaders& headers,
                                const CallerIdentity& identity) {
  imds::Request view;
  view.method = imds_method(request.method());
  view.target = request.target();
  view.token = headers.token;
  view.ttl = headers.ttl;
  view.forwarded = identity.forwarded;
  view.caller = identity.caller;
  return view;
}

// What Beast's message::keep_alive() decides, from the Connection field read above: HTTP/1.1
// stays open unless it lists "close", HTTP/1.0 closes unless it lists "keep-alive" (RFC 9112
// 9.3); the token list is Beast's parser.
inline bool keep_alive(unsigned version, std::optional<std::string_view> connection) {
  if (version < 11) return connection && http::token_list(*connection).exists("keep-alive");
  return !connection || !http::token_list(*connection).exists("close");
}

}  // namespace cloudmeta::http_server
