#include "cloudmeta/node_arena.hpp"

#include <sys/mman.h>

#include <cstdint>
#include <new>

namespace cloudmeta {
namespace {

constexpr std::size_t kBlockSize = std::size_t{2} << 20;

void* map_populated(std::size_t bytes) {
  // MAP_POPULATE: page tables filled in one call, not one fault per page (packed_row.cpp).
  void* at = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (at == MAP_FAILED) throw std::bad_alloc();
  return at;
}

}  // namespace

NodeArena::~NodeArena() {
  for (const auto& [at, bytes] : blocks_) ::munmap(at, bytes);
}

void* NodeArena::allocate(std::size_t bytes, std::size_t alignment) {
  const auto at = reinterpret_cast<std::uintptr_t>(next_);
  char* aligned = reinterpret_cast<char*>((at + alignment - 1) & ~(alignment - 1));
  if (next_ && aligned + bytes <= end_) {
    next_ = aligned + bytes;
    return aligned;
  }
  // Mappings are page-aligned, which satisfies every alignment a map asks for.
  if (bytes > kBlockSize / 4) {  // a big bucket array: a mapping of its own
    blocks_.reserve(blocks_.size() + 1);
    void* own = map_populated(bytes);
    blocks_.emplace_back(own, bytes);
    return own;
  }
  blocks_.reserve(blocks_.size() + 1);
  char* block = static_cast<char*>(map_populated(kBlockSize));
  blocks_.emplace_back(block, kBlockSize);
  next_ = block + bytes;
  end_ = block + kBlockSize;
  return block;
}

}  // namespace cloudmeta
