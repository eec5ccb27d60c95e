// LatencyHistogram: log-linear buckets over nanoseconds (64 sub-buckets per power of two, so a
// reported percentile is within 1.6 % of the true value), fixed size, so that recording a sample
// costs a few instructions and never allocates while the load runs.
#pragma once

#include <array>
#include <bit>
#include <cstdint>

namespace cloudmeta::bench {

class LatencyHistogram {
 public:
  void record(std::uint64_t nanos) {
    ++counts_[index_of(nanos)];
    ++total_;
    if (nanos > max_) max_ = nanos;
  }

  void merge(const LatencyHistogram& other) {
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
    if (other.max_ > max_) max_ = other.max_;
  }

  // The smallest recorded value v such that at least `fraction` of the samples are <= v
  // (the bucket's upper bound, so percentiles never read optimistic).
  std::uint64_t percentile(double fraction) const {
    if (total_ == 0) return 0;
    auto rank = static_cast<std::uint64_t>(fraction * static_cast<double>(total_));
    if (rank < 1) rank = 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        const std::uint64_t upper = upper_bound_of(i);
        return upper < max_ ? upper : max_;
      }
    }
    return max_;
  }

  std::uint64_t count() const { return total_; }
  std::uint64_t max() const { return max_; }

 private:
  static constexpr unsigned kSubBits = 6;  // 64 sub-buckets per power of two
  static constexpr std::uint64_t kSub = 1u << kSubBits;
  static constexpr std::size_t kBuckets = (64 - kSubBits + 1) * kSub;

  // Values below 2*kSub have a bucket each; above, bucket width doubles with each power of two.
  static std::size_t index_of(std::uint64_t v) {
    if (v < 2 * kSub) return static_cast<std::size_t>(v);
    const unsigned shift = static_cast<unsigned>(std::bit_width(v)) - 1 - kSubBits;
    return static_cast<std::size_t>(shift * kSub + (v >> shift));
  }
  static std::uint64_t upper_bound_of(std::size_t i) {
    if (i < 2 * kSub) return i;
    const std::uint64_t shift = i / kSub - 1;
    const std::uint64_t mantissa = i - shift * kSub;
    return ((mantissa + 1) << shift) - 1;
  }

  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t total_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace cloudmeta::bench
