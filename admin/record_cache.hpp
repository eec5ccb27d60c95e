// The instance records as the admin thread last read them, so that listing, searching and sorting
// 100k records does not parse 100k JSON documents per request. Reloaded from the Store only when
// Store::revision() moved past what the cache has seen; this process's own writes are applied in
// place when the revision moved by exactly one (that write and no other). Admin thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "cloudmeta/instance_record.hpp"
#include "cloudmeta/store.hpp"

namespace cloudmeta::admin {

class RecordCache {
 public:
  using ById = std::map<std::string, InstanceRecord, std::less<>>;

  const ById& records(Store& store);
  // After one write of this process (after == nullptr: the record was deleted).
  void wrote(Store& store, const std::string& instance_id, const InstanceRecord* after);

 private:
  ById by_id_;
  std::int64_t revision_ = -1;  // -1: nothing loaded, or no longer trusted
};

}  // namespace cloudmeta::admin
