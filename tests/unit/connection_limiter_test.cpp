#include "http/connection_limiter.hpp"

#include <doctest/doctest.h>

#include <optional>
#include <vector>

using cloudmeta::IpKey;
using cloudmeta::http_server::ConnectionLimiter;
using Admission = ConnectionLimiter::Admission;

namespace {
IpKey vm(int i) {
  return IpKey::from_v4({198, 18, static_cast<std::uint8_t>(i / 256),
                         static_cast<std::uint8_t>(i % 256)});
}
}  // namespace

TEST_CASE("the total and per-source caps refuse, and a released slot is free again") {
  ConnectionLimiter limiter(3, 2);
  std::vector<std::optional<ConnectionLimiter::Slot>> held(4);
  CHECK(limiter.try_admit(vm(1), held[0]) == Admission::kAdmitted);
  CHECK(limiter.try_admit(vm(1), held[1]) == Admission::kAdmitted);
  CHECK(limiter.try_admit(vm(1), held[2]) == Admission::kSourceFull);
  CHECK(limiter.try_admit(vm(2), held[2]) == Admission::kAdmitted);
  CHECK(limiter.try_admit(vm(3), held[3]) == Admission::kTotalFull);
  CHECK(limiter.open_connections() == 3);
  held[0].reset();
  CHECK(limiter.open_connections() == 2);
  CHECK(limiter.try_admit(vm(1), held[0]) == Admission::kAdmitted);
  const auto counts = limiter.counts();
  CHECK(counts.admitted == 4);
  CHECK(counts.refused_source_full == 1);
  CHECK(counts.refused_total_full == 1);
}

TEST_CASE("a source that reconnects keeps its entry, sources that come and go are swept") {
  ConnectionLimiter limiter(100, 2);
  for (int round = 0; round < 3; ++round) {
    std::optional<ConnectionLimiter::Slot> slot;
    REQUIRE(limiter.try_admit(vm(1), slot) == Admission::kAdmitted);
  }
  CHECK(limiter.tracked_sources() == 1);
  CHECK(limiter.open_connections() == 0);

  // 50,000 sources, one connection each, none left open: the table stays bounded (16 stripes,
  // each swept at its floor or when it doubled) instead of holding one entry per source ever seen.
  for (int i = 0; i < 50000; ++i) {
    std::optional<ConnectionLimiter::Slot> slot;
    REQUIRE(limiter.try_admit(IpKey::from_v4({10, static_cast<std::uint8_t>(i >> 16),
                                              static_cast<std::uint8_t>(i >> 8),
                                              static_cast<std::uint8_t>(i)}),
                              slot) == Admission::kAdmitted);
  }
  CHECK(limiter.tracked_sources() <= 16 * ConnectionLimiter::kSweepFloor);
  CHECK(limiter.open_connections() == 0);
}

TEST_CASE("a sweep never forgets a source with open connections") {
  ConnectionLimiter limiter(100000, 1);
  std::vector<std::optional<ConnectionLimiter::Slot>> held(5);
  for (int i = 0; i < 5; ++i) REQUIRE(limiter.try_admit(vm(i), held[i]) == Admission::kAdmitted);
  for (int i = 0; i < 40000; ++i) {  // enough to sweep every stripe several times
    std::optional<ConnectionLimiter::Slot> slot;
    limiter.try_admit(IpKey::from_v4({10, 1, static_cast<std::uint8_t>(i >> 8),
                                      static_cast<std::uint8_t>(i)}), slot);
  }
  for (int i = 0; i < 5; ++i) {
    std::optional<ConnectionLimiter::Slot> another;
    CHECK(limiter.try_admit(vm(i), another) == Admission::kSourceFull);
  }
  held.clear();
  std::optional<ConnectionLimiter::Slot> again;
  CHECK(limiter.try_admit(vm(0), again) == Admission::kAdmitted);
}
