// NodeArena / ArenaAllocator: nodes from the arena, arrays and copies from the heap.
#include "cloudmeta/node_arena.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>

using namespace cloudmeta;

TEST_CASE("arena allocations are aligned, distinct, and span several blocks") {
  NodeArena arena;
  std::set<std::uintptr_t> seen;
  for (int i = 0; i < 200'000; ++i) {  // 200,000 x 24 bytes: more than two 2 MiB blocks
    const std::size_t alignment = i % 3 == 0 ? 16 : 8;
    auto* at = static_cast<char*>(arena.allocate(24, alignment));
    const auto address = reinterpret_cast<std::uintptr_t>(at);
    CHECK(address % alignment == 0);
    CHECK(seen.insert(address).second);
    at[0] = at[23] = 'x';  // writable, every byte of it
  }
  auto* big = static_cast<char*>(arena.allocate(3 << 20, 64));  // larger than a block
  big[0] = big[(3 << 20) - 1] = 'y';
}

TEST_CASE("a map on an arena works as any map, its copy allocates from the heap") {
  using Map = std::unordered_map<int, std::string, std::hash<int>, std::equal_to<int>,
                                 ArenaAllocator<std::pair<const int, std::string>>>;
  const ArenaAllocator<std::pair<const int, std::string>> on_arena(std::make_shared<NodeArena>());
  auto map = std::make_unique<Map>(0, std::hash<int>{}, std::equal_to<int>{}, on_arena);
  for (int i = 0; i < 5000; ++i) map->emplace(i, std::to_string(i));
  map->erase(17);
  CHECK(map->get_allocator() == on_arena);
  const Map copy(*map);
  CHECK_FALSE(copy.get_allocator() == on_arena);  // a copy is edited: ordinary heap nodes
  map.reset();  // the copy does not depend on the original or its arena
  CHECK(copy.size() == 4999);
  CHECK(copy.at(4999) == "4999");
  CHECK(copy.count(17) == 0);
}
