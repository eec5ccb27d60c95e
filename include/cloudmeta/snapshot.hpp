// Snapshot: the metadata surface's whole world, an immutable map from caller address to its
// rendered instance. SnapshotHolder publishes a new one atomically; a request loads the pointer
// once and sees one consistent world.
//
// Built for fleets of a million instances:
// - Entries loaded from the store are rendered on their first request, not at load: start-up
//   reads the rows and builds the map, and an instance that is never asked costs its row only,
//   packed into a block with its neighbours' (cloudmeta/packed_row.hpp; docs/benchmarks.md,
//   "Start-up and memory"). A write renders at once (Fleet refuses what cannot be rendered
//   before it stores it), so its entry is ready.
// - The map is split into kShardCount (65,536) shards, 256 groups of 256, each behind a shared
//   pointer: a write copies the one shard its address falls in, that shard's group (256
//   pointers) and the snapshot's 256 group pointers, and shares everything else with the
//   previous snapshot. At a million instances a shard holds about 15 entries, so a write costs
//   about the same at 10,000 and at 1,000,000 instances (docs/benchmarks.md, "Fleet sync").
//   Other hosts' writes are applied the same way, a batch at a time (Snapshot::Editor): each
//   shard and group the batch touches is copied once.
// - DHCP guests (records with a `mac` and no `ip`, or a learned one) are also indexed by MAC in a
//   table of their own (LearnableTable), so that a caller whose address is unknown can be matched
//   by the MAC the kernel resolves its address to (docs/hypervisor.md, "DHCP guests"). The
//   address table, and so a known caller's lookup, is untouched by it.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cloudmeta/instance_record.hpp"
#include "cloudmeta/ip_key.hpp"
#include "cloudmeta/metadata_tree.hpp"
#include "cloudmeta/node_arena.hpp"
#include "cloudmeta/packed_row.hpp"
#include "cloudmeta/sharded_map.hpp"
#include "cloudmeta/store.hpp"

namespace cloudmeta {

// One instance of a snapshot: either rendered when it was made, or rendered by the first request
// that needs it (any metadata thread; the others wait for that one render, never repeat it).
// Lives in its shard's map node (40 bytes, no allocation of its own: a million of them are
// touched at start-up). A copy, made when a write copies a shard, shares the rendering, or what
// is left to render: an entry not yet rendered is then rendered once per copy, on request.
class SnapshotEntry {
 public:
  explicit SnapshotEntry(std::shared_ptr<const RenderedInstance> rendered);
  explicit SnapshotEntry(InstanceRecord record);
  explicit SnapshotEntry(PackedRow row);  // decoded too on first request
  // A rendering carried over from the previous snapshot, of a row with this fingerprint.
  SnapshotEntry(std::shared_ptr<const RenderedInstance> rendered, std::uint64_t row_fingerprint);
  SnapshotEntry(const SnapshotEntry& other);
  SnapshotEntry& operator=(const SnapshotEntry&) = delete;

  // nullptr when the record cannot be rendered (a row written around Fleet's checks, e.g. by
  // hand): logged once, and the caller is then answered as an unknown one.
  const RenderedInstance* rendered() const {
    if (const RenderedInstance* ready = ready_.load(std::memory_order_acquire)) return ready;
    return render_once();
  }

  // For a reload, which may keep this entry's rendering for an unchanged row: the fingerprint of
  // the row it was rendered from (row_fingerprint()), or 0 when it is not rendered yet or was
  // rendered from a record; and the rendering itself (nullptr when not rendered).
  std::uint64_t rendered_row_fingerprint() const;
  std::shared_ptr<const RenderedInstance> rendering() const;

 private:
  const RenderedInstance* render_once() const;

