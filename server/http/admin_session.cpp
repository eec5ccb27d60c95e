#include <chrono>

#include "cloudmeta/log.hpp"
#include "http/request_reader.hpp"
#include "http/sessions.hpp"

namespace cloudmeta::http_server {
namespace {

admin::Response refusal(int status, std::string_view message) {
  admin::Response res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.body() = std::string(R"({"error": ")") + std::string(message) + "\"}";
  res.keep_alive(false);
  res.prepare_payload();
  return res;
}

}  // namespace

net::awaitable<void> serve_admin_connection(tcp::socket socket, const Config& config,
                                            admin::AdminApi& api,
                                            ConnectionLimiter::Slot slot) {  // held until the end
  beast::error_code ec;
  const IpKey peer = slot.source();  // from accept() itself
  const Limits& limits = config.admin_limits;

  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  bool first = true;
  for (;;) {
    http::request_parser<http::string_body> parser;
    const auto result = co_await read_request(stream, buffer, parser, limits, first);
    first = false;
    if (result == ReadResult::kClosed) break;
    admin::Response res;
    bool keep_alive = false;
    const auto start = std::chrono::steady_clock::now();
    if (result == ReadResult::kHeaderTooLarge) {
      res = refusal(431, "request headers too large");
    } else if (result == ReadResult::kBodyTooLarge) {
      res = refusal(413, "request body too large (limit: ADMIN_BODY_LIMIT bytes)");
    } else if (result == ReadResult::kBadRequest) {
      res = refusal(400, "malformed HTTP request");
    } else {
      const auto& req = parser.get();
      keep_alive = req.keep_alive();
      // The admin API owns the Store on this thread; it never throws. It suspends only while a
      // password is checked on its worker, and other connections are served meanwhile.
      res = co_await api.handle(req, peer);
      res.keep_alive(keep_alive);
      log_info("request", {{"surface", "admin"}, {"address", peer.to_string()},
                           {"method", std::string_view(http::to_string(req.method()))},
                           {"path", std::string_view(req.target().substr(0, req.target().find('?')))},
                           {"status", static_cast<int>(res.result_int())},
                           {"us", static_cast<std::int64_t>(
                                      std::chrono::duration_cast<std::chrono::microseconds>(
                                          std::chrono::steady_clock::now() - start).count())}});
    }
    if (result != ReadResult::kRequest) {
      log_info("request_refused", {{"surface", "admin"}, {"address", peer.to_string()},
                                   {"status", static_cast<int>(res.result_int())}});
    }
    stream.expires_after(limits.read_timeout);
    co_await http::async_write(stream, res, net::redirect_error(net::use_awaitable, ec));
    if (ec || !keep_alive) break;
  }
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream.close();
}

}  // namespace cloudmeta::http_server
