// The SQL of the admin listing (cloudmeta/instance_listing.hpp) for both backends, from one
// description, so that SQLite and Postgres filter, sort and page alike. Values never enter the
// SQL text: every one is a bound parameter (lists as one JSON array parameter). The text varies
// only with the query's shape (which filters, sort, order, plan), so a backend that prepares
// each distinct text once prepares a bounded number of them. Private to server/store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <variant>
#include <vector>

#include "cloudmeta/instance_listing.hpp"

namespace cloudmeta::store {

enum class SqlDialect { kSqlite, kPostgres };

struct SqlStatement {
  std::string sql;
  std::vector<std::variant<std::string, std::int64_t>> params;  // in placeholder order
};

// Columns: sort key, instance_id, ip, matched (0 or 1).
SqlStatement instance_keys_sql(SqlDialect dialect, const InstanceKeysQuery& query);
// One column: the number of matches, at most at_most, driven by filter.driver.
SqlStatement count_instances_sql(SqlDialect dialect, const InstanceFilter& filter,
                                 std::size_t at_most);
// Store::count_instances for both backends, `count` running one statement of one column: each
// indexed condition counted alone (at most at_most entries read), then the filter, driven by the
// one with the fewest matches.
InstanceCount count_instances_with(SqlDialect dialect, const InstanceFilter& filter,
                                   std::size_t at_most,
                                   const std::function<std::size_t(const SqlStatement&)>& count);

// The smallest text greater than every text that starts with `prefix` (byte order, UTF-8), or
// "" when there is none: `prefix` <= x < successor is "x starts with prefix".
std::string prefix_successor(const std::string& prefix);

}  // namespace cloudmeta::store
