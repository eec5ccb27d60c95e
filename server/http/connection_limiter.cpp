#include "http/connection_limiter.hpp"

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
    auto& count = s.counts[source];
    if (count >= max_per_source_) {
      if (count == 0) s.counts.erase(source);
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

void ConnectionLimiter::release(const IpKey& source) {
  Stripe& s = stripe_for(source);
  {
    std::lock_guard lock(s.mutex);
    auto it = s.counts.find(source);
    if (it != s.counts.end() && --it->second == 0) s.counts.erase(it);
  }
  total_.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace cloudmeta::http_server
