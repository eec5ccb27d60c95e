#include "http/rate_limiter.hpp"

#include <doctest/doctest.h>

using cloudmeta::IpKey;
using cloudmeta::http_server::RateLimiter;
using namespace std::chrono_literals;

TEST_CASE("a source gets its burst, then the rate") {
  RateLimiter limiter(10, 5);
  const auto t0 = RateLimiter::Clock::time_point{} + 100s;
  const IpKey vm = *IpKey::parse("198.18.0.1");
  for (int i = 0; i < 5; ++i) CHECK(limiter.allow(vm, t0));
  CHECK_FALSE(limiter.allow(vm, t0));
  CHECK(limiter.allow(vm, t0 + 100ms));  // one token back after 1/rate
  CHECK_FALSE(limiter.allow(vm, t0 + 100ms));
  CHECK(limiter.allow(vm, t0 + 10s));
}

TEST_CASE("one noisy source does not throttle its neighbour") {
  RateLimiter limiter(10, 2);
  const auto t0 = RateLimiter::Clock::time_point{} + 100s;
  const IpKey noisy = *IpKey::parse("198.18.0.1");
  const IpKey quiet = *IpKey::parse("198.18.0.2");
  for (int i = 0; i < 100; ++i) limiter.allow(noisy, t0);
  CHECK(limiter.allow(quiet, t0));
}

TEST_CASE("a zero rate disables limiting") {
  RateLimiter limiter(0, 0);
  const IpKey vm = *IpKey::parse("198.18.0.1");
  for (int i = 0; i < 10000; ++i) REQUIRE(limiter.allow(vm));
  CHECK_FALSE(limiter.enabled());
}

TEST_CASE("idle sources are forgotten as the table grows, so memory stays bounded") {
  RateLimiter limiter(100, 10);
  auto t = RateLimiter::Clock::time_point{} + 100s;
  for (std::uint32_t i = 0; i < 200000; ++i) {
    const IpKey ip = IpKey::from_v4({10, static_cast<std::uint8_t>(i >> 16),
                                     static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)});
    limiter.allow(ip, t);
    t += 1ms;  // each source goes idle long before the next sweep
  }
  CHECK(limiter.tracked_sources() < 200000 / 4);
}
