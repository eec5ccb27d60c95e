// The header fields the metadata surface reads, found in one pass over a request's fields.
// Beast's fields.find() walks a case-insensitive tree per name: four lookups cost about 1,200
// instructions per IMDSv2 GET (callgrind, in process), where one scan of the three to five fields
// a client sends, comparing lengths first, cut the request by ~840 (GET ~90: docs/benchmarks.md).
// The first of repeated fields wins, as fields.find() had it. Connection is read in the same pass
// for keep_alive() below (Beast's request.keep_alive() looks the field up again: ~480
// instructions of a new-connection GET that sends "Connection: close").
#pragma once

#include <optional>
#include <string_view>

#include "cloudmeta/asio.hpp"
#include "cloudmeta/imds.hpp"

namespace cloudmeta::http_server {

struct ImdsHeaders {
  std::optional<std::string_view> x_forwarded_for;
  std::optional<std::string_view> x_real_ip;
  std::optional<std::string_view> token;  // imds::kTokenHeader
  std::optional<std::string_view> ttl;    // imds::kTtlHeader
  std::optional<std::string_view> connection;
};

template <class Fields>
ImdsHeaders read_imds_headers(const Fields& fields) {
  static constexpr std::string_view kForwardedFor = "X-Forwarded-For";
  static constexpr std::string_view kRealIp = "X-Real-IP";
  static constexpr std::string_view kConnection = "Connection";
  ImdsHeaders h;
  const auto take = [](std::optional<std::string_view>& slot, std::string_view wanted,
                       std::string_view name, std::string_view value) {
    if (!slot && beast::iequals(name, wanted)) slot = value;
  };
  for (const auto& field : fields) {
    const std::string_view name = field.name_string();
    switch (name.size()) {  // the five names differ in length
      case kForwardedFor.size(): take(h.x_forwarded_for, kForwardedFor, name, field.value()); break;
      case kRealIp.size(): take(h.x_real_ip, kRealIp, name, field.value()); break;
      case imds::kTokenHeader.size(): take(h.token, imds::kTokenHeader, name, field.value()); break;
      case imds::kTtlHeader.size(): take(h.ttl, imds::kTtlHeader, name, field.value()); break;
      case kConnection.size(): take(h.connection, kConnection, name, field.value()); break;
      default: break;
    }
  }
  return h;
}

// What Beast's message::keep_alive() decides, from the Connection field read above: HTTP/1.1
// stays open unless it lists "close", HTTP/1.0 closes unless it lists "keep-alive" (RFC 9112
// 9.3); the token list is Beast's parser.
inline bool keep_alive(unsigned version, std::optional<std::string_view> connection) {
  if (version < 11) return connection && http::token_list(*connection).exists("keep-alive");
  return !connection || !http::token_list(*connection).exists("close");
}

}  // namespace cloudmeta::http_server
