// PackedRow: a stored instance row kept for rendering on first request, its five fields copied
// back to back into a shared block instead of five heap strings.
//
// Why blocks: a snapshot of 1,000,000 instances holds about a gigabyte of rows. Filled one malloc
// at a time, every fresh 4 KiB page costs a page fault on first touch, and on a virtualised host
// a fault is microseconds (docs/benchmarks.md, "Start-up with 1,000,000 instances"). A RowArena
// maps blocks of kBlockSize with their pages populated in one system call and packs rows into
// them; a block is unmapped when the last row in it is released (rendered, or its entry gone).
// Thread-safe release: rows are released by whichever metadata thread renders or drops them.
#pragma once

#include <cstddef>

#include "cloudmeta/store.hpp"

namespace cloudmeta {

class RowBlock;

// One pointer: the block a row lies in is found from the row's address (blocks are aligned to
// kBlockSize), which keeps a snapshot entry, and so a map node per instance, 8 bytes smaller.
class PackedRow {
 public:
  PackedRow() = default;
  PackedRow(const PackedRow& other) noexcept;  // shares the bytes: one more reference to the block
  PackedRow(PackedRow&& other) noexcept;
  PackedRow& operator=(const PackedRow& other) noexcept;
  PackedRow& operator=(PackedRow&& other) noexcept;
  ~PackedRow() { reset(); }

  explicit operator bool() const { return bytes_ != nullptr; }
  // Views into the block, valid until reset() or destruction. Precondition: *this is not empty.
  StoredInstance view() const;
  void reset();

 private:
  friend class RowArena;
  explicit PackedRow(const char* bytes) : bytes_(bytes) {}

  const char* bytes_ = nullptr;
};

// Packs rows into blocks; one per snapshot build, used by one thread.
class RowArena {
 public:
  // Also the blocks' alignment (PackedRow finds its block by rounding its address down).
  static constexpr std::size_t kBlockSize = std::size_t{2} << 20;

  RowArena() = default;
  RowArena(const RowArena&) = delete;
  RowArena& operator=(const RowArena&) = delete;
  ~RowArena();

  // Copies the row's fields; throws std::bad_alloc when no memory can be mapped.
  PackedRow pack(const StoredInstance& row);

 private:
  RowBlock* current_ = nullptr;  // the block being filled; the arena holds a reference to it
  std::size_t used_ = 0;
};

}  // namespace cloudmeta
