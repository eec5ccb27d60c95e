// What a Store answers for the admin listing (GET /api/v1/instances, admin/instance_query.hpp):
// one page of instance keys in a sort order, after a position (keyset paging), filtered by the
// columns and the tag table that schema/*/0004_admin_listing.sql keeps beside each document.
// Plain values; the Store's methods that take them are in cloudmeta/store.hpp.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace cloudmeta {

// The orders a listing can have, each a column with an index whose last column is instance_id,
// the tie-breaker. Text compares byte by byte on both backends.
enum class InstanceSort {
  kInstanceId,
  kIp,        // numerically, IPv4 as ::ffff:a.b.c.d (the 16 bytes of IpKey)
  kHostname,  // lower-cased (ASCII)
  kInstanceType,
  kRegion,
  kCreatedAt,
  kUpdatedAt,
};

struct InstanceTagFilter {
  std::string key;
  std::optional<std::string> value;  // nullopt: the key only has to be present
};

// Rows that match every member given; a default InstanceFilter matches every row.
struct InstanceFilter {
  std::optional<std::string> ip;  // canonical text (record_json's canonical_ip)
  std::vector<InstanceTagFilter> tags;
  // Lower-cased (ASCII) and not empty: instance_id, ip, the lower-cased host name or the
  // lower-cased value of any tag starts with it.
  std::optional<std::string> prefix;
  // Only rows with one of these addresses (canonical text).
  std::optional<std::vector<std::string>> ips;
  // Without an address, which condition's index finds the rows for Plan::kIndexed (the others
  // test them): each tag filter in order, then the prefix; count_instances picks the one that
  // matches the fewest (InstanceCount::driver). -1: the first.
  int driver = -1;

  bool empty() const { return !ip && tags.empty() && !prefix && !ips; }
};

// A row's place in an order: the sort column's value as stored (InstanceSort) and instance_id.
struct InstancePosition {
  std::string key;
  std::string instance_id;
  friend bool operator==(const InstancePosition&, const InstancePosition&) = default;
};

struct InstanceKeysQuery {
  // kIndexed: the filter's own indexes find its matches, which the database then sorts: the cost
  // is the number of matches, so for filters that match few rows (count_instances says how many).
  // kScan: the next `limit` rows of the order are read through its index and each is flagged
  // matched or not: the cost is `limit` rows whatever the filter matches. Without a filter both
  // read the order's index from `after` on.
  enum class Plan { kIndexed, kScan };

  InstanceFilter filter;
  InstanceSort sort = InstanceSort::kInstanceId;
  bool descending = false;
  std::optional<InstancePosition> after;  // only rows strictly after it in this order
  std::size_t limit = 50;
  std::size_t offset = 0;  // rows skipped first (kIndexed only)
  Plan plan = Plan::kIndexed;
};

struct InstanceKey {
  InstancePosition position;
  std::string ip;
  bool matched = true;  // kScan: whether the row matches the filter
};

struct InstanceCount {
  std::size_t count = 0;  // at most the at_most asked for
  int driver = -1;        // for InstanceFilter::driver
};

struct InstanceTotal {
  std::size_t count = 0;
  bool exact = true;  // false: an estimate (the database's statistics)
};

}  // namespace cloudmeta
