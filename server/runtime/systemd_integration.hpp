// What `cloudmeta serve` does for systemd (and systemd-socket-activate): take the listening
// sockets it passes (LISTEN_FDS, named by FileDescriptorName= in cloudmeta.socket) and report
// readiness, status, stopping and watchdog keep-alives to NOTIFY_SOCKET. Without systemd every
// call is a no-op and the server binds its own sockets, so the same binary and unit files work
// with and without the .socket unit.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cloudmeta/asio.hpp"

namespace cloudmeta::systemd {

// Listening sockets handed over by the service manager, by surface. The metadata surface may
// have several (an IPv4 and an IPv6 address); a single unnamed socket (systemd-socket-activate
// without --fdname) is the metadata surface.
struct ActivatedSockets {
  std::vector<int> metadata;
  std::optional<int> admin;
};

// Takes (and unsets) LISTEN_FDS/LISTEN_FDNAMES. Throws std::runtime_error for a passed fd that is
// not a listening TCP socket or carries a name other than "metadata" or "admin": starting with a
// socket we would silently ignore is worse than not starting.
ActivatedSockets take_activated_sockets();

// An acceptor on a passed listening socket. The acceptor owns `fd`.
tcp::acceptor adopt_acceptor(net::io_context& context, int fd);

// Each returns true when a service manager received the message.
bool notify_ready(const std::string& status);
bool notify_status(const std::string& status);
bool notify_stopping(const std::string& status);

// While start-up waits (for the database): STATUS= and more time before TimeoutStartSec= ends.
bool notify_waiting(const std::string& status, std::chrono::microseconds more_time);

// Keeps the service manager informed while the server runs: WATCHDOG=1 at half of WatchdogSec=
// when the unit sets it and `alive()` says so, and STATUS= whenever `status()` changes. Runs on a
// thread of its own that never waits on the store (server/runtime/app.cpp), so an unreachable
// database, which the admin thread waits on for up to DATABASE_TIMEOUT_MS per call, never costs
// the keep-alive; alive() is what tells a wedged process (ThreadHeartbeat: the metadata threads).
// `sent` is the STATUS= the manager last received (notify_ready's): the comparison starts from
// it, not from status() when the coroutine first runs, which on a loaded host can be after a
// change that would then never be sent.
net::awaitable<void> keep_informed(std::function<std::string()> status,
                                   std::function<bool()> alive, std::string sent);

}  // namespace cloudmeta::systemd
