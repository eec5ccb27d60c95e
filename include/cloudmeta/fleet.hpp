// Fleet: the write side of the metadata surface. Every change to an instance goes through here:
// render first (so a record that cannot be served is refused before it is stored), write to the
// Store, then publish a new Snapshot, so the very next metadata request sees the change.
// Also brings the snapshot up to date when another process (a CLI, another host) changed the
// store: it applies the instances the store's change log names since the snapshot's revision
// (Store::instance_changes_since), copying only the shards they fall in, and reloads the whole
// fleet only when the log cannot say (start-up, a gap, too many changes) or as the periodic
// safety net (resync()).
// Thread-safe: the admin thread writes while the sync thread refreshes. Writes (store write and
// publish) are serialised by a mutex; a refresh reads the store without it, which can take long
// for a big fleet, and publishes only if no write was published meanwhile, reading again
// otherwise, so a refresh never replaces a newer write's snapshot with an older view.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "cloudmeta/instance_record.hpp"
#include "cloudmeta/snapshot.hpp"
#include "cloudmeta/store.hpp"

namespace cloudmeta {

class Fleet {
 public:
  // More change rows than this since the served revision: reloading the fleet is as cheap as
  // rendering them all, and the memory a change set holds stays bounded (documented in
  // docs/architecture.md, "Fleet sync").
  static constexpr std::size_t kMaxChangeRows = 20'000;
  // A prune deletes at most this many change rows per statement, and at most kPruneBatches
  // statements per call: short statements, and a log that grew by a burst shrinks over calls.
  static constexpr std::size_t kPruneBatch = 10'000;
  static constexpr int kPruneBatches = 100;

  // What refreshes did since start, for /metrics. Counted by the thread that publishes.
  struct SyncCounts {
    std::uint64_t full_loads = 0;            // whole-fleet reads (start-up, fallbacks, resync)
    std::uint64_t incremental_applies = 0;   // change sets applied from the change log
    std::uint64_t changes_applied = 0;       // instances in them
    std::uint64_t gaps = 0;                  // change log did not reach back: full load instead
    std::uint64_t too_many = 0;              // more than kMaxChangeRows: full load instead
    std::uint64_t change_rows_pruned = 0;
  };

  Fleet(Store& store, SnapshotHolder& snapshots) : store_(store), snapshots_(snapshots) {}

  // Full rebuild from the store; logs (and skips) rows that fail to render.
  void load_all();
  // Brings the snapshot up to date when Store::revision() moved since the last publish: the
  // changed instances from the change log, or a full rebuild when it cannot say. Returns true
  // if it published.
  bool refresh_if_changed();
  // Deletes change-log rows older than `retention` (bounded, see kPruneBatch); returns how many.
  std::size_t prune_change_log(std::chrono::seconds retention);
  SyncCounts sync_counts() const;
  // load_all(), as a safety net that does not trust the revision (a database restored or failed
  // over to a replica can reach the same revision with other rows).
  void resync();
  // True from a refresh or resync that failed (the store is unreachable) until one succeeds:
  // the metadata surface keeps serving the last snapshot, which may lack other hosts' changes.
  bool stale() const { return stale_since_.load() != kFresh; }
  std::chrono::seconds stale_for() const;

  // SNAPSHOT_CACHE (cloudmeta/snapshot_cache.hpp): from now on each full load also rewrites the
  // file at `path` (a failure is logged, never fatal). `secret` goes into the file: the
  // generated SECRET_KEY, or "" when the operator configured one. Call before the threads start.
  void keep_cache(std::filesystem::path path, std::string secret);
  // Publishes the snapshot saved in the cache file, marked stale (the store was not asked), for
  // a start while the database does not answer. Returns the secret the file holds ("" for
  // none), or nullopt when there is no file or it is refused (logged).
  std::optional<std::string> load_cache(const std::filesystem::path& path);
  // A cache is kept and was last written for another revision than the one served: writes made
  // through this host patch the snapshot without a full load, so the file lags until one.
  bool cache_behind() const;
  // What must commit together with a write, or not at all (its audit entry): called with the
  // stored record (nullptr after a delete) inside the write's Store::transaction, before the
  // change is published. When it throws, nothing is written or published and the exception
  // goes on to the caller.
  using AlongWith = std::function<void(const InstanceRecord* stored)>;

