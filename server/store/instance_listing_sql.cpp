#include "instance_listing_sql.hpp"

#include <algorithm>
#include <optional>

#include <nlohmann/json.hpp>

#include "cloudmeta/store.hpp"

namespace cloudmeta::store {
namespace {

// The column each order reads, as schema/*/0004_admin_listing.sql names it.
const char* sort_column(InstanceSort sort) {
  switch (sort) {
    case InstanceSort::kInstanceId:
      return "instance_id";
    case InstanceSort::kIp:
      return "ip_key";
    case InstanceSort::kHostname:
      return "hostname_key";
    case InstanceSort::kInstanceType:
      return "instance_type";
    case InstanceSort::kRegion:
      return "region";
    case InstanceSort::kCreatedAt:
      return "created_at";
    case InstanceSort::kUpdatedAt:
      return "updated_at";
  }
  return "instance_id";
}

class Builder {
 public:
  explicit Builder(SqlDialect dialect) : dialect_(dialect) {}

  std::string text(std::string value) {
    out_.params.emplace_back(std::move(value));
    return placeholder();
  }
  std::string integer(std::size_t value) {
    out_.params.emplace_back(static_cast<std::int64_t>(value));
    return dialect_ == SqlDialect::kPostgres ? placeholder() + "::bigint" : placeholder();
  }
  // A subquery yielding each value: one parameter, a JSON array, whatever the list's length.
  std::string list(const std::vector<std::string>& values) {
    std::string array;
    try {
      array = nlohmann::json(values).dump();
    } catch (const nlohmann::json::exception&) {
      throw StoreError(StoreError::Kind::kInvalid, "a listed value is not valid UTF-8");
    }
    const std::string p = text(std::move(array));
    return dialect_ == SqlDialect::kPostgres ? "(SELECT json_array_elements_text(" + p + "::json))"
                                             : "(SELECT value FROM json_each(" + p + "))";
  }
  SqlStatement finish(std::string sql) {
    out_.sql = std::move(sql);
    return std::move(out_);
  }

 private:
  std::string placeholder() const {
    return (dialect_ == SqlDialect::kPostgres ? "$" : "?") + std::to_string(out_.params.size());
  }

