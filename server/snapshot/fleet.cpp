#include "cloudmeta/fleet.hpp"

#include <sys/stat.h>

#include <ctime>
#include <optional>

#include "cloudmeta/ip_key.hpp"
#include "cloudmeta/log.hpp"
#include "cloudmeta/metadata_tree.hpp"
#include "cloudmeta/snapshot_cache.hpp"
#include "snapshot/served_rendering.hpp"

namespace cloudmeta {
namespace {

// A rebuild that lost to concurrent writes this many times reads once more under the write lock,
// so a steady stream of admin writes delays it but cannot starve it.
constexpr int kOptimisticRebuilds = 3;

std::int64_t steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::shared_ptr<const Snapshot> Fleet::read_all(bool to_cache) {
  // Rows are indexed undecoded: each is decoded and rendered by its instance's first request.
  // The row count hint sizes the index once (a million inserts would rehash each shard ~12 times).
  // Renderings of rows that have not changed are carried over from the current snapshot.
  Snapshot::Builder builder(store_.instance_count_hint(), snapshots_.load());
  std::optional<SnapshotCacheWriter> cache;
  const auto cache_failed = [this, &cache](const SnapshotCacheError& e) {
    cache.reset();
    if (!cache_failing_.exchange(true)) {
      log_warn("snapshot_cache_failed", {{"error", e.what()}, {"file", cache_path_.string()}});
    }
  };
  if (to_cache && !cache_path_.empty()) {
    try {
      cache.emplace(cache_path_);
    } catch (const SnapshotCacheError& e) {
      cache_failed(e);
    }
  }
  // The scan's revision is the rows' own (one view of the database), so later refreshes can
  // apply the change log from it: a write after it is in the log, one before it in the rows.
  const std::int64_t revision = store_.scan_instances([&](StoredInstance&& row) {
    builder.add(row);
    if (!cache) return;
    try {
      cache->add(row);
    } catch (const SnapshotCacheError& e) {
      cache_failed(e);
    }
  });
  for (const auto& id : builder.skipped()) {
    log_error("instance_not_served", {{"instance", id}, {"reason", "stored address is invalid"}});
  }
  auto snapshot = builder.finish(revision);
  if (cache) {
    try {
      cache->commit(revision, cache_secret_);
      if (cache_failing_.exchange(false)) {
        log_info("snapshot_cache_written", {{"file", cache_path_.string()}});
      }
    } catch (const SnapshotCacheError& e) {
      cache_failed(e);
    }
  }
  // Attempted counts: a failing disk is retried at the next load, not at every refresh.
  if (to_cache) cache_revision_.store(revision);
  return snapshot;
}

void Fleet::keep_cache(std::filesystem::path path, std::string secret) {
  cache_path_ = std::move(path);
  cache_secret_ = std::move(secret);
}

bool Fleet::cache_behind() const {
  return !cache_path_.empty() && cache_revision_.load() != snapshots_.load()->revision();
}

std::optional<std::string> Fleet::load_cache(const std::filesystem::path& path) {
  const auto started = std::chrono::steady_clock::now();
  // Sized once for the file's row count, as a reload sizes it from the store's hint.
  std::optional<Snapshot::Builder> builder;
  std::optional<SnapshotCacheInfo> info;
  try {
    info = read_snapshot_cache(
        path, [&builder](const StoredInstance& row) { builder->add(row); },
        [&builder](const SnapshotCacheInfo& accepted) {
          builder.emplace(static_cast<std::size_t>(accepted.rows));
        });
  } catch (const SnapshotCacheError& e) {
    log_error("snapshot_cache_refused", {{"file", path.string()}, {"error", e.what()}});
    return std::nullopt;
  }
  if (!info) {
    log_warn("snapshot_cache_missing", {{"file", path.string()}});
    return std::nullopt;
  }
  for (const auto& id : builder->skipped()) {
    log_error("instance_not_served", {{"instance", id}, {"reason", "stored address is invalid"}});
  }
  auto snapshot = builder->finish(info->revision);
  struct stat st {};
  const std::int64_t age_s =
      ::stat(path.c_str(), &st) == 0 ? static_cast<std::int64_t>(std::time(nullptr) - st.st_mtime)
                                     : -1;
  log_warn("snapshot_from_cache",
           {{"file", path.string()},
            {"instances", snapshot->size()},
            {"revision", info->revision},
            {"age_s", age_s},
            {"load_ms", static_cast<std::int64_t>(
                            std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::steady_clock::now() - started)
                                .count())}});
  {
    std::lock_guard lock(write_mutex_);
    publish_locked(std::move(snapshot));
  }
  cache_revision_.store(info->revision);
  std::int64_t fresh = kFresh;
  stale_since_.compare_exchange_strong(fresh, steady_now_ns());
  return std::move(info->secret);
}

void Fleet::publish_locked(std::shared_ptr<const Snapshot> snapshot) {
  snapshots_.publish(std::move(snapshot));
  ++publishes_;
}

void Fleet::publish_loaded_locked(std::shared_ptr<const Snapshot> snapshot) {
  log_info("snapshot_loaded",
           {{"instances", snapshot->size()}, {"revision", snapshot->revision()}});
  // Counted before it is served: a scrape that finds the new snapshot served finds it counted.
  full_loads_.fetch_add(1, std::memory_order_relaxed);
  publish_locked(std::move(snapshot));
}

std::shared_ptr<const Snapshot> Fleet::with_changes_since(
    const std::shared_ptr<const Snapshot>& base, std::size_t& changed) {
  const InstanceChanges found = store_.instance_changes_since(base->revision(), kMaxChangeRows);
  if (found.status != InstanceChanges::Status::kComplete) {
    const bool gap = found.status == InstanceChanges::Status::kGap;
    (gap ? gaps_ : too_many_).fetch_add(1, std::memory_order_relaxed);
    log_info("change_log_not_applied", {{"reason", gap ? "gap" : "too_many_changes"},
                                        {"from_revision", base->revision()},
                                        {"revision", found.revision},
                                        {"then", "full reload"}});
    return nullptr;
  }
  changed = found.changes.size();
  if (found.revision == base->revision()) return base;
  // The base is the store at its revision exactly (a scan's, or the change log's), so each
  // changed instance is served at the address it had then, and nothing else moved.
  Snapshot::Editor editor(*base);
  for (const InstanceChange& change : found.changes) {
    if (const auto key = IpKey::parse(change.ip_before)) editor.erase(*key);
    editor.forget_learnable(change.instance_id);
  }
  for (const InstanceChange& change : found.changes) {
    if (!change.row) continue;
    const StoredInstance row = change.row->view();
    if (row.ip.empty()) {
      // A DHCP guest before its first call: only its MAC is indexed.
      try {
        editor.learnable(decode(row));
      } catch (const std::exception& e) {
        log_error("instance_not_served", {{"instance", change.instance_id},
                                          {"reason", "stored record cannot be served"},
                                          {"error", e.what()}});
      }
      continue;
    }
    const auto key = IpKey::parse(row.ip);
    if (!key) {
      log_error("instance_not_served",
                {{"instance", change.instance_id}, {"reason", "stored address is invalid"}});
      continue;
    }
    // Rendered now, on the sync thread: a handful of records, and the first request for one is
    // answered at once. A row that cannot be served (written around Fleet's checks) gets an
    // entry that answers as an unknown caller, as a reload's does.
    std::shared_ptr<const RenderedInstance> rendered;
    try {
      const InstanceRecord record = decode(row);
      rendered = served_rendering(record);
      editor.learnable(record);
    } catch (const std::exception& e) {
      log_error("instance_not_served", {{"instance", change.instance_id},
                                        {"reason", "stored record cannot be served"},
                                        {"error", e.what()}});
    }
    const std::uint64_t fingerprint = rendered ? row_fingerprint(row) : 0;
    editor.put(*key, std::move(rendered), fingerprint);
  }
  return editor.finish(found.revision);
}

void Fleet::publish_applied_locked(std::shared_ptr<const Snapshot> snapshot,
                                   std::size_t changed) {
  log_debug("snapshot_changes_applied",
            {{"instances", changed}, {"revision", snapshot->revision()}});
  incremental_applies_.fetch_add(1, std::memory_order_relaxed);  // before, as publish_loaded_locked
  changes_applied_.fetch_add(changed, std::memory_order_relaxed);
  publish_locked(std::move(snapshot));
}

bool Fleet::apply_changes() {
  // As load_all: read without the write lock, publish only if nothing was published meanwhile
  // (a change set read from an older snapshot cannot be applied to a newer one).
  for (int attempt = 0; attempt < kOptimisticRebuilds; ++attempt) {
    std::uint64_t seen = 0;
    std::shared_ptr<const Snapshot> base;
    {
      std::lock_guard lock(write_mutex_);
      seen = publishes_;
      base = snapshots_.load();
    }
    std::size_t changed = 0;
    auto next = with_changes_since(base, changed);
    if (!next) return false;
    std::lock_guard lock(write_mutex_);
    if (publishes_ != seen) continue;
    if (next != base) publish_applied_locked(std::move(next), changed);
    return true;
  }
  std::lock_guard lock(write_mutex_);
  const auto base = snapshots_.load();
  std::size_t changed = 0;
  auto next = with_changes_since(base, changed);
  if (!next) return false;
  if (next != base) publish_applied_locked(std::move(next), changed);
  return true;
}

void Fleet::catch_up_locked() {
  const auto base = snapshots_.load();
  std::size_t changed = 0;
  auto next = with_changes_since(base, changed);
  if (!next) return publish_loaded_locked(read_all(false));
  if (next != base) publish_applied_locked(std::move(next), changed);
}

std::size_t Fleet::prune_change_log(std::chrono::seconds retention) {
  const std::int64_t cut =
      std::chrono::duration_cast<std::chrono::seconds>(
          std::chrono::system_clock::now().time_since_epoch() - retention)
          .count();
  std::size_t pruned = 0;
  for (int batch = 0; batch < kPruneBatches; ++batch) {
    const std::size_t n = store_.prune_instance_changes(cut, kPruneBatch);
    pruned += n;
    if (n < kPruneBatch) break;  // the oldest rows left are younger than the cut
  }
  change_rows_pruned_.fetch_add(pruned, std::memory_order_relaxed);
  return pruned;
}

Fleet::SyncCounts Fleet::sync_counts() const {
  SyncCounts c;
  c.full_loads = full_loads_.load(std::memory_order_relaxed);
  c.incremental_applies = incremental_applies_.load(std::memory_order_relaxed);
  c.changes_applied = changes_applied_.load(std::memory_order_relaxed);
  c.gaps = gaps_.load(std::memory_order_relaxed);
  c.too_many = too_many_.load(std::memory_order_relaxed);
  c.change_rows_pruned = change_rows_pruned_.load(std::memory_order_relaxed);
  return c;
}

void Fleet::load_all() {
  for (int attempt = 0; attempt < kOptimisticRebuilds; ++attempt) {
    std::uint64_t seen = 0;
    {
      std::lock_guard lock(write_mutex_);
      seen = publishes_;
    }
    auto snapshot = read_all(true);  // the long part: admin writes go on meanwhile
    std::lock_guard lock(write_mutex_);
    // A write published since we started may be missing from what we read: publishing now would
    // hide it until the next refresh. Read again instead.
    if (publishes_ != seen) continue;
    publish_loaded_locked(std::move(snapshot));
    return;
  }
  std::lock_guard lock(write_mutex_);
  publish_loaded_locked(read_all(true));
}

template <class Fn>
auto Fleet::tracking_staleness(Fn&& fn) {
  try {
    auto result = fn();
    stale_since_.store(kFresh);
    return result;
  } catch (...) {
    std::int64_t fresh = kFresh;
    stale_since_.compare_exchange_strong(fresh, steady_now_ns());  // keep the first failure's time
    throw;
  }
}

bool Fleet::refresh_if_changed() {
  return tracking_staleness([this] {
    {
      // Under the write lock: a write of this host between its commit and its publish would
      // otherwise look like another writer's change and cost a read of the change log.
      std::lock_guard lock(write_mutex_);
      if (store_.revision() == snapshots_.load()->revision()) return false;
    }
    if (!apply_changes()) load_all();
    return true;
  });
}

void Fleet::resync() {
  tracking_staleness([this] {
    load_all();
    return true;
  });
}

std::chrono::seconds Fleet::stale_for() const {
  const std::int64_t since = stale_since_.load();
  if (since == kFresh) return std::chrono::seconds(0);
  return std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::nanoseconds(steady_now_ns() - since));
}