  mutable std::atomic<const RenderedInstance*> ready_{nullptr};
  // Both guarded by a mutex striped on this entry's address (snapshot.cpp) until ready_ is set.
  // owner_ holds the rendering once ready_ is set; before, an InstanceRecord still to render
  // (entries made from records), or nothing (entries made from rows, and failed renders).
  mutable std::shared_ptr<const void> owner_;
  mutable PackedRow pending_row_;
  // Of the row the rendering came from (written before ready_ is set); 0 for renderings of
  // records (admin writes), which a reload renders again.
  mutable std::uint64_t row_fingerprint_ = 0;
};

// A hash of every column of a stored row: equal rows render alike (render() depends on nothing
// else), so a reload can keep the rendering of a row it finds unchanged. Never 0.
std::uint64_t row_fingerprint(const StoredInstance& row);

// "0e:49:61:0f:c3:11" (lower case, as record_json stores a mac) as 48 bits; nullopt otherwise.
std::optional<std::uint64_t> parse_mac(std::string_view mac);

// Whether learning may give the record an address: it has a MAC, and no address or a learned
// one (an address an operator set never moves).
inline bool is_learnable(const InstanceRecord& record) {
  return !record.mac.empty() && (record.ip.empty() || record.ip_learned);
}

// The MACs of the learnable records and back: which instance a MAC names, and which MAC an
// instance had (to drop it when the instance changes). Sharded like the address table, so a
// write copies two shards of a few entries.
class LearnableTable {
 public:
  struct MacHash {
    std::size_t operator()(std::uint64_t mac) const { return static_cast<std::size_t>(mac); }
  };
  const std::string* instance_of(std::uint64_t mac) const { return by_mac_.find(mac); }
  std::size_t size() const { return by_mac_.size(); }
  bool knows(const std::string& instance_id) const {
    return by_instance_.find(instance_id) != nullptr;
  }

  // Edits a table that is not published yet (a copy, or one being built).
  class Editor {
   public:
    explicit Editor(LearnableTable& table)
        : table_(table), by_mac_(table.by_mac_), by_instance_(table.by_instance_) {}
    // With two records for one MAC (only a corrupt store has them) the later wins.
    void put(std::uint64_t mac, const std::string& instance_id);
    void forget(const std::string& instance_id);

   private:
    LearnableTable& table_;
    ShardedMap<std::uint64_t, std::string, MacHash>::Editor by_mac_;
    ShardedMap<std::string, std::uint64_t, std::hash<std::string>>::Editor by_instance_;
  };

 private:
  ShardedMap<std::uint64_t, std::string, MacHash> by_mac_;
  ShardedMap<std::string, std::uint64_t, std::hash<std::string>> by_instance_;
};

class Snapshot {
 public:
  static constexpr std::size_t kGroupCount = 256;
  static constexpr std::size_t kShardsPerGroup = 256;
  static constexpr std::size_t kShardCount = kGroupCount * kShardsPerGroup;
  // A loaded shard's nodes come from its build's NodeArena; a shard copied for a write, from
  // the heap.
  using Shard = std::unordered_map<IpKey, SnapshotEntry, IpKeyHash, std::equal_to<IpKey>,
                                   ArenaAllocator<std::pair<const IpKey, SnapshotEntry>>>;
  // Empty shards are all one shared empty shard.
  struct ShardGroup {
    std::array<std::shared_ptr<const Shard>, kShardsPerGroup> shards;
  };

  Snapshot();

  // Indexes records or stored rows, one at a time, for rendering on first request. Entries
  // whose address does not parse are skipped and listed in skipped() (instance ids) for the
  // caller to log; one bad row must not take the fleet down. With two entries for one address
  // (only a corrupt store has them) the later wins.
  class Builder {
   public:
    // expected_rows: how many adds to size the shards for (Store::instance_count_hint()), so
    // that each is allocated once instead of rehashed a dozen times; 0 when unknown.
    // previous: the snapshot being replaced (a reload), whose renderings of rows that have not
    // changed are kept instead of rendered again on their next request.
    explicit Builder(std::size_t expected_rows = 0,
                     std::shared_ptr<const Snapshot> previous = nullptr);
    // learnable_editor_ refers to *learnable_: a moved or copied Builder would edit the table
    // of the one it came from.
    Builder(const Builder&) = delete;
    Builder& operator=(const Builder&) = delete;
    void add(InstanceRecord record);
    void add(const StoredInstance& row);  // copied: the row's views may die after this call
    std::shared_ptr<const Snapshot> finish(std::int64_t revision);
    const std::vector<std::string>& skipped() const { return skipped_; }

