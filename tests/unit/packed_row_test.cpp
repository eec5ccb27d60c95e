// PackedRow / RowArena: rows copied into shared blocks outlive the views they were made from,
// the arena and each other.
#include "cloudmeta/packed_row.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace cloudmeta;

namespace {

struct OwnedRow {
  std::string instance_id, ip, doc, created_at, updated_at;
  StoredInstance view() const { return {instance_id, ip, doc, created_at, updated_at}; }
};

OwnedRow owned(int n, std::size_t doc_size) {
  const std::string id = std::to_string(n);
  return {"i-" + id, "198.18.0." + std::to_string(n % 250), std::string(doc_size, 'a' + n % 26),
          "2026-11-22T10:00:0" + std::to_string(n % 10) + "Z", n % 3 ? "2026-11-23T10:00:00Z" : ""};
}

void check_equal(const StoredInstance& got, const OwnedRow& want) {
  CHECK(got.instance_id == want.instance_id);
  CHECK(got.ip == want.ip);
  CHECK(got.doc == want.doc);
  CHECK(got.created_at == want.created_at);
  CHECK(got.updated_at == want.updated_at);
}

}  // namespace

TEST_CASE("a packed row is a copy: it outlives its source and the arena") {
  OwnedRow source = owned(7, 900);
  PackedRow row;
  {
    RowArena arena;
    row = arena.pack(source.view());
  }
  const OwnedRow expected = source;
  source.doc.assign(900, 'z');  // the source's buffers change; the packed copy must not
  source.instance_id = "i-changed";
  REQUIRE(row);
  check_equal(row.view(), expected);
  row.reset();
  CHECK_FALSE(row);
}

TEST_CASE("rows fill several blocks, and a row larger than a block gets its own") {
  RowArena arena;
  std::vector<OwnedRow> sources;
  std::vector<PackedRow> rows;
  // About five blocks of ordinary rows, an empty one, and one row of three blocks' size.
  const std::size_t count = 5 * RowArena::kBlockSize / 1000;
  for (std::size_t i = 0; i < count; ++i) sources.push_back(owned(static_cast<int>(i), 950));
  sources.push_back(OwnedRow{});
  sources.push_back(owned(1, 3 * RowArena::kBlockSize));
  sources.push_back(owned(2, 10));  // after the big one: packed into a fresh block
  for (const auto& source : sources) rows.push_back(arena.pack(source.view()));
  for (std::size_t i = 0; i < rows.size(); ++i) check_equal(rows[i].view(), sources[i]);

  // Releasing most rows (and so whole blocks) leaves the others intact.
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (i % 97 != 0) rows[i].reset();
  }
  for (std::size_t i = 0; i < rows.size(); i += 97) check_equal(rows[i].view(), sources[i]);
}

TEST_CASE("moving a packed row moves its reference") {
  RowArena arena;
  const OwnedRow source = owned(3, 40);
  PackedRow a = arena.pack(source.view());
  PackedRow b = std::move(a);
  CHECK_FALSE(a);
  REQUIRE(b);
  check_equal(b.view(), source);
  PackedRow c = arena.pack(owned(4, 40).view());
  c = std::move(b);  // releases c's own row first
  CHECK_FALSE(b);
  check_equal(c.view(), source);
}

TEST_CASE("a copied row shares its block: the bytes live until the last copy is released") {
  const OwnedRow source = owned(5, 700);
  PackedRow copy;
  {
    RowArena arena;
    PackedRow original = arena.pack(source.view());
    PackedRow second(original);
    copy = second;
    const PackedRow& itself = copy;  // through a reference, as generic code would (and clang
    copy = itself;                   // does not warn): self-assignment keeps the reference
    original.reset();
    check_equal(second.view(), source);
  }  // the arena and every other copy are gone: this copy alone keeps the block mapped
  REQUIRE(copy);
  check_equal(copy.view(), source);
  PackedRow other;
  other = copy;
  copy.reset();
  check_equal(other.view(), source);
}
