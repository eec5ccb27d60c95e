#include "http/connection_limiter.hpp"

#include <algorithm>

namespace cloudmeta::http_server {

ConnectionLimiter::Admission ConnectionLimiter::try_admit(const IpKey& source,
                                                          std::optional<Slot>& slot) {
  if (total_.fetch_add(1, std::memory_order_relaxed) >= max_total_) {
    total_.fetch_sub(1, std::memory_order_relaxed);
    refused_total_full_.fetch_add(1, std::memory_order_relaxed);
    return Admission::kTotalFull;
  }
  Stripe& s = stripe_for(source);
  {
    std::lock_guard lock(s.mutex);
    if (s.counts.size() >= s.sweep_at) sweep(s);
    auto& count = s.counts[source];
    if (count >= max_per_source_) {
      total_.fetch_sub(1, std::memory_order_relaxed);
      refused_source_full_.fetch_add(1, std::memory_order_relaxed);
      return Admission::kSourceFull;
    }
    ++count;
  }
  admitted_.fetch_add(1, std::memory_order_relaxed);
  slot.emplace(this, source);
  return Admission::kAdmitted;
}

void ConnectionLimiter::sweep(Stripe& s) {
  std::erase_if(s.counts, [](const auto& entry) { return entry.second == 0; });
  // The next sweep when the map has doubled (never below the floor): amortized O(1) per admission
  // however many sources come and go, and at most about twice the open ones, or the floor, kept.
  s.sweep_at = std::max(kSweepFloor, 2 * s.counts.size());
}

void ConnectionLimiter::release(const IpKey& source) {
  Stripe& s = stripe_for(source);
  {
    std::lock_guard lock(s.mutex);
    // Kept at zero: a VM that reconnects (most open a connection per request) reuses its entry
    // instead of a map node allocated and freed per connection. sweep() bounds the zeros.
    auto it = s.counts.find(source);
    if (it != s.counts.end() && it->second > 0) --it->second;
  }
  total_.fetch_sub(1, std::memory_order_relaxed);
}

std::size_t ConnectionLimiter::tracked_sources() {
  std::size_t n = 0;
  for (Stripe& s : stripes_) {
    std::lock_guard lock(s.mutex);
    n += s.counts.size();
  }
  return n;
}

}  // namespace cloudmeta::http_server
