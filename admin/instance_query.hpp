// GET /api/v1/instances: its query parameters, and the listing the Store answers for them page by
// page (cloudmeta/instance_listing.hpp), so that a page costs what its rows cost at any fleet
// size: nothing of the fleet is held in memory, and no request reads more than a bounded number
// of rows (ListingBudget).
//
// Filters (all given must match):
//   ip=ADDR             that address (canonicalised: ::ffff:10.0.0.1 is 10.0.0.1).
//   tag=KEY, tag=KEY=V  the tag is present / has that exact value; up to 8 of them.
//   q=TEXT              case-insensitive (ASCII) PREFIX of the instance id, the address, the
//                       host name or any tag value ("web" finds web-1 and a Name tag "Web one";
//                       "eb-1" finds nothing). A prefix, not a substring: each of those has an
//                       index that a prefix is a range of, whereas a substring search would read
//                       every row (a second at a million). Up to 256 bytes.
//   invalid=true|false  only the stored rows this version cannot decode (listed flagged, with
//                       their id, address and reason), or only the others. Deciding needs the
//                       document decoded, so this one filter is applied to the rows the others
//                       select, within the budget below: `total` is then null.
// Order: sort=instance_id|ip|hostname|instance_type|region|created_at|updated_at|last_seen,
// order=asc|desc; ties are broken by instance_id. ip sorts numerically (IPv4 before IPv6 but for
// the few IPv6 addresses below ::ffff:0:0), hostname case-insensitively. last_seen is kept in
// memory, not stored: the instances seen since the server started come first (oldest first for
// asc, newest first for desc), then those never seen, by instance_id; it is a live order, so an
// instance that fetches metadata while a client pages can move between pages.
// Paging:
//   limit=1..1000       rows per page. Without limit and without cursor, the whole listing is
//                       answered in one page only when it has at most 1000 rows; a bigger one is
//                       refused (400, field "limit") pointing at limit/cursor and at
//                       `cloudmeta export`, so one request never builds a fleet-sized answer.
//   cursor=TOKEN        the next page: the previous answer's "next_cursor", with the same sort,
//                       order and filters. Keyset paging: page 20,000 costs what page 1 costs,
//                       and while instances are created and deleted every one that exists
//                       throughout is listed exactly once.
//   offset=N            rows skipped before the page, for clients written before cursors;
//                       offset + limit may not pass 10,000 (400 pointing at cursor), the cost of
//                       skipping being what is skipped. Not with cursor.
// The answer: "instances", "count", "next_cursor" (null at the end), "total" and
// "total_estimated" (see ListingPage), "offset". A page may hold fewer than `limit` rows while
// next_cursor is not null: a filter that the indexes cannot answer alone reads at most
// ListingBudget's rows per request and returns what it found; follow next_cursor until it is
// null. Admin thread only. Throws ApiError (400) naming the bad parameter, StoreError.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "cloudmeta/instance_listing.hpp"
#include "cloudmeta/instance_record.hpp"
#include "cloudmeta/last_seen.hpp"
#include "cloudmeta/store.hpp"
#include "request_target.hpp"

namespace cloudmeta::admin {

struct InstanceQuery {
  InstanceFilter filter;
  std::optional<bool> invalid;
  std::string sort = "instance_id";
  bool descending = false;
  std::optional<std::size_t> limit;  // nullopt: the whole listing, when it is small
  std::optional<std::string> cursor;
  std::size_t offset = 0;
};

InstanceQuery parse_instance_query(const RequestTarget& target);

// How much one request may read, whatever it asks (defaults for the admin API; tests make them
// small to see the paging work).
struct ListingBudget {
  // A filter matching at most this many rows is answered through its indexes (its matches
  // are sorted: cost proportional to them); one matching more reads the order's index and
  // tests each row (the cost of a page is then the rows read to fill it, at most scan_rows).
  std::size_t selective = 5000;
  std::size_t scan_rows = 20000;
  // Rows decoded for invalid=, and the time a request keeps reading: past either, the page
  // ends with what it has and next_cursor continues from the last row read.
  std::size_t decode_rows = 2000;
  std::chrono::milliseconds time{60};
};

struct ListingPage {
  std::vector<InstanceRecord> records;
  std::optional<std::string> next_cursor;  // nullopt: nothing after this page
  // How many rows match: exact (counted) up to ListingBudget::selective matches of a filter;
  // beyond, at least `total` (total_estimated); without filters, the store's instance_total()
  // (an estimate on Postgres past 10,000). Null with invalid=, unless the page is the whole
  // listing.
  std::optional<std::size_t> total;
  bool total_estimated = false;
};

ListingPage run_instance_query(const InstanceQuery& query, Store& store, const LastSeen* last_seen,
                               const ListingBudget& budget = {});

}  // namespace cloudmeta::admin
