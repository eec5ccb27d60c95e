#include "cloudmeta/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <initializer_list>
#include <utility>

namespace cloudmeta::metrics {
namespace {

static_assert(static_cast<std::size_t>(imds::Route::kOther) + 1 == imds::kRouteCount);
static_assert(static_cast<std::size_t>(imds::TokenRejection::kExpired) + 1 ==
              imds::kTokenRejectionCount);
static_assert(static_cast<std::size_t>(imds::Outcome::kUnavailable) + 1 == kOutcomeCount);
static_assert(static_cast<std::size_t>(StoreError::Kind::kReadOnly) + 1 == kStoreErrorKinds);

// Taken while static objects are initialised, before main: the process's start, as the standard
// process_start_time_seconds reports it.
const double g_start_time_seconds =
    std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

constexpr std::array<std::string_view, imds::kRouteCount> kRouteNames = {
    "root", "token", "meta-data", "credentials", "user-data", "dynamic", "other"};
constexpr std::array<std::string_view, imds::kTokenRejectionCount> kRejectionNames = {
    "", "missing", "malformed", "bad_signature", "expired"};
constexpr std::array<std::string_view, kLearnResults> kLearnResultNames = {
    "learned", "refused", "rate_limited", "dropped", "failed"};
constexpr std::array<std::string_view, kSigningResults> kSigningResultNames = {"signed", "failed",
                                                                               "dropped"};

constexpr std::array<std::string_view, kStoreErrorKinds> kStoreErrorNames = {
    "conflict", "not_found", "unavailable", "corrupt", "invalid", "read_only"};

// Shortest round-trip text in %g style, as Prometheus's own clients write floats and `le`
// ("2.5e-05", "0.001").
std::string double_text(double value) {
  char buf[32];
  const auto result = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::general);
  return std::string(buf, result.ptr);
}

using Label = std::pair<std::string_view, std::string_view>;

// Writes the exposition: a family's HELP and TYPE once, then its samples.
class Writer {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    for (char c : help) {  // HELP text escapes backslash and line feed only
      if (c == '\\') {
        out_ += "\\\\";
      } else if (c == '\n') {
        out_ += "\\n";
      } else {
        out_ += c;
      }
    }
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }

  void sample(std::string_view name, std::initializer_list<Label> labels, std::uint64_t value) {
    begin(name, labels);
    out_ += std::to_string(value);
    out_ += '\n';
  }
  void sample(std::string_view name, std::initializer_list<Label> labels, double value) {
    begin(name, labels);
    out_ += double_text(value);
    out_ += '\n';
  }

  std::string take() { return std::move(out_); }

 private:
  void begin(std::string_view name, std::initializer_list<Label> labels) {
    out_ += name;
    if (labels.size() > 0) {
      out_ += '{';
      bool first = true;
      for (const auto& [key, value] : labels) {
        if (!first) out_ += ',';
        first = false;
        out_ += key;
        out_ += "=\"";
        out_ += escape_label_value(value);
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
  }

  std::string out_;
};

std::string le_text(std::uint64_t bound_ns) {
  return double_text(static_cast<double>(bound_ns) / 1e9);
}

}  // namespace

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string render(const Sample& s) {
  Writer w;
  w.family("cloudmeta_build_info", "gauge", "Always 1; the version label says which build runs.");
  w.sample("cloudmeta_build_info", {{"version", s.version}}, std::uint64_t{1});
  w.family("process_start_time_seconds", "gauge", "Start time of the process (Unix seconds).");
  w.sample("process_start_time_seconds", {}, s.start_time_seconds);

  w.family("cloudmeta_metadata_requests_total", "counter",
           "Metadata requests answered, by route class and status.");
  for (std::size_t route = 0; route < imds::kRouteCount; ++route) {
    for (std::size_t slot = 0; slot < kStatusSlots; ++slot) {
      const std::uint64_t n = s.requests[route][slot];
      // Every known status is shown from the start (rate() needs the zero); "other" only when
      // something unforeseen happened.
      if (slot == kStatuses.size() && n == 0) continue;
      const std::string status =
          slot < kStatuses.size() ? std::to_string(kStatuses[slot]) : std::string("other");
      w.sample("cloudmeta_metadata_requests_total",
               {{"route", kRouteNames[route]}, {"status", status}}, n);
    }
  }

  constexpr std::string_view kDuration = "cloudmeta_metadata_request_duration_seconds";
  w.family(kDuration, "histogram",
           "Metadata request service time, from its first byte to its response ready to send.");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kLatencyBuckets; ++i) {
    cumulative += s.latency[i];
    const std::string le = i < kLatencyBoundsNs.size() ? le_text(kLatencyBoundsNs[i]) : "+Inf";
    w.sample("cloudmeta_metadata_request_duration_seconds_bucket", {{"le", le}}, cumulative);
  }
  w.sample("cloudmeta_metadata_request_duration_seconds_sum", {},
           static_cast<double>(s.latency_sum_ns) / 1e9);
  w.sample("cloudmeta_metadata_request_duration_seconds_count", {}, cumulative);

