#include "cloudmeta/admin_client.hpp"

#include <optional>

#include "cloudmeta/asio.hpp"

namespace cloudmeta {
namespace {

net::ip::address target_address(const std::string& bind) {
  const auto address = net::ip::make_address(bind);
  if (!address.is_unspecified()) return address;
  if (address.is_v6()) return net::ip::address_v6::loopback();
  return net::ip::address_v4::loopback();
}

struct Exchange {
  tcp::endpoint endpoint;
  http::request<http::string_body> request;
  std::chrono::steady_clock::duration budget;
  std::optional<AdminReply> reply;
  std::string error;
};

net::awaitable<void> exchange(Exchange& x) {
  beast::tcp_stream stream(co_await net::this_coro::executor);
  stream.expires_after(x.budget);
  beast::error_code ec;
  co_await stream.async_connect(x.endpoint, net::redirect_error(net::use_awaitable, ec));
  if (ec) {
    x.error = "connect " + x.endpoint.address().to_string() + ":" +
              std::to_string(x.endpoint.port()) + ": " + ec.message();
    co_return;
  }
  const std::string what =
      std::string(x.request.method_string()) + " " + std::string(x.request.target());
  co_await http::async_write(stream, x.request, net::redirect_error(net::use_awaitable, ec));
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxAdminReplyBytes);
  if (!ec) {
    co_await http::async_read(stream, buffer, parser, net::redirect_error(net::use_awaitable, ec));
  }
  if (ec) {
    x.error = what + ": " + (ec == beast::error::timeout ? "no answer in time" : ec.message());
    co_return;
  }
  x.reply = AdminReply{parser.get().result_int(), std::move(parser.get().body())};
}

}  // namespace

AdminClient::AdminClient(const Config& config, std::chrono::steady_clock::time_point deadline,
                         std::string bearer_token)
    : host_(target_address(config.admin_bind).to_string()),
      port_(config.admin_port),
      deadline_(deadline),
      bearer_token_(std::move(bearer_token)) {}

std::string AdminClient::address() const {
  const bool v6 = host_.find(':') != std::string::npos;
  return (v6 ? "[" + host_ + "]" : host_) + ":" + std::to_string(port_);
}

AdminReply AdminClient::send(std::string_view method, const std::string& target,
                             const std::string* json_body) {
  const auto verb = http::string_to_verb(method);
  if (verb == http::verb::unknown) throw std::invalid_argument("unknown HTTP method");
  const auto left = deadline_ - std::chrono::steady_clock::now();
  if (left <= std::chrono::steady_clock::duration::zero()) {
    throw AdminUnreachable(std::string(method) + " " + target + ": no time left");
  }
  Exchange x{tcp::endpoint(net::ip::make_address(host_), port_),
             http::request<http::string_body>{verb, target, 11}, left, std::nullopt, {}};
  // An address literal: the admin surface answers IP literals whatever ADMIN_ALLOWED_HOSTS says.
  x.request.set(http::field::host, address());
  x.request.set(http::field::connection, "close");
  x.request.set(http::field::user_agent, "cloudmeta-cli");
  if (!bearer_token_.empty()) x.request.set(http::field::authorization, "Bearer " + bearer_token_);
  if (json_body) {
    x.request.set(http::field::content_type, "application/json");
    x.request.body() = *json_body;
  }
  x.request.prepare_payload();
  try {
    net::io_context io(1);
    net::co_spawn(io, exchange(x), net::detached);
    io.run();
  } catch (const std::exception& e) {
    throw AdminUnreachable(std::string(method) + " " + target + ": " + e.what());
  }
  if (!x.reply) throw AdminUnreachable(x.error);
  return std::move(*x.reply);
}

}  // namespace cloudmeta