   private:
    // The entry's address, or nullopt: none yet (a DHCP guest), or after listing the instance in
    // skipped_.
    std::optional<IpKey> key_of(std::string_view ip, std::string_view instance_id);
    void add_learnable(std::string_view mac, std::string_view instance_id);
    template <class Value>
    void insert(const IpKey& key, Value&& value);

    RowArena rows_;
    std::shared_ptr<const Snapshot> previous_;
    std::shared_ptr<NodeArena> nodes_;
    std::size_t reserve_per_shard_ = 0;
    // Made on the first entry that falls in them: most of a small fleet's shards stay empty.
    std::vector<std::unique_ptr<Shard>> shards_;
    std::vector<std::string> skipped_;
    std::shared_ptr<LearnableTable> learnable_ = std::make_shared<LearnableTable>();
    LearnableTable::Editor learnable_editor_{*learnable_};
  };

  static std::shared_ptr<const Snapshot> build(std::vector<InstanceRecord> records,
                                               std::int64_t revision,
                                               std::vector<std::string>* skipped = nullptr);

  // A copy of a snapshot with changes: the shards the changes fall in are copied (onto the heap,
  // once each however many changes they take) and every other shard is shared, so a batch
  // costs what its shards hold, not the fleet. To apply writes to several instances, erase the
  // address each had first and put them all afterwards: within one batch an address may pass
  // from one instance to another. Used by one thread; `base` must outlive the editor.
  class Editor {
   public:
    explicit Editor(const Snapshot& base);
    void erase(const IpKey& key);  // nothing when absent
    // Adds or replaces the entry at `key`. rendered == nullptr: a record that cannot be served
    // (the caller logged why), answered as an unknown caller, as a reload's failed render is.
    // row_fingerprint: of the row it was rendered from (row_fingerprint()), so a reload keeps
    // the rendering while the row stays the same; 0 for a record's rendering.
    void put(const IpKey& key, std::shared_ptr<const RenderedInstance> rendered,
             std::uint64_t row_fingerprint = 0);
    // The learnable table: drops the instance's MAC (nothing when it has none there), and indexes
    // a learnable record's. To apply a changed record: forget its id, then learnable() it.
    void forget_learnable(const std::string& instance_id);
    void learnable(const InstanceRecord& record);
    std::shared_ptr<const Snapshot> finish(std::int64_t revision);

   private:
    // The group and shards copied for this edit (null: still shared with the base).
    struct OwnedGroup {
      ShardGroup* group = nullptr;
      std::array<Shard*, kShardsPerGroup> shards{};
    };
    Shard& own(const IpKey& key);

    LearnableTable::Editor& own_learnable();

    std::shared_ptr<Snapshot> next_;
    std::array<std::unique_ptr<OwnedGroup>, kGroupCount> owned_;
    // The learnable table, copied on its first change (most writes leave it alone).
    std::shared_ptr<LearnableTable> learnable_copy_;
    std::optional<LearnableTable::Editor> learnable_editor_;
  };

  // A copy with one record added or replaced (old_ip: the address it had before, if any).
  std::shared_ptr<const Snapshot> with(const std::string& old_ip,
                                       std::shared_ptr<const RenderedInstance> rendered,
                                       const std::string& ip, std::int64_t revision) const;
  // A copy without the record at `ip`.
  std::shared_ptr<const Snapshot> without(const std::string& ip, std::int64_t revision) const;