  // Throw ValidationError (render) or StoreError (conflict, not found).
  InstanceRecord create(const InstanceRecord& record, const AlongWith& along_with = {});
  // kNotFound if absent. Keeps the stored row's unknown_fields (members a newer version wrote).
  InstanceRecord replace(const InstanceRecord& record, const AlongWith& along_with = {});
  bool remove(std::string_view instance_id, const AlongWith& along_with = {});

  // DHCP guests (docs/hypervisor.md, "DHCP guests"): gives the learnable record `instance_id`
  // (a `mac` and no address, or a learned one) the address `ip` its MAC was seen at, as an
  // ordinary write (the store, the change log, other hosts). The stored record decides: it must
  // still hold `mac` and be learnable, and pass `check` (the caller binding, against its
  // `interface`). An address another record holds is taken only from a learned holder (whose
  // address is cleared in the same transaction); one an operator set never is. Throws
  // StoreError when the store fails.
  enum class LearnOutcome { kLearned, kAlreadyThere, kNotLearnable, kRefused, kAddressTaken };
  struct Learned {
    LearnOutcome outcome = LearnOutcome::kNotLearnable;
    std::string previous_ip;  // kLearned: the address it had ("" for none)
    std::string holder;       // kAddressTaken, or kLearned from a learned holder: its instance id
  };
  using LearnCheck = std::function<bool(const InstanceRecord& stored)>;
  Learned learn(const std::string& instance_id, const std::string& mac, const std::string& ip,
                const LearnCheck& check = {});

  Store& store() { return store_; }
  const SnapshotHolder& snapshots() const { return snapshots_; }

 private:
  static constexpr std::int64_t kFresh = INT64_MIN;

  // Reads the store and builds a snapshot (no lock held); with to_cache, also rewrites the cache
  // file (kept off the admin thread's write path, which would wait for its fsync).
  std::shared_ptr<const Snapshot> read_all(bool to_cache);
  // write_mutex_ held. The second also logs the size of a full rebuild.
  void publish_locked(std::shared_ptr<const Snapshot> snapshot);
  void publish_loaded_locked(std::shared_ptr<const Snapshot> snapshot);
  void publish_change(const std::string& old_ip, const InstanceRecord& stored);
  // An instance written by this host's last transaction: the address it had, and what is stored
  // now (nullptr: deleted).
  struct Written {
    const std::string& old_ip;
    const std::string& instance_id;
    const InstanceRecord* stored;
  };
  // write_mutex_ held: patches the snapshot with them, or catches up when another writer's
  // revision came between.
  void publish_written_locked(std::initializer_list<Written> written);
  // The served snapshot with the instances written since its revision, or nullptr when the
  // change log cannot say (counted; the caller loads everything). No lock needed.
  std::shared_ptr<const Snapshot> with_changes_since(const std::shared_ptr<const Snapshot>& base,
                                                     std::size_t& changed);
  void publish_applied_locked(std::shared_ptr<const Snapshot> snapshot, std::size_t changed);
  // Applies the change log to the served snapshot (optimistically, as load_all reads); false
  // when it cannot, and nothing was published.
  bool apply_changes();
  // write_mutex_ held: apply_changes() for a writer that found others' writes beside its own;
  // publishes a full reload when the change log cannot say.
  void catch_up_locked();
  template <class Fn>
  auto tracking_staleness(Fn&& fn);

  Store& store_;
  SnapshotHolder& snapshots_;
  std::mutex write_mutex_;       // one write (or one publish) at a time
  std::uint64_t publishes_ = 0;  // snapshots published; guarded by write_mutex_
  // steady_clock nanoseconds since the first failed refresh, or kFresh.
  std::atomic<std::int64_t> stale_since_{kFresh};
  // Set by keep_cache() before the threads start, read-only afterwards.
  std::filesystem::path cache_path_;
  std::string cache_secret_;
  // The revision the cache file was last written (or attempted) for; failures logged once.
  std::atomic<std::int64_t> cache_revision_{kFresh};
  std::atomic<bool> cache_failing_{false};
  // SyncCounts' members, written under write_mutex_ or by the sync thread, read by a scrape.
  std::atomic<std::uint64_t> full_loads_{0};
  std::atomic<std::uint64_t> incremental_applies_{0};
  std::atomic<std::uint64_t> changes_applied_{0};
  std::atomic<std::uint64_t> gaps_{0};
  std::atomic<std::uint64_t> too_many_{0};
  std::atomic<std::uint64_t> change_rows_pruned_{0};
};

}  // namespace cloudmeta
