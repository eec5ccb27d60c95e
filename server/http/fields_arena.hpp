// FieldsArena: a per-connection bump allocator for Beast's request fields, as Beast's
// http_server_fast example does. With std::allocator, parsing a request allocates once for its
// target and once per header field; with the arena, a keep-alive connection parses every request
// into the same few hundred bytes. The arena rewinds when the last block of a request is freed
// (a parser per request frees everything), and falls back to operator new when a request's
// fields do not fit (up to IMDS_HEADER_LIMIT, so a large request still works, just allocates).
// Not thread-safe: one connection, one coroutine.
#pragma once

#include <cstddef>
#include <memory>
#include <new>

namespace cloudmeta::http_server {

class FieldsArena {
 public:
  static constexpr std::size_t kBytes = 2048;  // AWS SDKs and cloud-init send < 1 KiB of headers

  void* allocate(std::size_t bytes, std::size_t align) {
    std::size_t offset = (used_ + align - 1) & ~(align - 1);
    if (offset + bytes <= kBytes) {
      used_ = offset + bytes;
      ++live_;
      return storage_ + offset;
    }
    return ::operator new(bytes);
  }

  void deallocate(void* p, std::size_t bytes) {
    auto* bytes_p = static_cast<unsigned char*>(p);
    if (bytes_p >= storage_ && bytes_p < storage_ + kBytes) {
      if (--live_ == 0) used_ = 0;
      return;
    }
    ::operator delete(p, bytes);
  }

 private:
  alignas(std::max_align_t) unsigned char storage_[kBytes];
  std::size_t used_ = 0;
  std::size_t live_ = 0;
};

template <class T>
class FieldsAllocator {
 public:
  using value_type = T;
  using is_always_equal = std::false_type;
  using propagate_on_container_copy_assignment = std::true_type;
  using propagate_on_container_move_assignment = std::true_type;
  using propagate_on_container_swap = std::true_type;

  explicit FieldsAllocator(FieldsArena& arena) noexcept : arena_(&arena) {}
  template <class U>
  FieldsAllocator(const FieldsAllocator<U>& other) noexcept : arena_(other.arena()) {}

  T* allocate(std::size_t n) {
    return static_cast<T*>(arena_->allocate(n * sizeof(T), alignof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept { arena_->deallocate(p, n * sizeof(T)); }

  FieldsArena* arena() const noexcept { return arena_; }

  template <class U>
  friend bool operator==(const FieldsAllocator& a, const FieldsAllocator<U>& b) noexcept {
    return a.arena() == b.arena();
  }

 private:
  FieldsArena* arena_;
};

}  // namespace cloudmeta::http_server
