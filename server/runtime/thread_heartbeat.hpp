// ThreadHeartbeat: whether every metadata thread still runs its handlers, for the systemd
// watchdog. The keep-alive is sent from a thread of its own that never touches the store (a
// database that stops answering must not get a healthy process killed), so it has to learn
// another way that the process is not wedged: each period it posts a tiny handler to every
// metadata io_context and, one period later, checks that each one ran. A thread stuck in a loop
// or a lock stops answering, the keep-alive stops, and systemd restarts the service.
// Not thread-safe: beat() is called from the watchdog thread only.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "cloudmeta/asio.hpp"

namespace cloudmeta {

class ThreadHeartbeat {
 public:
  explicit ThreadHeartbeat(std::vector<net::any_io_executor> executors);
  ThreadHeartbeat(const ThreadHeartbeat&) = delete;
  ThreadHeartbeat& operator=(const ThreadHeartbeat&) = delete;

  // True when every thread ran the probe the previous call posted (the first call: true); then
  // posts the next probe. The executors' io_contexts must outlive their pending probes' run, and
  // this object must outlive the io_contexts' run() (a probe writes into it).
  bool beat();

 private:
  std::vector<net::any_io_executor> executors_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> answered_;  // per thread: the last round it ran
  std::uint64_t round_ = 0;
};

}  // namespace cloudmeta