  const RenderedInstance* find(const IpKey& caller) const {
    const SnapshotEntry* found = entry(caller);
    return found ? found->rendered() : nullptr;
  }
  const SnapshotEntry* entry(const IpKey& caller) const {
    const std::size_t index = shard_of(caller);
    const Shard& shard = *groups_[index / kShardsPerGroup]->shards[index % kShardsPerGroup];
    auto it = shard.find(caller);
    return it == shard.end() ? nullptr : &it->second;
  }
  std::size_t size() const { return size_; }
  std::int64_t revision() const { return revision_; }
  // The learnable record a MAC names (its instance id), or nullptr. Asked only for callers
  // whose address is unknown.
  const std::string* learnable_instance(std::string_view mac) const {
    const auto key = parse_mac(mac);
    return key ? learnable_->instance_of(*key) : nullptr;
  }
  const LearnableTable& learnable_table() const { return *learnable_; }
  // Every entry, shard by shard, in no particular order (to compare two hosts' snapshots).
  template <class Visit>
  void for_each(Visit&& visit) const {
    for (const auto& group : groups_) {
      for (const auto& shard : group->shards) {
        for (const auto& [key, entry] : *shard) visit(key, entry);
      }
    }
  }

 private:
  // Fibonacci hashing of the key's hash: the top bits depend on every bit of it (IPv4 keys
  // differ only in the hash's upper half). The top 8 bits pick the group, the next 8 the shard
  // in it.
  static std::size_t shard_of(const IpKey& key) {
    return static_cast<std::size_t>((IpKeyHash{}(key) * 0x9E3779B97F4A7C15ull) >> 48);
  }
  static_assert(kShardCount == std::size_t{1} << 16, "shard_of() keeps the top 16 bits");

  std::array<std::shared_ptr<const ShardGroup>, kGroupCount> groups_;
  std::shared_ptr<const LearnableTable> learnable_;
  std::size_t size_ = 0;
  std::int64_t revision_ = -1;
};

class SnapshotHolder {
 public:
  SnapshotHolder() : current_(std::make_shared<const Snapshot>()) {}
  // Under a mutex, not std::atomic<std::shared_ptr>: libstdc++ 12's load() drops its lock bit
  // with a relaxed store after reading the pointer, so nothing orders that read before the next
  // store's write (ThreadSanitizer reports it, google/sanitizers#1558; harmless on x86-64,
  // not on weaker memory models). Taken once per publish per thread (generation()), never
  // per request.
  std::shared_ptr<const Snapshot> load() const {
    std::lock_guard lock(mutex_);
    return current_;
  }
  void publish(std::shared_ptr<const Snapshot> next) {
    std::shared_ptr<const Snapshot> previous;
    {
      std::lock_guard lock(mutex_);
      previous = std::exchange(current_, std::move(next));
    }
    generation_.store(next_generation(), std::memory_order_release);
    if (on_publish_) on_publish_();
    // `previous` goes here, outside the lock: a last reference frees a fleet's worth of rows.
  }
  // Called on the publishing thread after every publish(); set once, before any other thread
  // uses the holder. The runtime has it tell each metadata thread to reload the snapshot it
  // caches (http/snapshot_cache.hpp), so a thread that serves nothing lets a superseded one go.
  void on_publish(std::function<void()> listener) { on_publish_ = std::move(listener); }
  // Changes after every publish, and is never the same for two holders: a metadata thread keeps
  // the last load() and reloads only when this changes, so a request costs one plain load instead
  // of the shared reference count's atomic increments and decrements (contended across threads).
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

 private:
  static std::uint64_t next_generation() {
    static std::atomic<std::uint64_t> counter{0};
    return counter.fetch_add(1, std::memory_order_relaxed) + 1;
  }

  mutable std::mutex mutex_;
  std::shared_ptr<const Snapshot> current_;
  std::atomic<std::uint64_t> generation_{next_generation()};
  std::function<void()> on_publish_;
};

}  // namespace cloudmeta
