#include "http/listener.hpp"

#include <atomic>
#include <chrono>

#include "cloudmeta/log.hpp"
#include "http/sessions.hpp"

namespace cloudmeta::http_server {
namespace {

// A flood of refused connections must not become a flood of log lines: at most one per second,
// carrying how many were refused since the last one.
void log_refusal(std::string_view surface, const IpKey& source, std::string_view reason) {
  static std::atomic<std::int64_t> last_second{0};
  static std::atomic<std::int64_t> refused{0};
  const auto count = refused.fetch_add(1, std::memory_order_relaxed) + 1;
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::steady_clock::now().time_since_epoch()).count();
  auto last = last_second.load(std::memory_order_relaxed);
  if (now == last || !last_second.compare_exchange_strong(last, now)) return;
  refused.fetch_sub(count, std::memory_order_relaxed);
  log_warn("connection_refused", {{"surface", surface}, {"address", source.to_string()},
                                  {"reason", reason}, {"refused", count}});
}

IpKey peer_key(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  if (address.is_v4()) return IpKey::from_v4(address.to_v4().to_bytes());
  return IpKey::from_v6(address.to_v6().to_bytes());
}

}  // namespace

tcp::acceptor bind_acceptor(net::io_context& context, const std::string& address,
                            std::uint16_t port, bool reuse_port) {
  const tcp::endpoint endpoint(net::ip::make_address(address), port);
  tcp::acceptor acceptor(context);
  acceptor.open(endpoint.protocol());
  acceptor.set_option(net::socket_base::reuse_address(true));
  if (reuse_port) {
    const int one = 1;
    ::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  }
  acceptor.set_option(tcp::no_delay(true));  // before listen(): every connection inherits it
  acceptor.bind(endpoint);
  acceptor.listen(net::socket_base::max_listen_connections);
  return acceptor;
}

net::awaitable<void> accept_loop(tcp::acceptor& acceptor, ConnectionLimiter& limiter,
                                 std::string_view surface, ConnectionHandler handler) {
  auto executor = co_await net::this_coro::executor;
  net::steady_timer pause(executor);
  // Linux copies TCP_NODELAY from the listening socket into each connection when its handshake
  // completes (tests/unit/listener_test.cpp). bind_acceptor sets it before listen(), and
  // systemd's NoDelay=yes (our socket units) before any connection is queued: then every
  // accepted socket has it and the setsockopt() per connection is spared. A listener without it
  // (a socket unit without NoDelay=) keeps the per-connection call: setting it now would miss
  // the connections already queued.
  tcp::no_delay listener_nodelay;
  beast::error_code nodelay_ec;
  acceptor.get_option(listener_nodelay, nodelay_ec);
  const bool nodelay_inherited = !nodelay_ec && listener_nodelay.value();
  for (;;) {
    beast::error_code ec;
    tcp::endpoint peer;  // filled by accept() itself, sparing a getpeername() per connection
    tcp::socket socket =
        co_await acceptor.async_accept(peer, net::redirect_error(net::use_awaitable, ec));
    if (ec == net::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // Out of descriptors or memory: back off rather than spin; the listener must survive.
      log_warn("accept_failed", {{"surface", surface}, {"error", ec.message()}});
      pause.expires_after(std::chrono::milliseconds(50));
      co_await pause.async_wait(net::redirect_error(net::use_awaitable, ec));
      continue;
    }
    const IpKey source = peer_key(peer);
    std::optional<ConnectionLimiter::Slot> slot;
    const auto admission = limiter.try_admit(source, slot);
    if (admission != ConnectionLimiter::Admission::kAdmitted) {
      log_refusal(surface, source,
                  admission == ConnectionLimiter::Admission::kTotalFull
                      ? "max_connections" : "max_connections_per_source");
      socket.close(ec);
      continue;
    }
    if (!nodelay_inherited) socket.set_option(tcp::no_delay(true), ec);
    // A session must never throw; if one does, say so instead of dropping it silently.
    net::co_spawn(executor, handler(std::move(socket), std::move(*slot)),
                  [surface](std::exception_ptr error) {
                    if (!error) return;
                    try {
                      std::rethrow_exception(error);
                    } catch (const std::exception& e) {
                      log_error("session_failed", {{"surface", surface}, {"error", e.what()}});
                    }
                  });
  }
}

metrics::Registry::Watch watch_connections(const ConnectionLimiter& limiter,
                                           std::string surface) {
  return metrics::registry().watch_connections(std::move(surface), [&limiter] {
    const auto counts = limiter.counts();
    return metrics::ConnectionStats{limiter.open_connections(), counts.admitted,
                                    counts.refused_total_full, counts.refused_source_full};
  });
}

}  // namespace cloudmeta::http_server
