// Fleet: the write side of the metadata surface. Every change to an instance goes through here:
// render first (so a record that cannot be served is refused before it is stored), write to the
// Store, then publish a new Snapshot, so the very next metadata request sees the change.
// Also rebuilds the snapshot when another process (a CLI, another host) changed the store.
// Thread-safe: the admin thread writes while the sync thread rebuilds. Writes (store write and
// publish) are serialised by a mutex; a rebuild reads the store without it, which can take long
// for a big fleet, and publishes only if no write was published meanwhile, reading again
// otherwise, so a rebuild never replaces a newer write's snapshot with an older view.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
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
  Fleet(Store& store, SnapshotHolder& snapshots) : store_(store), snapshots_(snapshots) {}

  // Full rebuild from the store; logs (and skips) rows that fail to render.
  void load_all();
  // Rebuilds when Store::revision() moved since the last publish. Returns true if it did.
  bool refresh_if_changed();
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
};

}  // namespace cloudmeta
