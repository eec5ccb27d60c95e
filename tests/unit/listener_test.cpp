// The accept loop on real loopback sockets: what it relies on the kernel for, and its caps.
#include "http/listener.hpp"

#include <doctest/doctest.h>

#include <netinet/tcp.h>

#include <optional>
#include <vector>

namespace net = boost::asio;
using boost::asio::ip::tcp;
using cloudmeta::http_server::accept_loop;
using cloudmeta::http_server::bind_acceptor;
using cloudmeta::http_server::ConnectionLimiter;

namespace {

// Accepts `count` connections through accept_loop and returns each accepted socket's
// TCP_NODELAY as the kernel reports it.
std::vector<int> nodelay_of_accepted(tcp::acceptor& acceptor, net::io_context& io, int count) {
  ConnectionLimiter limiter(100, 100);
  std::vector<int> seen;
  std::vector<tcp::socket> clients;
  net::co_spawn(io,
                accept_loop(acceptor, limiter, "test",
                            [&](tcp::socket socket, ConnectionLimiter::Slot) -> net::awaitable<void> {
                              int value = -1;
                              socklen_t len = sizeof value;
                              ::getsockopt(socket.native_handle(), IPPROTO_TCP, TCP_NODELAY,
                                           &value, &len);
                              seen.push_back(value);
                              if (static_cast<int>(seen.size()) == count) acceptor.close();
                              co_return;
                            }),
                net::detached);
  for (int i = 0; i < count; ++i) {
    clients.emplace_back(io);
    clients.back().connect(acceptor.local_endpoint());
  }
  io.run_for(std::chrono::seconds(5));
  return seen;
}

}  // namespace

TEST_CASE("accepted sockets have TCP_NODELAY, inherited from the listening socket") {
  net::io_context io;
  auto acceptor = bind_acceptor(io, "127.0.0.1", 0, false);
  CHECK(nodelay_of_accepted(acceptor, io, 3) == std::vector<int>{1, 1, 1});
}

TEST_CASE("and over IPv6") {
  net::io_context io;
  tcp::acceptor acceptor(io);
  try {
    acceptor = bind_acceptor(io, "::1", 0, false);
  } catch (const std::exception&) {
    MESSAGE("no IPv6 loopback here; the IPv4 case covers the accept loop");
    return;
  }
  CHECK(nodelay_of_accepted(acceptor, io, 2) == std::vector<int>{1, 1});
}

TEST_CASE("a passed-in listener without TCP_NODELAY still gets it on every connection") {
  // As a systemd socket unit without NoDelay= hands one over: connections may already be queued.
  net::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  tcp::no_delay option;
  acceptor.get_option(option);
  REQUIRE_FALSE(option.value());
  CHECK(nodelay_of_accepted(acceptor, io, 2) == std::vector<int>{1, 1});
}
