#include "instance_listing_sql.hpp"

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

// The filter as a test of one row `w` (columns instance_id, ip, hostname_key): for rows read in the
// order's index (InstanceKeysQuery::Plan::kScan), or found by their address.
std::string row_conditions(Builder& b, const InstanceFilter& filter) {
  std::vector<std::string> terms;
  if (filter.ip) terms.push_back("w.ip = " + b.text(*filter.ip));
  if (filter.ips) terms.push_back("w.ip IN " + b.list(*filter.ips));
  for (const auto& tag : filter.tags) {
    std::string term =
        "EXISTS (SELECT 1 FROM instance_tags t WHERE "
        "t.instance_id = w.instance_id AND "
        "t.tag_key = " +
        b.text(tag.key);
    if (tag.value) term += " AND t.tag_value = " + b.text(*tag.value);
    terms.push_back(term + ")");
  }
  if (filter.prefix) {
    const std::string lo = b.text(*filter.prefix);
    const std::string successor = prefix_successor(*filter.prefix);
    const std::string hi = successor.empty() ? "" : b.text(successor);
    terms.push_back("(" + in_range("w.instance_id", lo, hi) + " OR " + in_range("w.ip", lo, hi) +
                    " OR " + in_range("w.hostname_key", lo, hi) +
                    " OR EXISTS (SELECT 1 FROM instance_tags t WHERE t.instance_id = "
                    "w.instance_id AND " +
                    in_range("t.tag_value_key", lo, hi) + "))");
  }
  std::string out;
  for (const auto& term : terms) out += (out.empty() ? "" : " AND ") + term;
  return out;
}

// The filter as conditions on the rows `w` of instances that the filter's own indexes answer: each
// finds its matching ids, so the cost is what they match (InstanceKeysQuery::Plan::kIndexed,
// count_instances). An address (ip, ips) finds its rows alone; the other conditions then test those
// rows, rather than listing every id a tag has.
std::string indexed_conditions(Builder& b, const InstanceFilter& filter) {
  if (filter.ip || filter.ips) return row_conditions(b, filter);
  std::vector<std::string> terms;
  for (const auto& tag : filter.tags) {
    std::string term =
        "w.instance_id IN (SELECT instance_id FROM "
        "instance_tags WHERE tag_key = " +
        b.text(tag.key);
    if (tag.value) term += " AND tag_value = " + b.text(*tag.value);
    terms.push_back(term + ")");
  }
  if (filter.prefix) {
    const std::string lo = b.text(*filter.prefix);
    const std::string successor = prefix_successor(*filter.prefix);
    const std::string hi = successor.empty() ? "" : b.text(successor);
    terms.push_back(
        "w.instance_id IN (SELECT instance_id FROM instances WHERE " +
        in_range("instance_id", lo, hi) + " UNION SELECT instance_id FROM instances WHERE " +
        in_range("ip", lo, hi) + " UNION SELECT instance_id FROM instances WHERE " +
        in_range("hostname_key", lo, hi) + " UNION SELECT instance_id FROM instance_tags WHERE " +
        in_range("tag_value_key", lo, hi) + ")");
  }
  std::string out;
  for (const auto& term : terms) out += (out.empty() ? "" : " AND ") + term;
  return out;
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
  const std::string matches = filter.empty() ? "" : indexed_conditions(b, filter);
  return b.finish("SELECT count(*) FROM (SELECT 1 FROM instances AS w" + where({matches}) +
                  " LIMIT " + b.integer(at_most) + ") AS c");
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