  w.family("cloudmeta_metadata_requests_refused_total", "counter",
           "Metadata requests the HTTP parser refused (malformed, body or headers too large); "
           "the connection is closed.");
  for (std::size_t i = 0; i < kRefusalStatuses.size(); ++i) {
    w.sample("cloudmeta_metadata_requests_refused_total",
             {{"status", std::to_string(kRefusalStatuses[i])}}, s.refused[i]);
  }
  const auto outcome = [&s](imds::Outcome o) { return s.outcomes[static_cast<std::size_t>(o)]; };
  w.family("cloudmeta_metadata_requests_throttled_total", "counter",
           "Metadata requests answered 429 because the caller exceeded IMDS_RATE_LIMIT.");
  w.sample("cloudmeta_metadata_requests_throttled_total", {},
           outcome(imds::Outcome::kThrottled));
  w.family("cloudmeta_unknown_callers_total", "counter",
           "Metadata requests from an address that matches no instance (answered 404).");
  w.sample("cloudmeta_unknown_callers_total", {}, outcome(imds::Outcome::kUnknownCaller));

  w.family("cloudmeta_binding_refusals_total", "counter",
           "Metadata requests answered as from an unknown caller because CALLER_BINDING did not "
           "hold (the neighbour table's MAC or the bridge port was not the record's), by reason.");
  for (std::size_t i = 1; i < kBindingRefusalCount; ++i) {
    w.sample("cloudmeta_binding_refusals_total",
             {{"reason", std::string(binding_refusal_name(static_cast<BindingRefusal>(i)))}},
             s.binding_refused[i]);
  }

  w.family("cloudmeta_address_learning_total", "counter",
           "DHCP guests' address learns (CALLER_BINDING=mac|port), by result: learned, refused "
           "(the stored record's binding, an address it may not take), rate_limited (one per MAC "
           "per second), dropped (the queue was full), failed (the store).");
  for (std::size_t i = 0; i < kLearnResults; ++i) {
    w.sample("cloudmeta_address_learning_total", {{"result", kLearnResultNames[i]}},
             s.address_learning[i]);
  }

  w.family("cloudmeta_identity_signatures_total", "counter",
           "Metadata requests for pkcs7, signature or rsa2048 that waited for their identity "
           "document to be signed (the first after a record changes), by result: signed, failed "
           "(no keys, e.g. the database did not answer, or the wait ran out; answered 503), "
           "dropped (the signing queue was full; answered 503).");
  for (std::size_t i = 0; i < kSigningResults; ++i) {
    w.sample("cloudmeta_identity_signatures_total", {{"result", kSigningResultNames[i]}},
             s.identity_signing[i]);
  }

