#include "http/snapshot_cache.hpp"

#include <cstdint>
#include <utility>

namespace cloudmeta::http_server {

const std::shared_ptr<const Snapshot>& current_snapshot(const SnapshotHolder& holder) {
  thread_local const SnapshotHolder* cached_holder = nullptr;
  thread_local std::uint64_t cached_generation = 0;
  thread_local std::shared_ptr<const Snapshot> cached;
  const std::uint64_t generation = holder.generation();
  if (&holder != cached_holder || generation != cached_generation) {
    cached = holder.load();
    cached_holder = &holder;
    cached_generation = generation;
  }
  return cached;
}

void refresh_caches_on_publish(SnapshotHolder& holder, std::vector<net::any_io_executor> threads) {
  holder.on_publish([&holder, threads = std::move(threads)] {
    for (const auto& thread : threads) {
      net::post(thread, [&holder] { current_snapshot(holder); });
    }
  });
}

}  // namespace cloudmeta::http_server
