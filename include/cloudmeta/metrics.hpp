// Metrics for `GET /metrics` (Prometheus text format 0.0.4, docs/hypervisor.md#observability).
//
// The metadata surface is the hot path (docs/benchmarks.md), so its counters live in per-thread
// shards: each metadata I/O thread registers one cache-line-aligned ImdsShard once and is its only
// writer, updating it with a relaxed load and store (plain moves on x86: no lock-prefixed
// read-modify-write, no cache line shared with another thread). A scrape sums the shards. A
// request costs a handful of stores and no clock read, string, map lookup or allocation: its
// latency comes from the two clock reads the connection's deadline already makes.
//
// Everything else (connections, store errors, the snapshot) changes rarely and is counted with
// ordinary atomics or read when scraped. render() is a pure function of a Sample, for tests.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "cloudmeta/caller_binding.hpp"
#include "cloudmeta/imds.hpp"
#include "cloudmeta/store.hpp"

namespace cloudmeta::metrics {

// A counter with a single writer: a relaxed load and store, read by any thread.
class Counter {
 public:
  void add(std::uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// Upper bounds of the metadata latency histogram, in nanoseconds (a keep-alive GET takes a few
// microseconds; the top buckets catch a stalled thread). Rendered in seconds; +Inf follows.
inline constexpr std::array<std::uint64_t, 10> kLatencyBoundsNs = {
    25'000, 50'000, 100'000, 250'000, 500'000, 1'000'000, 2'500'000, 5'000'000, 10'000'000,
    50'000'000};
inline constexpr std::size_t kLatencyBuckets = kLatencyBoundsNs.size() + 1;

// Every status imds::respond and the throttle answer, then a slot for anything else.
inline constexpr std::array<int, 7> kStatuses = {200, 400, 401, 403, 404, 405, 429};
inline constexpr std::size_t kStatusSlots = kStatuses.size() + 1;

// Requests the parser refused before imds::respond saw them.
inline constexpr std::array<int, 3> kRefusalStatuses = {400, 413, 431};

inline constexpr std::size_t kOutcomeCount = 10;  // imds::Outcome's values

constexpr std::size_t status_slot(int status) {
  switch (status) {
    case 200: return 0;
    case 400: return 1;
    case 401: return 2;
    case 403: return 3;
    case 404: return 4;
    case 405: return 5;
    case 429: return 6;
    default: return kStatuses.size();
  }
}

constexpr std::size_t latency_bucket(std::uint64_t nanos) {
  std::size_t i = 0;
  while (i < kLatencyBoundsNs.size() && nanos > kLatencyBoundsNs[i]) ++i;
  return i;
}

// One metadata I/O thread's counters. Only that thread writes them.
struct alignas(64) ImdsShard {
  Counter requests[imds::kRouteCount][kStatusSlots];
  Counter outcomes[kOutcomeCount];
  Counter token_rejections[imds::kTokenRejectionCount];
  Counter latency[kLatencyBuckets];  // per bucket, not cumulative
  Counter latency_sum_ns;
  Counter refused[kRefusalStatuses.size()];
  Counter binding_refused[kBindingRefusalCount];  // by BindingRefusal (kNone unused)

  // One answered request (imds::respond or the throttle).
  void record(const imds::Response& r, std::chrono::nanoseconds latency_ns) {
    requests[static_cast<std::size_t>(r.route)][status_slot(r.status)].add();
    outcomes[static_cast<std::size_t>(r.outcome)].add();
    token_rejections[static_cast<std::size_t>(r.token_rejection)].add();
    const auto nanos = static_cast<std::uint64_t>(latency_ns.count());
    latency[latency_bucket(nanos)].add();
    latency_sum_ns.add(nanos);
  }
  // A request refused by the parser (400, 413, 431), answered and closed.
  void record_refusal(int status) {
    refused[status == 413 ? 1 : status == 431 ? 2 : 0].add();
  }
  // A request whose caller CALLER_BINDING refused (answered as an unknown caller).
  void record_binding_refusal(BindingRefusal why) {
    binding_refused[static_cast<std::size_t>(why)].add();
  }
};

struct ConnectionStats {
  std::uint64_t open = 0;
  std::uint64_t accepted = 0;
  std::uint64_t refused_max_connections = 0;             // the surface's global cap
  std::uint64_t refused_max_connections_per_source = 0;  // the per-address cap
};

inline constexpr std::size_t kStoreErrorKinds = 6;  // StoreError::Kind's values

// What became of a DHCP guest's address learn (docs/hypervisor.md, "DHCP guests").
enum class LearnResult : std::uint8_t {
  kLearned,      // written
  kRefused,      // the stored record said no: binding, an address it may not take, not learnable
  kRateLimited,  // its MAC learned less than a second before: not queued
  kDropped,      // the learn queue was full: not queued
  kFailed,       // the store failed
};
inline constexpr std::size_t kLearnResults = 5;

// A metadata request that had to wait for its identity document to be signed (docs/metadata.md,
// "Signed identity"), by what it got.
enum class SigningResult : std::uint8_t {
  kSigned,   // the signature, once signed (later requests are served without waiting)
  kFailed,   // no keys (the database did not answer), OpenSSL refused, or the wait ran out: 503
  kDropped,  // the signing queue was full: 503
};
inline constexpr std::size_t kSigningResults = 3;

// Everything a scrape shows, as plain numbers.
struct Sample {
  std::string version;
  double start_time_seconds = 0;  // Unix time the process started
  // Metadata surface, summed over the shards.
  std::uint64_t requests[imds::kRouteCount][kStatusSlots] = {};
  std::uint64_t outcomes[kOutcomeCount] = {};
  std::uint64_t token_rejections[imds::kTokenRejectionCount] = {};
  std::uint64_t latency[kLatencyBuckets] = {};  // per bucket
  std::uint64_t latency_sum_ns = 0;
  std::uint64_t refused[kRefusalStatuses.size()] = {};
  std::uint64_t binding_refused[kBindingRefusalCount] = {};
  struct Surface {
    std::string name;
    ConnectionStats stats;
  };
  std::vector<Surface> connections;
  std::uint64_t store_errors[kStoreErrorKinds] = {};
  std::uint64_t refresh_failures = 0;
  std::uint64_t address_learning[kLearnResults] = {};  // by LearnResult
  std::uint64_t identity_signing[kSigningResults] = {};  // by SigningResult
  // The snapshot the metadata surface serves.
  std::uint64_t snapshot_instances = 0;
  bool snapshot_stale = false;
  double snapshot_age_seconds = 0;
  // How the snapshot followed the store (Fleet::SyncCounts).
  std::uint64_t snapshot_full_reloads = 0;
  std::uint64_t snapshot_incremental_applies = 0;
  std::uint64_t snapshot_changes_applied = 0;
  std::uint64_t change_log_gaps = 0;
  std::uint64_t change_log_too_many = 0;
  std::uint64_t change_log_rows_pruned = 0;
};

// The Prometheus text exposition (format 0.0.4) of a sample.
std::string render(const Sample& sample);
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

// A label value as the text format writes it: backslash, double quote and line feed escaped.
std::string escape_label_value(std::string_view value);

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The calling thread's shard, registered on the thread's first call (take it once per
  // connection, not per request).
  ImdsShard& imds_shard();

  // Reads `surface`'s connection counts at each scrape until the returned handle is destroyed.
  class Watch {
   public:
    Watch(Registry* registry, std::uint64_t id) : registry_(registry), id_(id) {}
    Watch(Watch&& other) noexcept;
    Watch& operator=(Watch&&) = delete;
    ~Watch();

   private:
    Registry* registry_;
    std::uint64_t id_;
  };
  [[nodiscard]] Watch watch_connections(std::string surface,
                                        std::function<ConnectionStats()> read);

  // Admin thread: a StoreError answered by the admin API; a failed snapshot refresh; a refresh
  // (or the start-up load) that found the snapshot up to date with the store.
  void count_store_error(StoreError::Kind kind);
  void count_refresh_failure() { refresh_failures_.fetch_add(1, std::memory_order_relaxed); }
  // Any thread: a DHCP guest's address learn and what became of it.
  void count_address_learning(LearnResult result) {
    address_learning_[static_cast<std::size_t>(result)].fetch_add(1, std::memory_order_relaxed);
  }
  // Metadata threads: a request that waited for an identity document's signing.
  void count_identity_signing(SigningResult result) {
    identity_signing_[static_cast<std::size_t>(result)].fetch_add(1, std::memory_order_relaxed);
  }
  void note_snapshot_current();

  // Everything but the snapshot's size and staleness, which the caller reads from its Fleet.
  Sample sample() const;

 private:
  void unwatch(std::uint64_t id);

  struct Watched {
    std::uint64_t id;
    std::string surface;
    std::function<ConnectionStats()> read;
  };

  mutable std::mutex mutex_;  // shards_ and watched_; never taken per request
  std::vector<std::unique_ptr<ImdsShard>> shards_;
  std::vector<Watched> watched_;
  std::uint64_t next_watch_id_ = 1;
  std::array<std::atomic<std::uint64_t>, kStoreErrorKinds> store_errors_{};
  std::atomic<std::uint64_t> refresh_failures_{0};
  std::atomic<std::uint64_t> address_learning_[kLearnResults] = {};
  std::atomic<std::uint64_t> identity_signing_[kSigningResults] = {};
  std::atomic<std::int64_t> current_since_ns_;  // steady clock, last note_snapshot_current()
};

// The process's registry.
Registry& registry();

}  // namespace cloudmeta::metrics
