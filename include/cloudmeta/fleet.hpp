// Fleet: the write side of the metadata surface. Every change to an instance goes through here:
// render first (so a record that cannot be served is refused before it is stored), write to the
// Store, then publish a new Snapshot, so the very next metadata request sees the change.
// Also rebuilds the snapshot when another process (a CLI, another host) changed the store.
// Not thread-safe: used from the thread that owns the Store.
#pragma once

#include <chrono>
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
  bool stale() const { return stale_since_.has_value(); }
  std::chrono::seconds stale_for() const;

  // Throw ValidationError (render) or StoreError (conflict, not found).
  InstanceRecord create(const InstanceRecord& record);
  InstanceRecord replace(const InstanceRecord& record);  // kNotFound if absent
  bool remove(std::string_view instance_id);

  Store& store() { return store_; }
  const SnapshotHolder& snapshots() const { return snapshots_; }

 private:
  void publish_change(const std::string& old_ip, const InstanceRecord& stored);
  template <class Fn>
  auto tracking_staleness(Fn&& fn);

  Store& store_;
  SnapshotHolder& snapshots_;
  std::optional<std::chrono::steady_clock::time_point> stale_since_;
};

}  // namespace cloudmeta
