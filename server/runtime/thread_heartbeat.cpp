#include "runtime/thread_heartbeat.hpp"

namespace cloudmeta {

ThreadHeartbeat::ThreadHeartbeat(std::vector<net::any_io_executor> executors)
    : executors_(std::move(executors)),
      answered_(std::make_unique<std::atomic<std::uint64_t>[]>(executors_.size())) {}

bool ThreadHeartbeat::beat() {
  bool all = true;
  for (std::size_t i = 0; i < executors_.size(); ++i) {
    if (answered_[i].load(std::memory_order_acquire) != round_) all = false;
  }
  ++round_;
  for (std::size_t i = 0; i < executors_.size(); ++i) {
    net::post(executors_[i], [slot = &answered_[i], round = round_] {
      slot->store(round, std::memory_order_release);
    });
  }
  return all;
}

}  // namespace cloudmeta
