#include "record_cache.hpp"

namespace cloudmeta::admin {

const RecordCache::ById& RecordCache::records(Store& store) {
  // Read the revision first: a write landing during the reload makes the next call reload again
  // rather than be missed.
  const std::int64_t revision = store.revision();
  if (revision != revision_) {
    ById fresh;
    for (auto& record : store.list_instances()) {
      std::string id = record.instance_id;
      fresh.emplace(std::move(id), std::move(record));
    }
    by_id_ = std::move(fresh);
    revision_ = revision;
  }
  return by_id_;
}

void RecordCache::wrote(Store& store, const std::string& instance_id,
                        const InstanceRecord* after) {
  if (revision_ < 0) return;
  if (store.revision() != revision_ + 1) {
    revision_ = -1;  // someone else wrote too: reload on the next read
    return;
  }
  ++revision_;
  if (after) {
    by_id_.insert_or_assign(instance_id, *after);
  } else {
    by_id_.erase(instance_id);
  }
}

}  // namespace cloudmeta::admin
