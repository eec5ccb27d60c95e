// The SQL migrations of schema/, embedded into the binary at build time (cmake/embed_schema.cmake)
// so the binary needs no files beside it. Ordered by version.
#pragma once

#include <string_view>
#include <vector>

namespace cloudmeta {

struct Migration {
  int version;            // from the file name: 0001_init.sql -> 1
  std::string_view name;  // "0001_init"
  std::string_view sql;
};

// dialect: "sqlite" (later "postgres"). Empty for an unknown dialect.
const std::vector<Migration>& migrations(std::string_view dialect);

}  // namespace cloudmeta
