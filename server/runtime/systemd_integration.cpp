#include "runtime/systemd_integration.hpp"

#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string_view>

#include "cloudmeta/log.hpp"

namespace cloudmeta::systemd {
namespace {

// STATUS= is re-sent at most this often when nothing else (the watchdog) sets the pace.
constexpr auto kStatusPeriod = std::chrono::seconds(2);

bool notify(const std::string& message) { return sd_notify(0, message.c_str()) > 0; }

}  // namespace

ActivatedSockets take_activated_sockets() {
  char** names = nullptr;
  // unset_environment=1: LISTEN_PID/LISTEN_FDS must not leak into anything we might start.
  const int count = sd_listen_fds_with_names(1, &names);
  if (count < 0) throw std::runtime_error("LISTEN_FDS: " + std::string(strerror(-count)));
  ActivatedSockets sockets;
  std::string error;
  for (int i = 0; i < count; ++i) {
    const int fd = SD_LISTEN_FDS_START + i;
    const std::string name = names && names[i] ? names[i] : "unknown";
    if (error.empty() && sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
      error = "passed fd " + std::to_string(fd) + " (" + name + ") is not a listening TCP socket";
    }
    const bool metadata = name == "metadata" || (name == "unknown" && count == 1);
    if (error.empty() && !metadata && name != "admin") {
      error = "passed socket named '" + name + "': FileDescriptorName= must be metadata or admin";
    }
    if (error.empty() && name == "admin" && sockets.admin) error = "two passed admin sockets";
    if (!error.empty()) {
      ::close(fd);
    } else if (metadata) {
      sockets.metadata.push_back(fd);
    } else {
      sockets.admin = fd;
    }
  }
  if (names) {
    for (int i = 0; i < count; ++i) std::free(names[i]);
    std::free(names);
  }
  if (!error.empty()) {
    for (const int fd : sockets.metadata) ::close(fd);
    if (sockets.admin) ::close(*sockets.admin);
    throw std::runtime_error(error);
  }
  return sockets;
}

tcp::acceptor adopt_acceptor(net::io_context& context, int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    const int error = errno;
    ::close(fd);
    throw std::runtime_error("getsockname on passed fd: " + std::string(strerror(error)));
  }
  const tcp protocol = address.ss_family == AF_INET6 ? tcp::v6() : tcp::v4();
  return tcp::acceptor(context, protocol, fd);
}

bool notify_ready(const std::string& status) { return notify("READY=1\nSTATUS=" + status); }
bool notify_status(const std::string& status) { return notify("STATUS=" + status); }
bool notify_stopping(const std::string& status) { return notify("STOPPING=1\nSTATUS=" + status); }

bool notify_waiting(const std::string& status, std::chrono::microseconds more_time) {
  return notify("STATUS=" + status + "\nEXTEND_TIMEOUT_USEC=" + std::to_string(more_time.count()));
}

net::awaitable<void> keep_informed(std::function<std::string()> status,
                                   std::function<bool()> alive, std::string sent) {
  std::uint64_t watchdog_usec = 0;
  const bool watchdog = sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec > 0;
  const auto period =
      watchdog ? std::min<std::chrono::microseconds>(
                     std::chrono::microseconds(watchdog_usec / 2), kStatusPeriod)
               : std::chrono::microseconds(kStatusPeriod);
  if (watchdog) {
    log_info("watchdog", {{"interval_ms", static_cast<std::int64_t>(watchdog_usec / 1000)}});
  }
  net::steady_timer timer(co_await net::this_coro::executor);
  std::string last = std::move(sent);
  bool withheld = false;  // logged once per episode
  for (;;) {
    timer.expires_after(period);
    beast::error_code ec;
    co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return;
    if (watchdog) {
      if (alive()) {
        notify("WATCHDOG=1");
        if (withheld) log_info("watchdog_resumed");
        withheld = false;
      } else if (!withheld) {
        log_error("watchdog_withheld", {{"reason", "a metadata thread did not run its probe"}});
        withheld = true;
      }
    }
    std::string now = status();
    if (now != last && notify_status(now)) last = std::move(now);
  }
}

}  // namespace cloudmeta::systemd
