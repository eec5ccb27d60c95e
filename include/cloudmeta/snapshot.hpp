// Snapshot: the metadata surface's whole world, an immutable map from caller address to its
// rendered instance. SnapshotHolder publishes a new one atomically; a request loads the pointer
// once and sees one consistent world. Writers (the admin thread) build a new Snapshot that
// shares the unchanged RenderedInstances with the old one.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "cloudmeta/instance_record.hpp"
#include "cloudmeta/ip_key.hpp"
#include "cloudmeta/metadata_tree.hpp"

namespace cloudmeta {

class Snapshot {
 public:
  using ByIp = std::unordered_map<IpKey, std::shared_ptr<const RenderedInstance>, IpKeyHash>;

  Snapshot() = default;
  Snapshot(ByIp by_ip, std::int64_t revision) : by_ip_(std::move(by_ip)), revision_(revision) {}

  // Renders every record. Records that fail to render are skipped and returned in `skipped`
  // (instance ids) so the caller can log them; one bad row must not take the fleet down.
  static std::shared_ptr<const Snapshot> build(const std::vector<InstanceRecord>& records,
                                               std::int64_t revision,
                                               std::vector<std::string>* skipped = nullptr);

  // A copy with one record added or replaced (old_ip: the address it had before, if any).
  std::shared_ptr<const Snapshot> with(const std::string& old_ip,
                                       std::shared_ptr<const RenderedInstance> rendered,
                                       const std::string& ip, std::int64_t revision) const;
  // A copy without the record at `ip`.
  std::shared_ptr<const Snapshot> without(const std::string& ip, std::int64_t revision) const;

  const RenderedInstance* find(const IpKey& caller) const {
    auto it = by_ip_.find(caller);
    return it == by_ip_.end() ? nullptr : it->second.get();
  }
  std::size_t size() const { return by_ip_.size(); }
  std::int64_t revision() const { return revision_; }

 private:
  ByIp by_ip_;
  std::int64_t revision_ = -1;
};

class SnapshotHolder {
 public:
  SnapshotHolder() : current_(std::make_shared<const Snapshot>()) {}
  std::shared_ptr<const Snapshot> load() const { return current_.load(std::memory_order_acquire); }
  void publish(std::shared_ptr<const Snapshot> next) {
    current_.store(std::move(next), std::memory_order_release);
    generation_.store(next_generation(), std::memory_order_release);
  }
  // Changes after every publish, and is never the same for two holders: a metadata thread keeps
  // the last load() and reloads only when this changes, so a request costs one plain load instead
  // of the shared reference count's atomic increments and decrements (contended across threads).
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

 private:
  static std::uint64_t next_generation() {
    static std::atomic<std::uint64_t> counter{0};
    return counter.fetch_add(1, std::memory_order_relaxed) + 1;
  }

  std::atomic<std::shared_ptr<const Snapshot>> current_;
  std::atomic<std::uint64_t> generation_{next_generation()};
};

}  // namespace cloudmeta
