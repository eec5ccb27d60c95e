// GET /api/v1/instances query parameters and their evaluation over the cached records:
//   ip=ADDR, tag=KEY or tag=KEY=VALUE (repeatable, all must match): exact filters;
//   q=TEXT: case-insensitive substring of instance_id, ip, hostname, local_hostname, or any tag
//           key or value;
//   invalid=true|false: only the stored rows that could not be decoded (InstanceRecord::invalid;
//           listed with their id, ip and reason), or only the others;
//   sort=instance_id|ip|hostname|instance_type|region|created_at|updated_at|last_seen,
//   order=asc|desc; limit=1..1000, offset=N (without limit every match is returned, as before
//   paging existed). Filtering and sorting work on the in-memory RecordCache, and only the
//   requested page is sorted fully (partial_sort), so 100k records answer in milliseconds.
// Throws ApiError (400) naming the bad parameter.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "cloudmeta/last_seen.hpp"
#include "record_cache.hpp"
#include "request_target.hpp"

namespace cloudmeta::admin {

struct TagFilter {
  std::string key;
  std::optional<std::string> value;  // nullopt: the key only has to be present
};

struct InstanceQuery {
  std::optional<std::string> ip;
  std::vector<TagFilter> tags;
  std::string text;  // lower-cased
  std::optional<bool> invalid;
  std::string sort = "instance_id";
  bool descending = false;
  std::optional<std::size_t> limit;
  std::size_t offset = 0;
};

InstanceQuery parse_instance_query(const RequestTarget& target);

struct QueryResult {
  std::vector<const InstanceRecord*> page;
  std::size_t total = 0;  // matches before limit/offset
};

QueryResult run_instance_query(const InstanceQuery& query, const RecordCache::ById& records,
                               const LastSeen* last_seen);

}  // namespace cloudmeta::admin