InstanceRecord Fleet::create(const InstanceRecord& record, const AlongWith& along_with) {
  render(record);  // refuse what could not be served, before anything is stored
  std::lock_guard lock(write_mutex_);
  InstanceRecord stored;
  store_.transaction([&] {
    stored = store_.insert_instance(record);
    if (along_with) along_with(&stored);
  });
  publish_change("", stored);
  return stored;
}

InstanceRecord Fleet::replace(const InstanceRecord& record, const AlongWith& along_with) {
  render(record);
  std::lock_guard lock(write_mutex_);
  auto before = store_.find_instance(record.instance_id);
  if (!before) {
    throw StoreError(StoreError::Kind::kNotFound, "instance " + record.instance_id + " not found");
  }
  // A client of this version cannot name the fields a newer version wrote (record_json refuses
  // them), so replacing replaces what this version knows and leaves the rest as it was. A row
  // that did not decode has none: it is replaced whole.
  InstanceRecord replacement = record;
  replacement.unknown_fields = before->unknown_fields;
  // An address the server learned stays learned only while it is the one learned: an operator
  // who writes another one (a PATCH of ip keeps the flag it merged in) sets it, and learning
  // never moves it after.
  if (replacement.ip_learned && replacement.ip != before->ip) replacement.ip_learned = false;
  InstanceRecord stored;
  store_.transaction([&] {
    stored = store_.update_instance(replacement);
    if (along_with) along_with(&stored);
  });
  publish_change(before->ip, stored);
  return stored;
}

