#include "cloudmeta/snapshot.hpp"

#include <algorithm>
#include <mutex>

#include "cloudmeta/log.hpp"
#include "snapshot/served_rendering.hpp"

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

std::shared_ptr<Snapshot::ShardGroup> new_group() {
  auto group = std::make_shared<Snapshot::ShardGroup>();
  group->shards.fill(empty_shard());
  return group;
}

const std::shared_ptr<const Snapshot::ShardGroup>& empty_group() {
  static const std::shared_ptr<const Snapshot::ShardGroup> empty = new_group();
  return empty;
}

const std::shared_ptr<const LearnableTable>& empty_learnable() {
  static const auto empty = std::make_shared<const LearnableTable>();
  return empty;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

std::optional<std::uint64_t> parse_mac(std::string_view mac) {
  if (mac.size() != 17) return std::nullopt;
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < mac.size(); i += 3) {
    const int high = hex_digit(mac[i]);
    const int low = hex_digit(mac[i + 1]);
    if (high < 0 || low < 0 || (i + 2 < mac.size() && mac[i + 2] != ':')) return std::nullopt;
    value = (value << 8) | static_cast<std::uint64_t>(high * 16 + low);
  }
  return value;
}

void LearnableTable::Editor::put(std::uint64_t mac, const std::string& instance_id) {
  forget(instance_id);
  if (const std::string* holder = table_.by_mac_.find(mac)) by_instance_.erase(*holder);
  by_mac_.put(mac, instance_id);
  by_instance_.put(instance_id, mac);
}

void LearnableTable::Editor::forget(const std::string& instance_id) {
  const std::uint64_t* mac = table_.by_instance_.find(instance_id);
  if (!mac) return;
  const std::uint64_t key = *mac;  // `mac` points into the shard erase() may copy
  by_instance_.erase(instance_id);
  if (const std::string* holder = table_.by_mac_.find(key); holder && *holder == instance_id) {
    by_mac_.erase(key);
  }
}

SnapshotEntry::SnapshotEntry(std::shared_ptr<const RenderedInstance> rendered)
    : ready_(rendered.get()), owner_(std::move(rendered)) {}

SnapshotEntry::SnapshotEntry(InstanceRecord record)
    : owner_(std::make_shared<const InstanceRecord>(std::move(record))) {}

SnapshotEntry::SnapshotEntry(PackedRow row) : pending_row_(std::move(row)) {}

SnapshotEntry::SnapshotEntry(std::shared_ptr<const RenderedInstance> rendered,
                             std::uint64_t row_fingerprint)
    : ready_(rendered.get()), owner_(std::move(rendered)), row_fingerprint_(row_fingerprint) {}