  w.family("cloudmeta_tokens_issued_total", "counter", "IMDSv2 session tokens issued.");
  w.sample("cloudmeta_tokens_issued_total", {}, outcome(imds::Outcome::kTokenIssued));
  w.family("cloudmeta_tokens_rejected_total", "counter",
           "Metadata requests refused 401 for their token, by reason (bad_signature includes "
           "a token of another instance or address).");
  for (std::size_t i = 1; i < imds::kTokenRejectionCount; ++i) {
    w.sample("cloudmeta_tokens_rejected_total", {{"reason", kRejectionNames[i]}},
             s.token_rejections[i]);
  }

  w.family("cloudmeta_connections_open", "gauge", "Open connections, by surface.");
  for (const auto& c : s.connections) {
    w.sample("cloudmeta_connections_open", {{"surface", c.name}}, c.stats.open);
  }
  w.family("cloudmeta_connections_accepted_total", "counter",
           "Connections accepted and admitted, by surface.");
  for (const auto& c : s.connections) {
    w.sample("cloudmeta_connections_accepted_total", {{"surface", c.name}}, c.stats.accepted);
  }
  w.family("cloudmeta_connections_refused_total", "counter",
           "Connections closed at once because a cap was reached, by surface and cap.");
  for (const auto& c : s.connections) {
    w.sample("cloudmeta_connections_refused_total",
             {{"surface", c.name}, {"reason", "max_connections"}},
             c.stats.refused_max_connections);
    w.sample("cloudmeta_connections_refused_total",
             {{"surface", c.name}, {"reason", "max_connections_per_source"}},
             c.stats.refused_max_connections_per_source);
  }

  w.family("cloudmeta_store_errors_total", "counter",
           "Store errors answered by the admin API, by kind.");
  for (std::size_t i = 0; i < kStoreErrorKinds; ++i) {
    w.sample("cloudmeta_store_errors_total", {{"kind", kStoreErrorNames[i]}}, s.store_errors[i]);
  }
  w.family("cloudmeta_snapshot_refresh_failures_total", "counter",
           "Failed attempts to bring the served snapshot up to date with the store.");
  w.sample("cloudmeta_snapshot_refresh_failures_total", {}, s.refresh_failures);
  w.family("cloudmeta_snapshot_instances", "gauge", "Instances in the served snapshot.");
  w.sample("cloudmeta_snapshot_instances", {}, s.snapshot_instances);
  w.family("cloudmeta_snapshot_stale", "gauge",
           "1 while refreshing the snapshot from the store fails (the last snapshot is served).");
  w.sample("cloudmeta_snapshot_stale", {}, std::uint64_t{s.snapshot_stale ? 1u : 0u});
  w.family("cloudmeta_snapshot_age_seconds", "gauge",
           "Seconds since the snapshot was last known to match the store.");
  w.sample("cloudmeta_snapshot_age_seconds", {}, s.snapshot_age_seconds);
  w.family("cloudmeta_snapshot_full_reloads_total", "counter",
           "Whole-fleet reads of the store into a new snapshot (start-up, periodic resync, "
           "snapshot cache rewrite, or a change log that could not say what changed).");
  w.sample("cloudmeta_snapshot_full_reloads_total", {}, s.snapshot_full_reloads);
  w.family("cloudmeta_snapshot_incremental_applies_total", "counter",
           "Other writers' changes applied to the snapshot from the change log.");
  w.sample("cloudmeta_snapshot_incremental_applies_total", {}, s.snapshot_incremental_applies);
  w.family("cloudmeta_snapshot_changes_applied_total", "counter",
           "Instances those incremental applies brought up to date.");
  w.sample("cloudmeta_snapshot_changes_applied_total", {}, s.snapshot_changes_applied);
  w.family("cloudmeta_change_log_fallbacks_total", "counter",
           "Refreshes that reloaded the fleet because the change log could not serve them: it "
           "no longer reached the snapshot's revision (gap), or held too many changes.");
  w.sample("cloudmeta_change_log_fallbacks_total", {{"reason", "gap"}}, s.change_log_gaps);
  w.sample("cloudmeta_change_log_fallbacks_total", {{"reason", "too_many_changes"}},
           s.change_log_too_many);
  w.family("cloudmeta_change_log_rows_pruned_total", "counter",
           "Change-log rows this host deleted past CHANGE_LOG_RETENTION_S.");
  w.sample("cloudmeta_change_log_rows_pruned_total", {}, s.change_log_rows_pruned);
  return w.take();
}

