// Fleet: the write side of the metadata surface. Every change to an instance goes through here:
// render first (so a record that cannot be served is refused before it is stored), write to the
// Store, then publish a new Snapshot, so the very next metadata request sees the change.
// Also rebuilds the snapshot when another process (a CLI, another host) changed the store.
// Not thread-safe: used from the thread that owns the Store.
#pragma once

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

  // Throw ValidationError (render) or StoreError (conflict, not found).
  InstanceRecord create(const InstanceRecord& record);
  InstanceRecord replace(const InstanceRecord& record);  // kNotFound if absent
  bool remove(std::string_view instance_id);

  Store& store() { return store_; }
  const SnapshotHolder& snapshots() const { return snapshots_; }

 private:
  void publish_change(const std::string& old_ip, const InstanceRecord& stored);

  Store& store_;
  SnapshotHolder& snapshots_;
};

}  // namespace cloudmeta