  SqlDialect dialect_;
  SqlStatement out_;
};

// "lo <= column < hi" for a prefix's bounds (hi "" = no upper bound), on parameters already made.
std::string in_range(const std::string& column, const std::string& lo, const std::string& hi) {
  std::string out = "(" + column + " >= " + lo;
  if (!hi.empty()) out += " AND " + column + " < " + hi;
  return out + ")";
}

// The conditions of a filter that an index answers alone, numbered as InstanceFilter::driver:
// each tag filter in order, then the prefix. (An address, ip or ips, always finds its rows.)
std::size_t condition_count(const InstanceFilter& filter) {
  return filter.tags.size() + (filter.prefix ? 1 : 0);
}

struct PrefixBounds {
  std::string lo, hi;  // parameters; hi "" when there is no upper bound
};

PrefixBounds prefix_bounds(Builder& b, const std::string& prefix) {
  PrefixBounds out{b.text(prefix), {}};
  const std::string successor = prefix_successor(prefix);
  if (!successor.empty()) out.hi = b.text(successor);
  return out;
}

// Condition i as a test of one row `w` (columns instance_id, ip, hostname_key).
std::string row_condition(Builder& b, const InstanceFilter& filter, std::size_t i) {
  if (i < filter.tags.size()) {
    const auto& tag = filter.tags[i];
    std::string term =
        "EXISTS (SELECT 1 FROM instance_tags t WHERE t.instance_id = w.instance_id AND t.tag_key "
        "= " +
        b.text(tag.key);
    if (tag.value) term += " AND t.tag_value = " + b.text(*tag.value);
    return term + ")";
  }
  const PrefixBounds p = prefix_bounds(b, *filter.prefix);
  return "(" + in_range("w.instance_id", p.lo, p.hi) + " OR " + in_range("w.ip", p.lo, p.hi) +
         " OR " + in_range("w.hostname_key", p.lo, p.hi) +
         " OR EXISTS (SELECT 1 FROM instance_tags t WHERE t.instance_id = w.instance_id AND " +
         in_range("t.tag_value_key", p.lo, p.hi) + "))";
}

// Condition i as the ids it matches, read through its index: a tag's entries, or the union of
// the four ranges a prefix is. With `cap`, each range reads at most that many entries, so a
// count stops there (and a condition that reaches it in any range matches at least that many).
std::string matching_ids(Builder& b, const InstanceFilter& filter, std::size_t i,
                         std::optional<std::size_t> cap) {
  const std::string limit = cap ? " LIMIT " + b.integer(*cap) : "";
  if (i < filter.tags.size()) {
    const auto& tag = filter.tags[i];
    std::string out = "SELECT instance_id FROM instance_tags WHERE tag_key = " + b.text(tag.key);
    if (tag.value) out += " AND tag_value = " + b.text(*tag.value);
    return out + limit;
  }
  const PrefixBounds p = prefix_bounds(b, *filter.prefix);
  const auto range = [&](const char* table, const char* column, const char* name) {
    return std::string("SELECT instance_id FROM (SELECT instance_id FROM ") + table + " WHERE " +
           in_range(column, p.lo, p.hi) + limit + ") AS " + name;
  };
  return range("instances", "instance_id", "by_id") + " UNION " +
         range("instances", "ip", "by_ip") + " UNION " +
         range("instances", "hostname_key", "by_hostname") + " UNION " +
         range("instance_tags", "tag_value_key", "by_tag_value");
}

// The filter as a test of one row `w`: for rows read in the order's index
// (InstanceKeysQuery::Plan::kScan), found by their address, or by the driving condition (`skip`).
std::string row_conditions(Builder& b, const InstanceFilter& filter,
                           std::size_t skip = static_cast<std::size_t>(-1)) {
  std::vector<std::string> terms;
  if (filter.ip) terms.push_back("w.ip = " + b.text(*filter.ip));
  if (filter.ips) terms.push_back("w.ip IN " + b.list(*filter.ips));
  for (std::size_t i = 0; i < condition_count(filter); ++i) {
    if (i != skip) terms.push_back(row_condition(b, filter, i));
  }
  std::string out;
  for (const auto& term : terms) out += (out.empty() ? "" : " AND ") + term;
  return out;
}

// The filter as conditions on the rows `w` of instances that one index drives: the address's, or
// the driving condition's (InstanceFilter::driver: the one count_instances found to match the
// fewest rows); the other conditions test the rows it finds. So the cost is what the driver
// matches (InstanceKeysQuery::Plan::kIndexed, count_instances), never a list of every id that a
// broad condition next to it matches.
std::string indexed_conditions(Builder& b, const InstanceFilter& filter,
                               std::optional<std::size_t> cap = std::nullopt) {
  if (filter.ip || filter.ips) return row_conditions(b, filter);
  const std::size_t driver =
      filter.driver >= 0 && static_cast<std::size_t>(filter.driver) < condition_count(filter)
          ? static_cast<std::size_t>(filter.driver)
          : 0;
  const std::string others = row_conditions(b, filter, driver);
  return "w.instance_id IN (" + matching_ids(b, filter, driver, cap) + ")" +
         (others.empty() ? "" : " AND " + others);
}

// ORDER BY and the keyset condition ("after this position") for a sort column and instance_id as
// written in this statement.
struct Order {
  const InstanceKeysQuery& query;

