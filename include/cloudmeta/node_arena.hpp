// NodeArena: the memory a snapshot build's shard maps take their nodes from, bump
// allocated out of blocks whose pages are populated at once (as RowArena's, and for the same
// reason: a million map nodes from malloc meant ~16,000 page faults and a malloc call each).
// Nothing is freed before the arena: the maps that use it are built once and then only read; a
// write copies its shard into ordinary heap memory (ArenaAllocator's copies allocate with new).
#pragma once

#include <cstddef>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

namespace cloudmeta {

class NodeArena {
 public:
  NodeArena() = default;
  NodeArena(const NodeArena&) = delete;
  NodeArena& operator=(const NodeArena&) = delete;
  ~NodeArena();

  // Throws std::bad_alloc when no memory can be mapped. Used by one thread at a time.
  void* allocate(std::size_t bytes, std::size_t alignment);

 private:
  std::vector<std::pair<void*, std::size_t>> blocks_;  // mapped address, bytes
  char* next_ = nullptr;
  char* end_ = nullptr;
};

// A std allocator drawing from a shared NodeArena; without one (default-constructed, or a copy
// made for a copied container) it is std::allocator.
template <class T>
class ArenaAllocator {
 public:
  using value_type = T;
  using propagate_on_container_move_assignment = std::true_type;
  using propagate_on_container_swap = std::true_type;
  using is_always_equal = std::false_type;

  ArenaAllocator() noexcept = default;
  explicit ArenaAllocator(std::shared_ptr<NodeArena> arena) noexcept : arena_(std::move(arena)) {}
  template <class U>
  ArenaAllocator(const ArenaAllocator<U>& other) noexcept : arena_(other.arena_) {}

  // Single objects (a map's nodes) come from the arena; arrays (its buckets) from the heap, so
  // that a rehash gives the old ones back.
  T* allocate(std::size_t n) {
    if (!arena_ || n != 1) return std::allocator<T>().allocate(n);
    return static_cast<T*>(arena_->allocate(sizeof(T), alignof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (!arena_ || n != 1) std::allocator<T>().deallocate(p, n);  // a node goes with the arena
  }
  // A copied container (a shard copied for a write) is edited, so it allocates from the heap.
  ArenaAllocator select_on_container_copy_construction() const { return ArenaAllocator(); }

  template <class U>
  friend bool operator==(const ArenaAllocator& a, const ArenaAllocator<U>& b) {
    return a.arena_ == b.arena_;
  }

 private:
  template <class U>
  friend class ArenaAllocator;
  std::shared_ptr<NodeArena> arena_;
};

}  // namespace cloudmeta
