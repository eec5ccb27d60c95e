// ShardedMap: an immutable hash map split into 65,536 shards (256 groups of 256) behind shared
// pointers, edited by copying: an edit copies the shards it touches (and their groups) once
// each and shares the rest with the map it started from. The snapshot's address table has the
// same shape with an arena of its own (cloudmeta/snapshot.hpp); this one holds the small tables
// beside it (the MACs of DHCP guests), whose entries are a few bytes each.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <utility>

namespace cloudmeta {

template <class Key, class Value, class Hash>
class ShardedMap {
 public:
  static constexpr std::size_t kGroupCount = 256;
  static constexpr std::size_t kShardsPerGroup = 256;
  using Shard = std::unordered_map<Key, Value, Hash>;
  struct ShardGroup {
    std::array<std::shared_ptr<const Shard>, kShardsPerGroup> shards;
  };

  ShardedMap() { groups_.fill(empty_group()); }

  const Value* find(const Key& key) const {
    const std::size_t index = shard_of(key);
    const Shard& shard = *groups_[index / kShardsPerGroup]->shards[index % kShardsPerGroup];
    auto it = shard.find(key);
    return it == shard.end() ? nullptr : &it->second;
  }
  std::size_t size() const { return size_; }

  // Changes `map` in place, copying each shard and group it touches the first time (a map that
  // is already published is never written: copy it first, which copies 256 pointers). Used by
  // one thread; `map` must outlive the editor.
  class Editor {
   public:
    explicit Editor(ShardedMap& map) : map_(map) {}
    void put(const Key& key, Value value) {
      Shard& shard = own(key);
      auto [it, inserted] = shard.insert_or_assign(key, std::move(value));
      if (inserted) ++map_.size_;
    }
    void erase(const Key& key) {
      if (!map_.find(key)) return;
      own(key).erase(key);
      --map_.size_;
    }

   private:
    struct OwnedGroup {
      ShardGroup* group = nullptr;
      std::array<Shard*, kShardsPerGroup> shards{};
    };
    Shard& own(const Key& key) {
      const std::size_t index = shard_of(key);
      std::unique_ptr<OwnedGroup>& owned = owned_[index / kShardsPerGroup];
      if (!owned) {
        owned = std::make_unique<OwnedGroup>();
        auto copy = std::make_shared<ShardGroup>(*map_.groups_[index / kShardsPerGroup]);
        owned->group = copy.get();
        map_.groups_[index / kShardsPerGroup] = std::move(copy);
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

    ShardedMap& map_;
    std::array<std::unique_ptr<OwnedGroup>, kGroupCount> owned_;
  };

 private:
  // Fibonacci hashing, as the address table's shard_of: the top 16 bits of the product.
  static std::size_t shard_of(const Key& key) {
    return static_cast<std::size_t>((static_cast<std::uint64_t>(Hash{}(key)) *
                                     0x9E3779B97F4A7C15ull) >>
                                    48);
  }
  static const std::shared_ptr<const ShardGroup>& empty_group() {
    static const std::shared_ptr<const ShardGroup> empty = [] {
      auto group = std::make_shared<ShardGroup>();
      group->shards.fill(std::make_shared<const Shard>());
      return group;
    }();
    return empty;
  }

  std::array<std::shared_ptr<const ShardGroup>, kGroupCount> groups_;
  std::size_t size_ = 0;
};

}  // namespace cloudmeta
