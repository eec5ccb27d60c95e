#include "instance_query.hpp"

#include <algorithm>
#include <array>
#include <exception>

#include "api_error.hpp"
#include "cloudmeta/ip_key.hpp"
#include "cloudmeta/record_json.hpp"

namespace cloudmeta::admin {

namespace {

constexpr std::size_t kMaxLimit = 1000;
constexpr std::array<std::string_view, 8> kSortKeys = {
    "instance_id", "ip", "hostname", "instance_type", "region", "created_at", "updated_at",
    "last_seen"};

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool contains(std::string_view haystack, const std::string& needle_lower) {
  if (needle_lower.size() > haystack.size()) return false;
  return lower(haystack).find(needle_lower) != std::string::npos;
}

bool matches_text(const InstanceRecord& r, const std::string& text) {
  if (text.empty()) return true;
  if (contains(r.instance_id, text) || contains(r.ip, text) || contains(r.hostname, text) ||
      contains(r.local_hostname, text)) {
    return true;
  }
  for (const auto& [key, value] : r.tags) {
    if (contains(key, text) || contains(value, text)) return true;
  }
  return false;
}

bool matches_tags(const InstanceRecord& record, const std::vector<TagFilter>& tags) {
  for (const auto& filter : tags) {
    const auto it = record.tags.find(filter.key);
    if (it == record.tags.end()) return false;
    if (filter.value && it->second != *filter.value) return false;
  }
  return true;
}

std::size_t parse_size(const std::string& text, const std::string& name, std::size_t max) {
  std::size_t used = 0;
  unsigned long long value = 0;
  try {
    value = std::stoull(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || text[0] == '-' || value > max) {
    throw ApiError(http::status::bad_request,
                   name + " must be an integer from 0 to " + std::to_string(max), name);
  }
  return static_cast<std::size_t>(value);
}

// The sort key of a record as text that orders correctly byte by byte.
std::string sort_key(const InstanceRecord& r, const std::string& sort, const LastSeen* seen) {
  if (sort == "ip") {
    const auto key = IpKey::parse(r.ip);
    if (!key) return r.ip;
    return std::string(reinterpret_cast<const char*>(key->bytes().data()), key->bytes().size());
  }
  if (sort == "hostname") return r.hostname;
  if (sort == "instance_type") return r.instance_type;
  if (sort == "region") return r.region;
  if (sort == "created_at") return r.created_at;
  if (sort == "updated_at") return r.updated_at;
  if (sort == "last_seen") {
    const auto key = IpKey::parse(r.ip);
    const auto sighting = seen && key ? seen->find(*key) : std::nullopt;
    // Fixed width, so that text order is numeric order; never seen sorts first.
    char buf[24];
    std::snprintf(buf, sizeof buf, "%020lld",
                  static_cast<long long>(sighting ? sighting->at : 0));
    return buf;
  }
  return {};  // instance_id: the tie-breaker below is the whole key
}

}  // namespace

InstanceQuery parse_instance_query(const RequestTarget& target) {
  InstanceQuery query;
  for (const auto& [key, value] : target.query) {
    if (key == "ip") {
      const std::string canonical = canonical_ip(value, "ip");
      if (query.ip && *query.ip != canonical) {
        throw ApiError(http::status::bad_request, "ip may be given only once", "ip");
      }
      query.ip = canonical;
    } else if (key == "tag") {
      const auto eq = value.find('=');
      TagFilter filter{value.substr(0, eq), std::nullopt};
      if (eq != std::string::npos) filter.value = value.substr(eq + 1);
      if (filter.key.empty()) {
        throw ApiError(http::status::bad_request,
                       "tag filter needs a key: ?tag=KEY or ?tag=KEY=VALUE", "tag");
      }
      query.tags.push_back(std::move(filter));
    } else if (key == "invalid") {
      if (value != "true" && value != "false") {
        throw ApiError(http::status::bad_request, "invalid must be true or false", "invalid");
      }
      query.invalid = value == "true";
    } else if (key == "q") {
      query.text = lower(value);
    } else if (key == "sort") {
      if (std::find(kSortKeys.begin(), kSortKeys.end(), value) == kSortKeys.end()) {
        throw ApiError(http::status::bad_request,
                       "sort must be one of instance_id, ip, hostname, instance_type, region, "
                       "created_at, updated_at, last_seen",
                       "sort");
      }
      query.sort = value;
    } else if (key == "order") {
      if (value != "asc" && value != "desc") {
        throw ApiError(http::status::bad_request, "order must be asc or desc", "order");
      }
      query.descending = value == "desc";
    } else if (key == "limit") {
      query.limit = parse_size(value, "limit", kMaxLimit);
      if (*query.limit == 0) {
        throw ApiError(http::status::bad_request, "limit must be from 1 to 1000", "limit");
      }
    } else if (key == "offset") {
      query.offset = parse_size(value, "offset", 100'000'000);
    } else {
      // Refused rather than ignored, so that a typo ("?tags=") does not silently list everything.
      throw ApiError(http::status::bad_request, "unknown query parameter " + key, key);
    }
  }
  return query;
}

QueryResult run_instance_query(const InstanceQuery& query, const RecordCache::ById& records,
                               const LastSeen* last_seen) {
  struct Candidate {
    std::string key;
    const InstanceRecord* record;
  };
  std::vector<Candidate> matches;
  for (const auto& [id, record] : records) {
    if (query.ip && record.ip != *query.ip) continue;
    if (query.invalid && record.invalid.has_value() != *query.invalid) continue;
    if (!matches_tags(record, query.tags) || !matches_text(record, query.text)) continue;
    matches.push_back({sort_key(record, query.sort, last_seen), &record});
  }
  const auto less = [&query](const Candidate& a, const Candidate& b) {
    // Ties (equal hostnames, ...) are broken by instance_id, so pages never overlap.
    const int by_key = a.key.compare(b.key);
    const int order = by_key != 0 ? by_key
                                  : a.record->instance_id.compare(b.record->instance_id);
    return query.descending ? order > 0 : order < 0;
  };
  QueryResult result;
  result.total = matches.size();
  const std::size_t begin = std::min(query.offset, matches.size());
  const std::size_t end =
      query.limit ? std::min(matches.size(), begin + *query.limit) : matches.size();
  std::partial_sort(matches.begin(), matches.begin() + static_cast<std::ptrdiff_t>(end),
                    matches.end(), less);
  for (std::size_t i = begin; i < end; ++i) result.page.push_back(matches[i].record);
  return result;
}

}  // namespace cloudmeta::admin
