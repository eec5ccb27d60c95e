// ConnectionLimiter: caps open connections in total and per caller address, so one VM cannot
// take every slot from its neighbours. Checked once per accepted connection (never per request).
// Thread-safe: a small mutex-striped table shared by every I/O thread.
#pragma once

#include <array>
#include <cstdio>
#include <cstdlib>
#include <atomic>
#include <utility>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "cloudmeta/ip_key.hpp"

namespace cloudmeta::http_server {

class ConnectionLimiter {
 public:
  // Entries of sources with no open connection are kept until a stripe holds kSweepFloor entries
  // (at 16 stripes: 16,384 sources, about 1 MiB), then swept together.
  static constexpr std::size_t kSweepFloor = 1024;

  ConnectionLimiter(std::size_t max_total, std::size_t max_per_source)
      : max_total_(max_total), max_per_source_(max_per_source) {}
  // Every Slot gives its place back into this object, so the limiter must outlive them all (the
  // composition root destroys the io_contexts, whose sessions hold slots, first). Checked in
  // every build, once per process: a slot released later would write into freed memory.
  ~ConnectionLimiter() {
    if (open_connections() != 0) {
      std::fputs("cloudmeta: a connection slot outlives its ConnectionLimiter\n", stderr);
      std::abort();
    }
  }
  ConnectionLimiter(const ConnectionLimiter&) = delete;
  ConnectionLimiter& operator=(const ConnectionLimiter&) = delete;

  enum class Admission { kAdmitted, kTotalFull, kSourceFull };

  // RAII: holds one slot until destroyed. Moving transfers the slot.
  class Slot {
   public:
    Slot() = default;
    Slot(ConnectionLimiter* owner, IpKey source) : owner_(owner), source_(source) {}
    Slot(Slot&& o) noexcept : owner_(std::exchange(o.owner_, nullptr)), source_(o.source_) {}
    Slot& operator=(Slot&&) = delete;
    ~Slot() {
      if (owner_) owner_->release(source_);
    }
    const IpKey& source() const { return source_; }

   private:
    ConnectionLimiter* owner_ = nullptr;
    IpKey source_;
  };

  // On kAdmitted, `slot` holds the new slot.
  Admission try_admit(const IpKey& source, std::optional<Slot>& slot);
  std::size_t open_connections() const { return total_.load(std::memory_order_relaxed); }
  // Sources with an entry in the table (open connections, or none since the last sweep): for tests.
  std::size_t tracked_sources();

  // Since start, for /metrics: connections admitted, and refused by each cap.
  struct Counts {
    std::uint64_t admitted = 0;
    std::uint64_t refused_total_full = 0;
    std::uint64_t refused_source_full = 0;
  };
  Counts counts() const {
    return {admitted_.load(std::memory_order_relaxed),
            refused_total_full_.load(std::memory_order_relaxed),
            refused_source_full_.load(std::memory_order_relaxed)};
  }

 private:
  void release(const IpKey& source);

  struct Stripe {
    std::mutex mutex;
    std::unordered_map<IpKey, std::size_t, IpKeyHash> counts;
    std::size_t sweep_at = kSweepFloor;
  };
  static void sweep(Stripe& s);
  Stripe& stripe_for(const IpKey& source) { return stripes_[IpKeyHash{}(source) % stripes_.size()]; }

  const std::size_t max_total_;
  const std::size_t max_per_source_;
  std::atomic<std::size_t> total_{0};
  // Once per connection, beside the stripe's mutex: not on the per-request path.
  std::atomic<std::uint64_t> admitted_{0};
  std::atomic<std::uint64_t> refused_total_full_{0};
  std::atomic<std::uint64_t> refused_source_full_{0};
  std::array<Stripe, 16> stripes_;
};

}  // namespace cloudmeta::http_server
