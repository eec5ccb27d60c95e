#include "cli/healthcheck.hpp"

#include <string>

#include "cloudmeta/asio.hpp"

namespace cloudmeta {
namespace {

net::ip::address target_address(const std::string& bind) {
  const auto address = net::ip::make_address(bind);
  if (!address.is_unspecified()) return address;
  if (address.is_v6()) return net::ip::address_v6::loopback();
  return net::ip::address_v4::loopback();
}

// The whole exchange shares one deadline: a frozen server accepts (the kernel completes the
// handshake) but never answers, and that must count as unhealthy, not hang the check.
net::awaitable<void> get_healthz(tcp::endpoint endpoint, std::chrono::milliseconds timeout,
                                 unsigned& status, std::string& error) {
  beast::tcp_stream stream(co_await net::this_coro::executor);
  stream.expires_after(timeout);
  beast::error_code ec;
  co_await stream.async_connect(endpoint, net::redirect_error(net::use_awaitable, ec));
  if (ec) {
    error = "connect " + endpoint.address().to_string() + ":" +
            std::to_string(endpoint.port()) + ": " + ec.message();
    co_return;
  }
  http::request<http::empty_body> request{http::verb::get, "/healthz", 11};
  request.set(http::field::host, endpoint.address().to_string());
  request.set(http::field::connection, "close");
  co_await http::async_write(stream, request, net::redirect_error(net::use_awaitable, ec));
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  if (!ec) {
    co_await http::async_read(stream, buffer, response,
                              net::redirect_error(net::use_awaitable, ec));
  }
  if (ec) {
    error = "GET /healthz: " + ec.message();
    co_return;
  }
  status = response.result_int();
  if (status != 200) {
    error = "GET /healthz: status " + std::to_string(status) + " " + response.body();
  }
}

}  // namespace

int healthcheck(const Config& config, std::chrono::milliseconds timeout, std::ostream& err) {
  unsigned status = 0;
  std::string error;
  try {
    net::io_context io(1);
    const tcp::endpoint endpoint(target_address(config.admin_bind), config.admin_port);
    net::co_spawn(io, get_healthz(endpoint, timeout, status, error), net::detached);
    io.run();
  } catch (const std::exception& e) {
    error = e.what();
  }
  if (status == 200 && error.empty()) return 0;
  err << "cloudmeta: unhealthy: " << (error.empty() ? "no answer" : error) << "\n";
  return 1;
}

}  // namespace cloudmeta
