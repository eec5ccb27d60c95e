#include "cloudmeta/snapshot.hpp"

#include <mutex>

#include "cloudmeta/log.hpp"

namespace cloudmeta {
namespace {

// The first requests of a freshly loaded fleet race to render their entries: striped locks keep
// one render per entry without a mutex in each of a million entries.
std::mutex& render_lock(const void* entry) {
  static std::array<std::mutex, 64> stripes;
  return stripes[(reinterpret_cast<std::uintptr_t>(entry) >> 6) % stripes.size()];
}

const std::shared_ptr<const Snapshot::Shard>& empty_shard() {
  static const auto empty = std::make_shared<const Snapshot::Shard>();
  return empty;
}

}  // namespace

SnapshotEntry::SnapshotEntry(std::shared_ptr<const RenderedInstance> rendered)
    : ready_(rendered.get()), owner_(std::move(rendered)) {}

SnapshotEntry::SnapshotEntry(InstanceRecord record)
    : pending_(std::make_unique<InstanceRecord>(std::move(record))) {}

const RenderedInstance* SnapshotEntry::render_once() const {
  const std::lock_guard lock(render_lock(this));
  if (const RenderedInstance* ready = ready_.load(std::memory_order_acquire)) return ready;
  if (!pending_) return nullptr;  // failed before: logged then
  try {
    owner_ = render(*pending_);
  } catch (const std::exception& e) {
    log_error("instance_not_served", {{"instance", pending_->instance_id},
                                      {"reason", "record fails to render"},
                                      {"error", e.what()}});
    pending_.reset();
    return nullptr;
  }
  pending_.reset();
  ready_.store(owner_.get(), std::memory_order_release);
  return owner_.get();
}

Snapshot::Snapshot() { shards_.fill(empty_shard()); }

std::shared_ptr<const Snapshot> Snapshot::build(std::vector<InstanceRecord> records,
                                                std::int64_t revision,
                                                std::vector<std::string>* skipped) {
  std::array<Shard, kShardCount> shards;
  for (auto& shard : shards) shard.reserve(records.size() / kShardCount + 1);
  auto snapshot = std::make_shared<Snapshot>();
  for (auto& record : records) {
    const auto key = IpKey::parse(record.ip);
    if (!key) {
      if (skipped) skipped->push_back(record.instance_id);
      continue;
    }
    auto& slot = shards[shard_of(*key)][*key];
    if (!slot) ++snapshot->size_;
    slot = std::make_shared<const SnapshotEntry>(std::move(record));
  }
  for (std::size_t i = 0; i < kShardCount; ++i) {
    if (!shards[i].empty()) snapshot->shards_[i] = std::make_shared<const Shard>(std::move(shards[i]));
  }
  snapshot->revision_ = revision;
  return snapshot;
}

Snapshot::Shard& Snapshot::own_shard(const IpKey& key) {
  auto& slot = shards_[shard_of(key)];
  // The copy made for this write is referenced by this snapshot only until it is published.
  auto copy = std::make_shared<Shard>(*slot);
  Shard& editable = *copy;
  slot = std::move(copy);
  return editable;
}

void Snapshot::erase(const IpKey& key) {
  const Shard& shard = *shards_[shard_of(key)];
  if (shard.find(key) == shard.end()) return;
  own_shard(key).erase(key);
  --size_;
}

std::shared_ptr<const Snapshot> Snapshot::with(const std::string& old_ip,
                                               std::shared_ptr<const RenderedInstance> rendered,
                                               const std::string& ip,
                                               std::int64_t revision) const {
  auto next = std::make_shared<Snapshot>(*this);  // copies shard pointers only
  if (auto old_key = IpKey::parse(old_ip)) next->erase(*old_key);
  if (auto key = IpKey::parse(ip)) {
    auto& slot = next->own_shard(*key)[*key];
    if (!slot) ++next->size_;
    slot = std::make_shared<const SnapshotEntry>(std::move(rendered));
  }
  next->revision_ = revision;
  return next;
}

std::shared_ptr<const Snapshot> Snapshot::without(const std::string& ip,
                                                  std::int64_t revision) const {
  auto next = std::make_shared<Snapshot>(*this);
  if (auto key = IpKey::parse(ip)) next->erase(*key);
  next->revision_ = revision;
  return next;
}

}  // namespace cloudmeta
