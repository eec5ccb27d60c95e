#include "http/rate_limiter.hpp"

#include <algorithm>

namespace cloudmeta::http_server {

bool RateLimiter::allow(const IpKey& source, Clock::time_point now) {
  if (rate_ <= 0) return true;
  Stripe& s = stripes_[IpKeyHash{}(source) % stripes_.size()];
  std::lock_guard lock(s.mutex);
  auto [it, inserted] = s.buckets.try_emplace(source, Bucket{burst_, now});
  Bucket& b = it->second;
  if (!inserted) {
    const std::chrono::duration<double> elapsed = now - b.updated;
    b.tokens = std::min(burst_, b.tokens + std::max(0.0, elapsed.count()) * rate_);
    b.updated = now;
  } else if (s.buckets.size() >= s.sweep_at) {
    sweep(s, now);
  }
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  return true;
}

// Drops sources whose bucket has refilled completely: forgetting them changes nothing, since a
// new entry starts full. The next sweep happens when the table has doubled again.
void RateLimiter::sweep(Stripe& s, Clock::time_point now) {
  const auto refill = std::chrono::duration<double>(burst_ / rate_);
  std::erase_if(s.buckets, [&](const auto& entry) {
    return now - entry.second.updated >= refill;
  });
  s.sweep_at = std::max<std::size_t>(1024, s.buckets.size() * 2);
}

std::size_t RateLimiter::tracked_sources() {
  std::size_t n = 0;
  for (auto& s : stripes_) {
    std::lock_guard lock(s.mutex);
    n += s.buckets.size();
  }
  return n;
}

}  // namespace cloudmeta::http_server
