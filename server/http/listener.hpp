// Binding listening sockets and the accept loop shared by both surfaces. A bind failure throws
// (the start fails: never run half-configured); accept errors such as EMFILE are logged and
// retried after a pause instead of ending the loop.
#pragma once

#include <functional>
#include <string>

#include "cloudmeta/asio.hpp"
#include "cloudmeta/metrics.hpp"
#include "http/connection_limiter.hpp"

namespace cloudmeta::http_server {

// reuse_port lets several acceptors (one per I/O thread) share a port; the kernel spreads
// connections between them.
tcp::acceptor bind_acceptor(net::io_context& context, const std::string& address,
                            std::uint16_t port, bool reuse_port);

using ConnectionHandler = std::function<net::awaitable<void>(tcp::socket, ConnectionLimiter::Slot)>;

net::awaitable<void> accept_loop(tcp::acceptor& acceptor, ConnectionLimiter& limiter,
                                 std::string_view surface, ConnectionHandler handler);

// Shows `limiter`'s connections (open, accepted, refused by cap) on /metrics as `surface`'s,
// until the handle is destroyed.
[[nodiscard]] metrics::Registry::Watch watch_connections(const ConnectionLimiter& limiter,
                                                         std::string surface);

}  // namespace cloudmeta::http_server