bool Fleet::remove(std::string_view instance_id, const AlongWith& along_with) {
  std::lock_guard lock(write_mutex_);
  auto before = store_.find_instance(instance_id);
  if (!before) return false;
  bool removed = false;
  store_.transaction([&] {
    removed = store_.delete_instance(instance_id);
    if (removed && along_with) along_with(nullptr);
  });
  if (!removed) return false;
  publish_written_locked({{before->ip, before->instance_id, nullptr}});
  return true;
}

void Fleet::publish_change(const std::string& old_ip, const InstanceRecord& stored) {
  publish_written_locked({{old_ip, stored.instance_id, &stored}});
}

void Fleet::publish_written_locked(std::initializer_list<Written> written) {
  auto current = snapshots_.load();
  const auto revision = store_.revision();
  // Another writer (the CLI, another host) changed the store since our last publish: the change
  // log has their writes and ours. Otherwise patch just these records.
  if (revision != current->revision() + 1) return catch_up_locked();
  Snapshot::Editor editor(*current);
  for (const Written& w : written) {
    if (const auto key = IpKey::parse(w.old_ip)) editor.erase(*key);
    editor.forget_learnable(w.instance_id);
  }
  for (const Written& w : written) {
    if (!w.stored) continue;
    if (const auto key = IpKey::parse(w.stored->ip)) {
      editor.put(*key, served_rendering(*w.stored));
    }
    editor.learnable(*w.stored);
  }
  publish_locked(editor.finish(revision));
}

