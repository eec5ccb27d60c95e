#include "http/listener.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "cloudmeta/log.hpp"
#include "http/accepted_socket.hpp"
#include "http/sessions.hpp"

namespace cloudmeta::http_server {
namespace {

// A flood of refused connections, or of failed accepts while descriptors are exhausted, must not
// become a flood of log lines: at most one line per second per kind, carrying how many events it
// stands for. Returns that count when this event should be logged, 0 when it is only counted.
class OncePerSecond {
 public:
  std::int64_t note() {
    const auto count = pending_.fetch_add(1, std::memory_order_relaxed) + 1;
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::steady_clock::now().time_since_epoch()).count();
    auto last = last_second_.load(std::memory_order_relaxed);
    if (now == last || !last_second_.compare_exchange_strong(last, now)) return 0;
    pending_.fetch_sub(count, std::memory_order_relaxed);
    return count;
  }

 private:
  std::atomic<std::int64_t> last_second_{0};
  std::atomic<std::int64_t> pending_{0};
};

void log_refusal(std::string_view surface, const IpKey& source, std::string_view reason) {
  static OncePerSecond limit;
  if (const auto count = limit.note()) {
    log_warn("connection_refused", {{"surface", surface}, {"address", source.to_string()},
                                    {"reason", reason}, {"refused", count}});
  }
}

void log_accept_failure(std::string_view surface, std::string_view error) {
  static OncePerSecond limit;
  if (const auto count = limit.note()) {
    log_warn("accept_failed", {{"surface", surface}, {"error", error}, {"failures", count}});
  }
}

IpKey peer_key(const sockaddr_storage& peer) {
  if (peer.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(peer);
    std::array<std::uint8_t, 4> bytes;
    std::memcpy(bytes.data(), &v4.sin_addr, 4);
    return IpKey::from_v4(bytes);
  }
  const auto& v6 = reinterpret_cast<const sockaddr_in6&>(peer);
  std::array<std::uint8_t, 16> bytes;
  std::memcpy(bytes.data(), &v6.sin6_addr, 16);
  return IpKey::from_v6(bytes);
}

// Connections accepted in a row before the thread turns to the sessions it has: small, so that
// the sessions' first requests are not kept waiting behind a burst, and so that few new
// coroutine frames are alive at once (Asio recycles freed ones from a small per-thread cache).
constexpr int kAcceptBatch = 4;

// accept(2): these report a connection that failed before it was accepted (or an interrupted
// call); the next one in the queue may be fine, so they are retried at once, as EAGAIN is not.
bool retry_accept_at_once(int error) {
  switch (error) {
    case EINTR: case ECONNABORTED: case EPROTO: case ENETDOWN: case ENOPROTOOPT: case EHOSTDOWN:
    case ENONET: case EHOSTUNREACH: case EOPNOTSUPP: case ENETUNREACH: case EPERM:
      return true;
    default:
      return false;
  }
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
  const tcp protocol = acceptor.local_endpoint().protocol();
  // accept4() is called directly: on a blocking listener it would block the thread when the
  // queue is empty (Asio sets O_NONBLOCK only for its own asynchronous operations).
  acceptor.native_non_blocking(true);

  // Asio reports readiness edge-triggered, and an edge that comes while no wait is pending is not
  // kept for a later wait. So the loop waits only after accept4() said EAGAIN (the kernel then
  // reports the next connection as a new edge); at the start (systemd may have queued
  // connections), after a full batch and after a pause it tries again without waiting.
  bool drained = false;
  for (;;) {
    beast::error_code ec;
    if (drained) {
      co_await acceptor.async_wait(tcp::acceptor::wait_read,
                                   net::redirect_error(net::use_awaitable, ec));
    } else {
      co_await net::post(executor, net::redirect_error(net::use_awaitable, ec));
    }
    if (ec == net::error::operation_aborted || !acceptor.is_open()) co_return;
    drained = false;
    // Up to a batch (then the thread serves what it accepted first), with accept4():
    // non-blocking and close-on-exec from birth (accepted_socket.hpp), and the peer's address
    // from the call itself, sparing a getpeername() per connection.
    for (int batch = 0; batch < kAcceptBatch; ++batch) {
      sockaddr_storage peer{};
      socklen_t peer_len = sizeof peer;
      const int fd = ::accept4(acceptor.native_handle(), reinterpret_cast<sockaddr*>(&peer),
                               &peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          drained = true;
          break;
        }
        if (retry_accept_at_once(errno)) continue;
        // Out of descriptors or memory: back off rather than spin; the listener must survive.
        log_accept_failure(surface, std::strerror(errno));
        pause.expires_after(std::chrono::milliseconds(50));
        co_await pause.async_wait(net::redirect_error(net::use_awaitable, ec));
        break;
      }
      const IpKey source = peer_key(peer);
      std::optional<ConnectionLimiter::Slot> slot;
      const auto admission = limiter.try_admit(source, slot);
      if (admission != ConnectionLimiter::Admission::kAdmitted) {
        log_refusal(surface, source,
                    admission == ConnectionLimiter::Admission::kTotalFull
                        ? "max_connections" : "max_connections_per_source");
        ::close(fd);
        continue;
      }
      tcp::socket socket = adopt_accepted(executor, protocol, fd, ec);
      if (ec) {
        log_accept_failure(surface, ec.message());
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
