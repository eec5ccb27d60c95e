#include <chrono>
#include <ctime>
#include <netinet/in.h>

#include "cloudmeta/caller_identity.hpp"
#include "cloudmeta/imds.hpp"
#include "cloudmeta/log.hpp"
#include "imds_error_pages.hpp"
#include "http/imds_response_head.hpp"
#include "http/request_reader.hpp"
#include "http/sessions.hpp"

namespace cloudmeta::http_server {
namespace {

imds::Method to_method(http::verb verb) {
  switch (verb) {
    case http::verb::get: return imds::Method::kGet;
    case http::verb::head: return imds::Method::kHead;
    case http::verb::put: return imds::Method::kPut;
    default: return imds::Method::kOther;
  }
}

template <class Fields>
std::optional<std::string_view> header(const Fields& fields, std::string_view name) {
  auto it = fields.find(name);  // Beast compares field names case-insensitively
  if (it == fields.end()) return std::nullopt;
  return it->value();
}

// AWS sets the IP TTL / IPv6 hop limit of the token PUT response to HttpPutResponseHopLimit, so a
// token cannot travel further than the instance (e.g. into a container one hop behind). The
// setting stays for the rest of the connection: a client the response cannot reach cannot use
// the connection anyway, and restoring it early would let a retransmission escape the limit.
void apply_hop_limit(tcp::socket& socket, int hops) {
  const int fd = socket.native_handle();
  ::setsockopt(fd, IPPROTO_IP, IP_TTL, &hops, sizeof hops);
  ::setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &hops, sizeof hops);
}

// One-shot reply for a request the parser refused, then the connection closes.
net::awaitable<void> reply_and_close(beast::tcp_stream& stream, int status, std::string& head) {
  imds::Response r;
  r.status = status;
  r.html = true;
  r.body = imds::error_page(status);
  format_imds_head(r, false, head);
  std::array<net::const_buffer, 2> buffers = {net::buffer(head), net::buffer(r.body)};
  beast::error_code ec;
  stream.expires_after(std::chrono::seconds(5));
  co_await net::async_write(stream, buffers, net::redirect_error(net::use_awaitable, ec));
}

void log_request(const IpKey& caller, const imds::Response& r, http::verb method,
                 std::string_view target, std::chrono::steady_clock::time_point start) {
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::steady_clock::now() - start).count();
  const std::string address = caller.to_string();
  std::string_view instance = r.instance ? std::string_view(r.instance->instance_id()) : "-";
  if (r.outcome == imds::Outcome::kUnknownCaller) instance = "unknown";
  log_info("request", {{"surface", "metadata"}, {"address", address}, {"instance", instance},
                       {"method", std::string_view(http::to_string(method))}, {"path", target},
                       {"status", r.status}, {"us", static_cast<std::int64_t>(micros)}});
}

}  // namespace

IpKey peer_key(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  if (address.is_v4()) return IpKey::from_v4(address.to_v4().to_bytes());
  return IpKey::from_v6(address.to_v6().to_bytes());
}

net::awaitable<void> serve_imds_connection(tcp::socket socket, const ImdsContext& context,
                                           [[maybe_unused]] ConnectionLimiter::Slot slot) {  // held until the end
  beast::error_code ec;
  const auto endpoint = socket.remote_endpoint(ec);
  if (ec) co_return;
  const IpKey peer = peer_key(endpoint);
  const Limits& limits = context.config.imds_limits;

  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer(limits.header_limit + limits.body_limit);
  std::string head;
  head.reserve(512);
  bool first = true;

  for (;;) {
    http::request_parser<http::string_body> parser;
    const auto result = co_await read_request(stream, buffer, parser, limits, first);
    first = false;
    if (result == ReadResult::kClosed) break;
    if (result != ReadResult::kRequest) {
      const int status = result == ReadResult::kHeaderTooLarge ? 431
                         : result == ReadResult::kBodyTooLarge ? 413 : 400;
      log_info("request_refused", {{"surface", "metadata"}, {"address", peer.to_string()},
                                   {"status", status}});
      co_await reply_and_close(stream, status, head);
      break;
    }
    const auto start = std::chrono::steady_clock::now();
    const auto& req = parser.get();
    const auto identity = identify_caller(peer, header(req, "X-Forwarded-For"),
                                          header(req, "X-Real-IP"), context.config.trusted_proxies);
    imds::Request view;
    view.method = to_method(req.method());
    view.target = req.target();
    view.token = header(req, imds::kTokenHeader);
    view.ttl = header(req, imds::kTtlHeader);
    view.forwarded = identity.forwarded;
    view.caller = identity.caller;

    // Held until the write completes: the response body points into it.
    const auto snapshot = context.snapshots.load();
    const auto now = static_cast<std::int64_t>(std::time(nullptr));
    const imds::Response response = context.rate_limiter.allow(identity.caller)
                                        ? imds::respond(view, *snapshot, context.tokens, now)
                                        : imds::throttled();
    if (response.instance && context.last_seen) {
      context.last_seen->note(identity.caller, peer, now);
    }

    const bool keep_alive = req.keep_alive();
    format_imds_head(response, keep_alive, head);
    if (response.hop_limit > 0) apply_hop_limit(stream.socket(), response.hop_limit);
    std::array<net::const_buffer, 2> buffers = {net::buffer(head), net::buffer(response.payload())};
    if (view.method == imds::Method::kHead) buffers[1] = net::const_buffer();
    stream.expires_after(limits.read_timeout);
    co_await net::async_write(stream, buffers, net::redirect_error(net::use_awaitable, ec));
    if (log_enabled(LogLevel::kInfo)) log_request(identity.caller, response, req.method(), req.target(), start);
    if (ec || !keep_alive) break;
  }
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream.close();
}

}  // namespace cloudmeta::http_server