Registry::Registry() : current_since_ns_(steady_ns()) {}
Registry::~Registry() = default;

ImdsShard& Registry::imds_shard() {
  // Constant-initialised thread_locals: no guard or wrapper call when read.
  thread_local Registry* owner = nullptr;
  thread_local ImdsShard* shard = nullptr;
  if (owner != this) {
    std::lock_guard lock(mutex_);
    shards_.push_back(std::make_unique<ImdsShard>());
    shard = shards_.back().get();
    owner = this;
  }
  return *shard;
}

Registry::Watch::Watch(Watch&& other) noexcept
    : registry_(std::exchange(other.registry_, nullptr)), id_(other.id_) {}

Registry::Watch::~Watch() {
  if (registry_) registry_->unwatch(id_);
}

Registry::Watch Registry::watch_connections(std::string surface,
                                            std::function<ConnectionStats()> read) {
  std::lock_guard lock(mutex_);
  const std::uint64_t id = next_watch_id_++;
  watched_.push_back({id, std::move(surface), std::move(read)});
  return Watch(this, id);
}

void Registry::unwatch(std::uint64_t id) {
  std::lock_guard lock(mutex_);
  std::erase_if(watched_, [id](const Watched& w) { return w.id == id; });
}

void Registry::count_store_error(StoreError::Kind kind) {
  store_errors_[static_cast<std::size_t>(kind)].fetch_add(1, std::memory_order_relaxed);
}

void Registry::note_snapshot_current() {
  current_since_ns_.store(steady_ns(), std::memory_order_relaxed);
}

Sample Registry::sample() const {
  Sample s;
  s.version = CLOUDMETA_VERSION;
  s.start_time_seconds = g_start_time_seconds;
  {
    std::lock_guard lock(mutex_);
    for (const auto& shard : shards_) {
      for (std::size_t r = 0; r < imds::kRouteCount; ++r) {
        for (std::size_t k = 0; k < kStatusSlots; ++k) {
          s.requests[r][k] += shard->requests[r][k].value();
        }
      }
      for (std::size_t i = 0; i < kOutcomeCount; ++i) s.outcomes[i] += shard->outcomes[i].value();
      for (std::size_t i = 0; i < imds::kTokenRejectionCount; ++i) {
        s.token_rejections[i] += shard->token_rejections[i].value();
      }
      for (std::size_t i = 0; i < kLatencyBuckets; ++i) s.latency[i] += shard->latency[i].value();
      s.latency_sum_ns += shard->latency_sum_ns.value();
      for (std::size_t i = 0; i < kRefusalStatuses.size(); ++i) {
        s.refused[i] += shard->refused[i].value();
      }
      for (std::size_t i = 0; i < kBindingRefusalCount; ++i) {
        s.binding_refused[i] += shard->binding_refused[i].value();
      }
    }
    for (const auto& w : watched_) s.connections.push_back({w.surface, w.read()});
  }
  for (std::size_t i = 0; i < kStoreErrorKinds; ++i) {
    s.store_errors[i] = store_errors_[i].load(std::memory_order_relaxed);
  }
  s.refresh_failures = refresh_failures_.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < kLearnResults; ++i) {
    s.address_learning[i] = address_learning_[i].load(std::memory_order_relaxed);
  }
  for (std::size_t i = 0; i < kSigningResults; ++i) {
    s.identity_signing[i] = identity_signing_[i].load(std::memory_order_relaxed);
  }
  const auto age_ns = steady_ns() - current_since_ns_.load(std::memory_order_relaxed);
  s.snapshot_age_seconds = static_cast<double>(std::max<std::int64_t>(age_ns, 0)) / 1e9;
  return s;
}

Registry& registry() {
  static Registry instance;
  return instance;
}

}  // namespace cloudmeta::metrics
