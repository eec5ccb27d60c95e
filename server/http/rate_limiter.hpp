// RateLimiter: a token bucket per caller address, so one VM's request burst cannot starve its
// neighbours of the metadata threads. Over the limit, the metadata surface answers 429 as AWS's
// throttling does. rate == 0 disables it. Entries of idle sources are swept as the table grows,
// so memory stays bounded by the number of recently active sources.
// Thread-safe: a mutex-striped table shared by every I/O thread; one short lock per request.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <unordered_map>

#include "cloudmeta/ip_key.hpp"

namespace cloudmeta::http_server {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  // rate: requests per second per source (0 = unlimited); burst: bucket size.
  RateLimiter(double rate, double burst) : rate_(rate), burst_(burst > 0 ? burst : rate) {}

  bool allow(const IpKey& source, Clock::time_point now = Clock::now());
  bool enabled() const { return rate_ > 0; }
  std::size_t tracked_sources();

 private:
  struct Bucket {
    double tokens;
    Clock::time_point updated;
  };
  struct Stripe {
    std::mutex mutex;
    std::unordered_map<IpKey, Bucket, IpKeyHash> buckets;
    std::size_t sweep_at = 1024;
  };
  void sweep(Stripe& stripe, Clock::time_point now);

  const double rate_;
  const double burst_;
  std::array<Stripe, 16> stripes_;
};

}  // namespace cloudmeta::http_server