Fleet::Learned Fleet::learn(const std::string& instance_id, const std::string& mac,
                            const std::string& ip, const LearnCheck& check) {
  std::lock_guard lock(write_mutex_);
  Learned out;
  InstanceRecord moved, vacated;
  std::string moved_from;
  bool vacates = false;
  store_.transaction([&] {
    // The stored record decides, not the snapshot that named it: it may have changed since.
    const auto record = store_.find_instance(instance_id);
    if (!record || record->invalid || record->mac != mac || !is_learnable(*record)) {
      out.outcome = LearnOutcome::kNotLearnable;
      return;
    }
    if (record->ip == ip) {
      out.outcome = LearnOutcome::kAlreadyThere;
      return;
    }
    if (check && !check(*record)) {
      out.outcome = LearnOutcome::kRefused;
      return;
    }
    if (auto holder = store_.find_instance_by_ip(ip)) {
      // An address an operator set (or a row this version cannot read) is never taken. A
      // learned one is: the kernel now resolves it to this MAC, so its holder's lease is over,
      // and the holder keeps its MAC and learns again when it calls.
      if (holder->invalid || !holder->ip_learned) {
        out.outcome = LearnOutcome::kAddressTaken;
        out.holder = holder->instance_id;
        return;
      }
      vacated = *holder;
      vacated.ip.clear();
      vacated.ip_learned = false;
      vacated = store_.update_instance(vacated);
      vacates = true;
      out.holder = holder->instance_id;
    }
    moved = *record;
    moved_from = record->ip;
    moved.ip = ip;
    moved.ip_learned = true;
    render(moved);  // as every write: refuse what could not be served before it is stored
    moved = store_.update_instance(moved);
    out.outcome = LearnOutcome::kLearned;
    out.previous_ip = moved_from;
  });
  if (out.outcome != LearnOutcome::kLearned) return out;
  if (vacates) {
    publish_written_locked({{ip, vacated.instance_id, &vacated},
                            {moved_from, moved.instance_id, &moved}});
  } else {
    publish_written_locked({{moved_from, moved.instance_id, &moved}});
  }
  return out;
}

}  // namespace cloudmeta