SnapshotEntry::SnapshotEntry(const SnapshotEntry& other) {
  // `other` is in a published snapshot: a metadata thread may be rendering it right now.
  const std::lock_guard lock(render_lock(&other));
  owner_ = other.owner_;
  pending_row_ = other.pending_row_;
  row_fingerprint_ = other.row_fingerprint_;
  ready_.store(other.ready_.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

const RenderedInstance* SnapshotEntry::render_once() const {
  const std::lock_guard lock(render_lock(this));
  if (const RenderedInstance* ready = ready_.load(std::memory_order_acquire)) return ready;
  const auto* record = static_cast<const InstanceRecord*>(owner_.get());
  if (!record && !pending_row_) return nullptr;  // failed before: logged then
  std::shared_ptr<const RenderedInstance> rendering;
  std::string instance_id;
  try {
    if (record) {
      instance_id = record->instance_id;
      rendering = served_rendering(*record);
    } else {
      const StoredInstance row = pending_row_.view();
      instance_id = row.instance_id;
      rendering = served_rendering(decode(row));
      row_fingerprint_ = row_fingerprint(row);
    }
  } catch (const std::exception& e) {
    // A row written around Fleet's checks (by hand, or by an older version with other rules).
    log_error("instance_not_served", {{"instance", instance_id},
                                      {"reason", "stored record cannot be served"},
                                      {"error", e.what()}});
    owner_.reset();
    pending_row_.reset();
    return nullptr;
  }
  pending_row_.reset();
  if (!rendering) {  // a stopped instance: nothing to serve, nothing to log
    owner_.reset();
    return nullptr;
  }
  const RenderedInstance* ready = rendering.get();
  owner_ = std::move(rendering);
  ready_.store(ready, std::memory_order_release);
  return ready;
}

// row_fingerprint_ and owner_ are written before ready_ is released, and not after it.
std::uint64_t SnapshotEntry::rendered_row_fingerprint() const {
  return ready_.load(std::memory_order_acquire) ? row_fingerprint_ : 0;
}

std::shared_ptr<const RenderedInstance> SnapshotEntry::rendering() const {
  if (ready_.load(std::memory_order_acquire) == nullptr) return nullptr;
  return std::static_pointer_cast<const RenderedInstance>(owner_);
}

std::uint64_t row_fingerprint(const StoredInstance& row) {
  std::uint64_t h = 0x243F6A8885A308D3ull;
  for (const std::string_view column :
       {row.instance_id, row.ip, row.doc, row.created_at, row.updated_at}) {
    // Column by column with its length, so that moving bytes across a boundary changes it.
    h = (h ^ std::hash<std::string_view>{}(column)) * 0x9E3779B97F4A7C15ull;
    h = (h ^ column.size()) * 0x9E3779B97F4A7C15ull;
  }
  return h == 0 ? 1 : h;
}

Snapshot::Snapshot() : learnable_(empty_learnable()) { groups_.fill(empty_group()); }

Snapshot::Builder::Builder(std::size_t expected_rows, std::shared_ptr<const Snapshot> previous)
    : previous_(std::move(previous)), nodes_(std::make_shared<NodeArena>()),
      shards_(kShardCount) {
  // With about 15 entries per shard at a million rows, the counts vary more than a big shard's
  // would (a Poisson spread: one shard in a thousand gets 2x the mean), so a third more is
  // reserved; the rest rehash once.
  // The hint is only a hint (SQLite's max(rowid) of a hand-edited table can be anything): beyond
  // 8 Mi rows the shards grow as they fill instead of reserving memory up front.
  constexpr std::size_t kMaxReservedRows = std::size_t{1} << 23;
  const std::size_t per_shard = std::min(expected_rows, kMaxReservedRows) / kShardCount;
  reserve_per_shard_ = per_shard + per_shard / 3 + 1;
}

std::optional<IpKey> Snapshot::Builder::key_of(std::string_view ip,
                                               std::string_view instance_id) {
  if (ip.empty()) return std::nullopt;  // a DHCP guest before its first call: no address
  auto key = IpKey::parse(ip);
  if (!key) skipped_.emplace_back(instance_id);
  return key;
}

template <class Value>
void Snapshot::Builder::insert(const IpKey& key, Value&& value) {
  std::unique_ptr<Shard>& slot = shards_[shard_of(key)];
  if (!slot) {
    slot = std::make_unique<Shard>(reserve_per_shard_, IpKeyHash{}, std::equal_to<IpKey>{},
                                   ArenaAllocator<Shard::value_type>(nodes_));
  }
  Shard& shard = *slot;
  auto [it, inserted] = shard.try_emplace(key, std::forward<Value>(value));
  if (inserted) return;
  // try_emplace left `value` alone: the later row for an address wins.
  shard.erase(it);
  shard.try_emplace(key, std::forward<Value>(value));
}

void Snapshot::Builder::add_learnable(std::string_view mac, std::string_view instance_id) {
  if (const auto key = parse_mac(mac)) learnable_editor_.put(*key, std::string(instance_id));
}

void Snapshot::Builder::add(InstanceRecord record) {
  if (is_learnable(record)) add_learnable(record.mac, record.instance_id);
  if (const auto key = key_of(record.ip, record.instance_id)) insert(*key, std::move(record));
}

void Snapshot::Builder::add(const StoredInstance& row) {
  if (!row.learn_mac.empty()) add_learnable(row.learn_mac, row.instance_id);
  const auto key = key_of(row.ip, row.instance_id);
  if (!key) return;
  // A reload: an unchanged row keeps the rendering the previous snapshot has of it. (Only rows
  // rendered before are hashed, so a first load hashes nothing.)
  if (const SnapshotEntry* before = previous_ ? previous_->entry(*key) : nullptr) {
    const std::uint64_t fingerprint = before->rendered_row_fingerprint();
    if (fingerprint != 0 && fingerprint == row_fingerprint(row)) {
      insert(*key, SnapshotEntry(before->rendering(), fingerprint));
      return;
    }
  }
  insert(*key, rows_.pack(row));
}

std::shared_ptr<const Snapshot> Snapshot::Builder::finish(std::int64_t revision) {
  auto snapshot = std::make_shared<Snapshot>();
  for (std::size_t g = 0; g < kGroupCount; ++g) {
    std::shared_ptr<ShardGroup> group;
    for (std::size_t s = 0; s < kShardsPerGroup; ++s) {
      std::unique_ptr<Shard> shard = std::move(shards_[g * kShardsPerGroup + s]);
      if (!shard || shard->empty()) continue;
      // A hint far above the count (SQLite's max(rowid) after many deletions) would otherwise
      // keep its empty buckets for the snapshot's life. (Growing without a hint leaves at most
      // about twice as many buckets as entries.)
      if (shard->bucket_count() > 4 * shard->size() + 16) shard->rehash(0);
      snapshot->size_ += shard->size();
      if (!group) group = new_group();
      group->shards[s] = std::shared_ptr<const Shard>(std::move(shard));
    }
    if (group) snapshot->groups_[g] = std::move(group);
  }
  if (learnable_->size() != 0) snapshot->learnable_ = std::move(learnable_);
  snapshot->revision_ = revision;
  return snapshot;
}

std::shared_ptr<const Snapshot> Snapshot::build(std::vector<InstanceRecord> records,
                                                std::int64_t revision,
                                                std::vector<std::string>* skipped) {
  Builder builder(records.size());
  for (auto& record : records) builder.add(std::move(record));
  if (skipped) *skipped = builder.skipped();
  return builder.finish(revision);
}

Snapshot::Editor::Editor(const Snapshot& base)
    : next_(std::make_shared<Snapshot>(base)) {}  // copies shard pointers only

// The copies are this edit's alone until the snapshot is published.
Snapshot::Shard& Snapshot::Editor::own(const IpKey& key) {
  const std::size_t index = shard_of(key);
  std::unique_ptr<OwnedGroup>& owned = owned_[index / kShardsPerGroup];
  if (!owned) {
    owned = std::make_unique<OwnedGroup>();
    auto copy = std::make_shared<ShardGroup>(*next_->groups_[index / kShardsPerGroup]);
    owned->group = copy.get();
    next_->groups_[index / kShardsPerGroup] = std::move(copy);
  }
  Shard*& shard = owned->shards[index % kShardsPerGroup];
  if (!shard) {
    std::shared_ptr<const Shard>& slot = owned->group->shards[index % kShardsPerGroup];
    auto copy = std::make_shared<Shard>(*slot);
    shard = copy.get();
    slot = std::move(copy);
  }
  return *shard;
}

void Snapshot::Editor::erase(const IpKey& key) {
  if (!next_->entry(key)) return;
  own(key).erase(key);
  --next_->size_;
}

void Snapshot::Editor::put(const IpKey& key, std::shared_ptr<const RenderedInstance> rendered,
                           std::uint64_t row_fingerprint) {
  Shard& shard = own(key);
  if (shard.erase(key) == 0) ++next_->size_;
  shard.try_emplace(key, std::move(rendered), row_fingerprint);
}

LearnableTable::Editor& Snapshot::Editor::own_learnable() {
  if (!learnable_editor_) {
    learnable_copy_ = std::make_shared<LearnableTable>(*next_->learnable_);
    next_->learnable_ = learnable_copy_;
    learnable_editor_.emplace(*learnable_copy_);
  }
  return *learnable_editor_;
}

void Snapshot::Editor::forget_learnable(const std::string& instance_id) {
  // Most writes are of instances that are not in the table: nothing is copied for them.
  if (!learnable_editor_ && !next_->learnable_->knows(instance_id)) return;
  own_learnable().forget(instance_id);
}

void Snapshot::Editor::learnable(const InstanceRecord& record) {
  if (!is_learnable(record)) return;
  if (const auto mac = parse_mac(record.mac)) own_learnable().put(*mac, record.instance_id);
}

std::shared_ptr<const Snapshot> Snapshot::Editor::finish(std::int64_t revision) {
  next_->revision_ = revision;
  return std::move(next_);
}

std::shared_ptr<const Snapshot> Snapshot::with(const std::string& old_ip,
                                               std::shared_ptr<const RenderedInstance> rendered,
                                               const std::string& ip,
                                               std::int64_t revision) const {
  Editor editor(*this);
  if (auto old_key = IpKey::parse(old_ip)) editor.erase(*old_key);
  if (auto key = IpKey::parse(ip)) editor.put(*key, std::move(rendered));
  return editor.finish(revision);
}

std::shared_ptr<const Snapshot> Snapshot::without(const std::string& ip,
                                                  std::int64_t revision) const {
  Editor editor(*this);
  if (auto key = IpKey::parse(ip)) editor.erase(*key);
  return editor.finish(revision);
}

}  // namespace cloudmeta