  bool by_id() const { return query.sort == InstanceSort::kInstanceId; }
  std::string by(const std::string& column, const std::string& id) const {
    const char* dir = query.descending ? " DESC" : "";
    return by_id() ? id + dir : column + dir + ", " + id + dir;
  }
  std::string after(Builder& b, const std::string& column, const std::string& id) const {
    if (!query.after) return {};
    const char* cmp = query.descending ? " < " : " > ";
    if (by_id()) return id + cmp + b.text(query.after->instance_id);
    return "(" + column + ", " + id + ")" + cmp + "(" + b.text(query.after->key) + ", " +
           b.text(query.after->instance_id) + ")";
  }
};

std::string where(const std::vector<std::string>& terms) {
  std::string out;
  for (const auto& term : terms) {
    if (term.empty()) continue;
    out += (out.empty() ? " WHERE " : " AND ") + term;
  }
  return out;
}

}  // namespace

SqlStatement instance_keys_sql(SqlDialect dialect, const InstanceKeysQuery& query) {
  Builder b(dialect);
  const Order order{query};
  const std::string column = sort_column(query.sort);
  if (query.filter.empty()) {
    // The order's index from `after` on: one seek, then `limit` entries.
    const std::string keyset = order.after(b, column, "instance_id");
    return b.finish("SELECT " + column + ", instance_id, ip, 1 FROM instances" + where({keyset}) +
                    " ORDER BY " + order.by(column, "instance_id") + " LIMIT " +
                    b.integer(query.limit) + " OFFSET " + b.integer(query.offset));
  }
  if (query.plan == InstanceKeysQuery::Plan::kScan) {
    // The next `limit` rows of the order, each tested: never more rows read than that.
    const std::string keyset = order.after(b, column, "instance_id");
    const std::string walk = "SELECT " + column +
                             " AS k, instance_id, ip, hostname_key FROM instances" +
                             where({keyset}) + " ORDER BY " + order.by(column, "instance_id") +
                             " LIMIT " + b.integer(query.limit);
    const std::string test = row_conditions(b, query.filter);
    return b.finish("SELECT w.k, w.instance_id, w.ip, CASE WHEN " + test +
                    " THEN 1 ELSE 0 END FROM (" + walk + ") AS w ORDER BY " +
                    order.by("w.k", "w.instance_id"));
  }
  // The matches, found through the filter's indexes, then sorted. The sort column and id are
  // wrapped (`|| ''`) so that neither database walks the order's index instead, testing every row
  // for a filter that matches few.
  const std::string sorted = "w." + column + " || ''";
  const std::string id = "w.instance_id || ''";
  const std::string matches = indexed_conditions(b, query.filter);
  const std::string keyset = order.after(b, "(" + sorted + ")", "(" + id + ")");
  return b.finish("SELECT w." + column + ", w.instance_id, w.ip, 1 FROM instances AS w" +
                  where({matches, keyset}) + " ORDER BY " +
                  order.by("(" + sorted + ")", "(" + id + ")") + " LIMIT " +
                  b.integer(query.limit) + " OFFSET " + b.integer(query.offset));
}

SqlStatement count_instances_sql(SqlDialect dialect, const InstanceFilter& filter,
                                 std::size_t at_most) {
  Builder b(dialect);
  const std::string matches = filter.empty() ? "" : indexed_conditions(b, filter, at_most);
  return b.finish("SELECT count(*) FROM (SELECT 1 FROM instances AS w" + where({matches}) +
                  " LIMIT " + b.integer(at_most) + ") AS c");
}

InstanceCount count_instances_with(SqlDialect dialect, const InstanceFilter& filter,
                                   std::size_t at_most,
                                   const std::function<std::size_t(const SqlStatement&)>& count) {
  if (filter.ip || filter.ips || condition_count(filter) == 0) {
    return {std::min(count(count_instances_sql(dialect, filter, at_most)), at_most), -1};
  }
  // Each condition alone, through its index, reading at most at_most entries: the one with the
  // fewest matches drives the count and the listing.
  int driver = -1;
  std::size_t fewest = at_most;
  for (std::size_t i = 0; i < condition_count(filter); ++i) {
    Builder b(dialect);
    const std::size_t n = std::min(
        count(b.finish("SELECT count(*) FROM (" + matching_ids(b, filter, i, at_most) + ") AS c")),
        at_most);
    if (n < fewest) {
      fewest = n;
      driver = static_cast<int>(i);
    }
  }
  if (driver < 0) return {at_most, -1};  // every condition matches at least at_most rows
  InstanceFilter driven = filter;
  driven.driver = driver;
  return {std::min(count(count_instances_sql(dialect, driven, at_most)), at_most), driver};
}

std::string prefix_successor(const std::string& prefix) {
  std::string out = prefix;
  while (!out.empty()) {
    // The last code point: its lead byte is the last byte that is not 10xxxxxx.
    std::size_t start = out.size() - 1;
    while (start > 0 && (static_cast<unsigned char>(out[start]) & 0xC0) == 0x80) --start;
    const auto* p = reinterpret_cast<const unsigned char*>(out.data()) + start;
    const std::size_t length = out.size() - start;
    char32_t cp = 0;
    if (length == 1) {
      cp = p[0];
    } else if (length == 2) {
      cp = (p[0] & 0x1Fu) << 6 | (p[1] & 0x3Fu);
    } else if (length == 3) {
      cp = (p[0] & 0x0Fu) << 12 | (p[1] & 0x3Fu) << 6 | (p[2] & 0x3Fu);
    } else {
      cp = (p[0] & 0x07u) << 18 | (p[1] & 0x3Fu) << 12 | (p[2] & 0x3Fu) << 6 | (p[3] & 0x3Fu);
    }
    out.resize(start);
    if (cp >= 0x10FFFF) continue;  // nothing above it: increment the code point before it
    ++cp;
    if (cp == 0xD800) cp = 0xE000;  // surrogates are not characters
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
    return out;
  }
  return out;
}

}  // namespace cloudmeta::store
