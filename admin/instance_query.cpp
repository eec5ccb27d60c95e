#include "instance_query.hpp"

#include <algorithm>
#include <array>
#include <exception>
#include <map>
#include <utility>

#include <nlohmann/json.hpp>

#include "api_error.hpp"
#include "cloudmeta/ip_key.hpp"
#include "cloudmeta/record_json.hpp"
#include "listing_cursor.hpp"

namespace cloudmeta::admin {

namespace {

using Clock = std::chrono::steady_clock;
using Plan = InstanceKeysQuery::Plan;

constexpr std::size_t kMaxLimit = 1000;
constexpr std::size_t kMaxOffsetWindow = 10'000;  // offset + limit
constexpr std::size_t kMaxTagFilters = 8;
constexpr std::size_t kMaxTextBytes = 256;

constexpr std::array<std::pair<std::string_view, InstanceSort>, 7> kStoredSorts = {{
    {"instance_id", InstanceSort::kInstanceId},
    {"ip", InstanceSort::kIp},
    {"hostname", InstanceSort::kHostname},
    {"instance_type", InstanceSort::kInstanceType},
    {"region", InstanceSort::kRegion},
    {"created_at", InstanceSort::kCreatedAt},
    {"updated_at", InstanceSort::kUpdatedAt},
}};

std::optional<InstanceSort> stored_sort(std::string_view name) {
  for (const auto& [key, sort] : kStoredSorts) {
    if (key == name) return sort;
  }
  return std::nullopt;
}

// ASCII only, as the store's derived columns (schema/*/0004_admin_listing.sql).
std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool is_utf8(const std::string& text) {
  try {
    (void)nlohmann::json(text).dump();
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
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

// What a cursor is good for: the sort, the order and every filter.
std::string fingerprint(const InstanceQuery& q) {
  nlohmann::json tags = nlohmann::json::array();
  for (const auto& tag : q.filter.tags) {
    tags.push_back(tag.value ? nlohmann::json{tag.key, *tag.value} : nlohmann::json{tag.key});
  }
  const nlohmann::json parts = {q.sort,
                                q.descending,
                                q.filter.ip.value_or(""),
                                tags,
                                q.filter.prefix.value_or(""),
                                q.invalid ? (*q.invalid ? "true" : "false") : ""};
  return parts.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// A row the listing reached, in order, and where the listing resumes after it.
struct Candidate {
  InstanceKey key;
  ListingCursor resume;
};

// Where candidates come from, batch by batch, in the listing's order.
class Source {
 public:
  virtual ~Source() = default;
  // At most `want` candidates (fewer only at the end, or at a phase's end); sets exhausted() when
  // nothing follows them.
  virtual std::vector<Candidate> next(std::size_t want) = 0;
  bool exhausted() const { return exhausted_; }

 protected:
  bool exhausted_ = false;
};

// A stored sort column, from the store page by page.
class SortedSource : public Source {
 public:
  SortedSource(Store& store, InstanceKeysQuery query) : store_(store), query_(std::move(query)) {}

  std::vector<Candidate> next(std::size_t want) override {
    query_.limit = want;
    std::vector<InstanceKey> keys = store_.list_instance_keys(query_);
    exhausted_ = keys.size() < want;
    std::vector<Candidate> out;
    out.reserve(keys.size());
    for (auto& key : keys) {
      ListingCursor resume;
      resume.position = key.position;
      out.push_back({std::move(key), std::move(resume)});
    }
    if (!out.empty()) query_.after = out.back().key.position;
    return out;
  }

 private:
  Store& store_;
  InstanceKeysQuery query_;
};

std::optional<Sighting> sighting_of(const LastSeen* seen, const std::string& ip) {
  if (!seen) return std::nullopt;
  const auto key = IpKey::parse(ip);
  return key ? seen->find(*key) : std::nullopt;
}

bool before_position(std::int64_t at, const IpKey& ip, std::int64_t other_at,
                     const IpKey& other_ip) {
  if (at != other_at) return at < other_at;
  return ip.bytes() < other_ip.bytes();
}

// sort=last_seen over a filter that matches few rows (or the whole, small, listing): every match is
// looked up in the table and sorted here.
class SeenAmongFewSource : public Source {
 public:
  SeenAmongFewSource(std::vector<InstanceKey> matches, const LastSeen* seen, bool descending,
                     const std::optional<ListingCursor>& after) {
    struct Entry {
      Candidate candidate;
      bool seen;
    };
    std::vector<Entry> entries;
    entries.reserve(matches.size());
    for (auto& key : matches) {
      const auto sighting = sighting_of(seen, key.ip);
      ListingCursor resume;
      if (sighting) {
        resume.phase = ListingCursor::Phase::kSeen;
        resume.seen_at = sighting->at;
        resume.seen_ip = *IpKey::parse(key.ip);
      } else {
        resume.phase = ListingCursor::Phase::kUnseen;
      }
      resume.position.instance_id = key.position.instance_id;
      entries.push_back({{std::move(key), std::move(resume)}, sighting.has_value()});
    }
    // "a comes first": seen before unseen; then (at, address), or the id, in the order asked.
    const auto first = [descending](const ListingCursor& a, const ListingCursor& b) {
      if (a.phase != b.phase) return a.phase == ListingCursor::Phase::kSeen;
      if (a.phase == ListingCursor::Phase::kSeen) {
        return descending ? before_position(b.seen_at, b.seen_ip, a.seen_at, a.seen_ip)
                          : before_position(a.seen_at, a.seen_ip, b.seen_at, b.seen_ip);
      }
      return descending ? b.position.instance_id < a.position.instance_id
                        : a.position.instance_id < b.position.instance_id;
    };
    std::sort(entries.begin(), entries.end(), [&first](const Entry& a, const Entry& b) {
      return first(a.candidate.resume, b.candidate.resume);
    });
    for (auto& entry : entries) {
      if (after && !first(*after, entry.candidate.resume)) continue;
      rest_.push_back(std::move(entry.candidate));
    }
  }

  std::vector<Candidate> next(std::size_t want) override {
    const std::size_t n = std::min(want, rest_.size() - taken_);
    std::vector<Candidate> out(rest_.begin() + static_cast<std::ptrdiff_t>(taken_),
                               rest_.begin() + static_cast<std::ptrdiff_t>(taken_ + n));
    taken_ += n;
    exhausted_ = taken_ == rest_.size();
    return out;
  }

 private:
  std::vector<Candidate> rest_;
  std::size_t taken_ = 0;
};

// sort=last_seen over the whole fleet or a filter that matches many: the next callers in order from
// the in-memory table (LastSeen::ordered: one walk, a bounded heap), their rows fetched by address;
// then the instances never seen, read by instance_id and tested against the table.
class SeenAmongManySource : public Source {
 public:
  SeenAmongManySource(Store& store, const LastSeen* seen, InstanceFilter filter, Plan plan,
                      bool descending, const std::optional<ListingCursor>& after)
      : store_(store),
        seen_(seen),
        filter_(std::move(filter)),
        plan_(plan),
        descending_(descending) {
    if (after) {
      phase_ = after->phase;
      if (phase_ == ListingCursor::Phase::kSeen) {
        seen_after_ = SeenPosition{after->seen_at, after->seen_ip};
      } else {
        unseen_after_ = after->position;
      }
    }
    if (!seen_) phase_ = ListingCursor::Phase::kUnseen;
  }

  std::vector<Candidate> next(std::size_t want) override {
    if (phase_ == ListingCursor::Phase::kSeen) {
      auto out = next_seen(want);
      if (!out.empty()) return out;
    }
    return next_unseen(want);
  }

 private:
  std::vector<Candidate> next_seen(std::size_t want) {
    const std::vector<SeenEntry> entries = seen_->ordered(want, descending_, seen_after_);
    if (entries.size() < want) phase_ = ListingCursor::Phase::kUnseen;
    if (entries.empty()) return {};
    seen_after_ = SeenPosition{entries.back().sighting.at, entries.back().caller};
    InstanceKeysQuery query;
    query.filter = filter_;
    query.filter.ips.emplace();
    for (const auto& entry : entries) query.filter.ips->push_back(entry.caller.to_string());
    query.limit = entries.size();
    std::map<std::string, InstanceKey, std::less<>> by_ip;
    for (auto& key : store_.list_instance_keys(query)) by_ip.emplace(key.ip, std::move(key));
    std::vector<Candidate> out;
    out.reserve(entries.size());
    for (std::size_t i = 0; i < entries.size(); ++i) {
      Candidate c;
      const auto it = by_ip.find((*query.filter.ips)[i]);
      if (it != by_ip.end()) {
        c.key = it->second;
      } else {
        c.key.matched = false;  // a caller whose instance is gone, or does not match
      }
      c.resume.phase = ListingCursor::Phase::kSeen;
      c.resume.seen_at = entries[i].sighting.at;
      c.resume.seen_ip = entries[i].caller;
      out.push_back(std::move(c));
    }
    return out;
  }

  std::vector<Candidate> next_unseen(std::size_t want) {
    InstanceKeysQuery query;
    query.filter = filter_;
    query.descending = descending_;
    query.plan = plan_;
    query.limit = want;
    if (unseen_after_) query.after = InstancePosition{{}, unseen_after_->instance_id};
    std::vector<InstanceKey> keys = store_.list_instance_keys(query);
    exhausted_ = keys.size() < want;
    std::vector<Candidate> out;
    out.reserve(keys.size());
    for (auto& key : keys) {
      if (key.matched && sighting_of(seen_, key.ip)) key.matched = false;  // listed as seen
      Candidate c;
      c.resume.phase = ListingCursor::Phase::kUnseen;
      c.resume.position.instance_id = key.position.instance_id;
      c.key = std::move(key);
      out.push_back(std::move(c));
    }
    if (!keys.empty()) unseen_after_ = InstancePosition{{}, keys.back().position.instance_id};
    return out;
  }

  Store& store_;
  const LastSeen* seen_;
  InstanceFilter filter_;
  Plan plan_;
  bool descending_;
  ListingCursor::Phase phase_ = ListingCursor::Phase::kSeen;
  std::optional<SeenPosition> seen_after_;
  std::optional<InstancePosition> unseen_after_;
};

// Takes candidates in order until the page is full: drops the rows that do not match (invalid=
// decodes them here), skips `offset`, keeps the rest with their records.
class PageBuilder {
 public:
  PageBuilder(Store& store, const InstanceQuery& query, std::size_t capacity)
      : store_(store), query_(query), capacity_(capacity), offset_left_(query.offset) {}

  // Returns true when the page is full; rows_left then says how many of the batch followed.
  bool take(const std::vector<Candidate>& batch) {
    std::map<std::string, InstanceRecord, std::less<>> decoded;
    if (query_.invalid) {
      std::vector<std::string> ids;
      for (const auto& c : batch) {
        if (c.key.matched) ids.push_back(c.key.position.instance_id);
      }
      for (auto& record : store_.find_instances(ids)) {
        std::string id = record.instance_id;
        decoded.emplace(std::move(id), std::move(record));
      }
      decoded_ += ids.size();
    }
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const Candidate& c = batch[i];
      ++examined_;
      last_examined_ = c.resume;
      if (!c.key.matched) continue;
      std::optional<InstanceRecord> record;
      if (query_.invalid) {
        const auto it = decoded.find(c.key.position.instance_id);
        if (it == decoded.end() || it->second.invalid.has_value() != *query_.invalid) continue;
        record = std::move(it->second);
      }
      if (offset_left_ > 0) {
        --offset_left_;
        continue;
      }
      accepted_.push_back({c, std::move(record)});
      if (accepted_.size() == capacity_) {
        rows_left_ = batch.size() - i - 1;
        return true;
      }
    }
    return false;
  }

  std::size_t remaining() const { return capacity_ - accepted_.size() + offset_left_; }
  std::size_t examined() const { return examined_; }
  std::size_t decoded() const { return decoded_; }
  std::size_t rows_left() const { return rows_left_; }
  const std::optional<ListingCursor>& last_examined() const { return last_examined_; }
  const ListingCursor& last_accepted() const { return accepted_.back().candidate.resume; }
  bool empty() const { return accepted_.empty(); }

  // The page's records in order; a row deleted since its key was read is left out.
  std::vector<InstanceRecord> records() {
    std::vector<InstanceRecord> out;
    out.reserve(accepted_.size());
    std::map<std::string, InstanceRecord, std::less<>> fetched;
    if (!query_.invalid) {
      std::vector<std::string> ids;
      for (const auto& a : accepted_) ids.push_back(a.candidate.key.position.instance_id);
      for (auto& record : store_.find_instances(ids)) {
        std::string id = record.instance_id;
        fetched.emplace(std::move(id), std::move(record));
      }
    }
    for (auto& a : accepted_) {
      if (a.record) {
        out.push_back(std::move(*a.record));
        continue;
      }
      const auto it = fetched.find(a.candidate.key.position.instance_id);
      if (it != fetched.end()) out.push_back(std::move(it->second));
    }
    return out;
  }

 private:
  struct Accepted {
    Candidate candidate;
    std::optional<InstanceRecord> record;
  };

  Store& store_;
  const InstanceQuery& query_;
  std::size_t capacity_;
  std::size_t offset_left_;
  std::vector<Accepted> accepted_;
  std::size_t examined_ = 0;
  std::size_t decoded_ = 0;
  std::size_t rows_left_ = 0;
  std::optional<ListingCursor> last_examined_;
};

}  // namespace

InstanceQuery parse_instance_query(const RequestTarget& target) {
  InstanceQuery query;
  for (const auto& [key, value] : target.query) {
    if (key == "ip") {
      const std::string canonical = canonical_ip(value, "ip");
      if (query.filter.ip && *query.filter.ip != canonical) {
        throw ApiError(http::status::bad_request, "ip may be given only once", "ip");
      }
      query.filter.ip = canonical;
    } else if (key == "tag") {
      const auto eq = value.find('=');
      InstanceTagFilter filter{value.substr(0, eq), std::nullopt};
      if (eq != std::string::npos) filter.value = value.substr(eq + 1);
      if (filter.key.empty()) {
        throw ApiError(http::status::bad_request,
                       "tag filter needs a key: ?tag=KEY or ?tag=KEY=VALUE", "tag");
      }
      if (!is_utf8(value)) throw ApiError(http::status::bad_request, "tag must be UTF-8", "tag");
      if (query.filter.tags.size() == kMaxTagFilters) {
        throw ApiError(http::status::bad_request,
                       "at most " + std::to_string(kMaxTagFilters) + " tag filters", "tag");
      }
      query.filter.tags.push_back(std::move(filter));
    } else if (key == "invalid") {
      if (value != "true" && value != "false") {
        throw ApiError(http::status::bad_request, "invalid must be true or false", "invalid");
      }
      query.invalid = value == "true";
    } else if (key == "q") {
      if (value.size() > kMaxTextBytes || !is_utf8(value)) {
        throw ApiError(
            http::status::bad_request,
            "q must be UTF-8 text of at most " + std::to_string(kMaxTextBytes) + " bytes", "q");
      }
      if (!value.empty()) query.filter.prefix = lower(value);
    } else if (key == "sort") {
      if (value != "last_seen" && !stored_sort(value)) {
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
    } else if (key == "cursor") {
      query.cursor = value;
    } else if (key == "offset") {
      query.offset = parse_size(value, "offset", kMaxOffsetWindow);
    } else {
      // Refused rather than ignored, so that a typo ("?tags=") does not silently list everything.
      throw ApiError(http::status::bad_request, "unknown query parameter " + key, key);
    }
  }
  if (query.offset > 0 && query.cursor) {
    throw ApiError(http::status::bad_request,
                   "offset and cursor do not go together: the cursor says where the page starts",
                   "offset");
  }
  if (query.offset + query.limit.value_or(kMaxLimit) > kMaxOffsetWindow) {
    throw ApiError(http::status::bad_request,
                   "offset + limit may not pass " + std::to_string(kMaxOffsetWindow) +
                       ": page further with cursor (each answer's next_cursor), which costs the "
                       "same on every page",
                   "offset");
  }
  return query;
}

ListingPage run_instance_query(const InstanceQuery& query, Store& store, const LastSeen* last_seen,
                               const ListingBudget& budget) {
  const Clock::time_point deadline = Clock::now() + budget.time;
  const std::string fingerprint_text = fingerprint(query);
  std::optional<ListingCursor> after;
  if (query.cursor) after = decode_cursor(*query.cursor, fingerprint_text);
  const bool by_last_seen = query.sort == "last_seen";
  const auto sort = stored_sort(query.sort);
  if (after && (after->phase == ListingCursor::Phase::kSorted) == by_last_seen) {
    throw ApiError(http::status::bad_request, "cursor was made for another sort", "cursor");
  }

  // Unpaginated: answered whole when small, never built fleet-sized.
  const bool whole = !query.limit && !query.cursor;
  const std::size_t capacity = query.limit.value_or(kMaxLimit);
  ListingPage page;
  bool few = false;  // the filter's matches are few enough to find through its indexes
  std::size_t matches = 0;
  InstanceFilter filter = query.filter;
  if (whole) {
    const InstanceCount counted = store.count_instances(filter, kMaxLimit + 1);
    if (counted.count > kMaxLimit) {
      throw ApiError(
          http::status::bad_request,
          "more than " + std::to_string(kMaxLimit) +
              " instances match: page through them with limit (1 to 1000) and each answer's "
              "next_cursor, or narrow the filters; `cloudmeta export` writes every record",
          "limit");
    }
    matches = counted.count;
    filter.driver = counted.driver;
    few = true;
  } else if (!filter.empty()) {
    const InstanceCount counted = store.count_instances(filter, budget.selective + 1);
    matches = counted.count;
    filter.driver = counted.driver;
    few = matches <= budget.selective;
  }
  if (query.invalid) {
    // Counting these would mean decoding every row: unknown, unless the page is all there is.
  } else if (whole || few) {
    page.total = matches;
  } else if (!filter.empty()) {
    page.total = matches;  // at least this many
    page.total_estimated = true;
  } else {
    const InstanceTotal total = store.instance_total();
    page.total = total.count;
    page.total_estimated = !total.exact;
  }

  const Plan plan = few || filter.empty() ? Plan::kIndexed : Plan::kScan;
  std::unique_ptr<Source> source;
  if (!by_last_seen) {
    InstanceKeysQuery keys;
    keys.filter = filter;
    keys.sort = *sort;
    keys.descending = query.descending;
    keys.plan = plan;
    if (after) keys.after = after->position;
    source = std::make_unique<SortedSource>(store, std::move(keys));
  } else if (few) {
    InstanceKeysQuery keys;
    keys.filter = filter;
    keys.limit = std::max<std::size_t>(matches, 1);
    source = std::make_unique<SeenAmongFewSource>(store.list_instance_keys(keys), last_seen,
                                                  query.descending, after);
  } else {
    source = std::make_unique<SeenAmongManySource>(store, last_seen, filter, plan, query.descending,
                                                   after);
  }

  PageBuilder builder(store, query, capacity);
  bool full = false;
  while (!full && !source->exhausted()) {
    if (!whole && builder.examined() > 0 &&
        (Clock::now() >= deadline || builder.examined() >= budget.scan_rows ||
         builder.decoded() >= budget.decode_rows)) {
      break;  // the budget is spent: the page ends here, next_cursor goes on from here
    }
    // One more than the page needs, so that a full page knows whether anything follows; a scan
    // reads more, as only some rows match; a batch to decode stays small.
    std::size_t want = builder.remaining() + 1;
    if (plan == Plan::kScan || by_last_seen) want = std::clamp<std::size_t>(want * 4, 256, 2000);
    if (query.invalid) want = std::min<std::size_t>(want, 250);
    const std::vector<Candidate> batch = source->next(want);
    full = builder.take(batch);
  }

  if (full) {
    if (builder.rows_left() > 0 || !source->exhausted()) {
      page.next_cursor = encode_cursor(builder.last_accepted(), fingerprint_text);
    }
  } else if (!source->exhausted() && builder.last_examined()) {
    page.next_cursor = encode_cursor(*builder.last_examined(), fingerprint_text);
  }
  page.records = builder.records();
  if (query.invalid && whole && query.offset == 0) page.total = page.records.size();
  return page;
}

}  // namespace cloudmeta::admin
