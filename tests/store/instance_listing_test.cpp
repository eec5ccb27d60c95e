// The admin listing in the store (issue 17): the columns and tag table schema/*/0004 derives from
// each document, and GET /api/v1/instances' filters, orders and cursor paging
// (admin/instance_query.hpp) run page by page on a real SQLite file and a real PostgreSQL server,
// checked against the semantics computed here from the records themselves, so that both backends
// list the same rows in the same order.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>
#include <sodium.h>

#include "cloudmeta/ip_key.hpp"
#include "cloudmeta/last_seen.hpp"
#include "cloudmeta/record_json.hpp"
#include "cloudmeta/schema.hpp"
#include "cloudmeta/store.hpp"
#include "instance_query.hpp"
#include "request_target.hpp"
#include "store_backends.hpp"

namespace {

namespace cm = cloudmeta;
using cm::testing::PostgresBackend;
using cm::testing::SqliteBackend;
using nlohmann::json;

#define BACKENDS SqliteBackend, PostgresBackend

std::string hex_of(const cm::IpKey& ip) {
  char out[33];
  sodium_bin2hex(out, sizeof out, ip.bytes().data(), ip.bytes().size());
  return out;
}

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

// One instance as the listing should see it.
struct Row {
  std::string id, ip, hostname, instance_type, region, created_at, updated_at;
  std::map<std::string, std::string> tags;
  bool invalid = false;
};

std::string instance_id(int n) {
  char id[32];
  std::snprintf(id, sizeof id, "i-%017x", (n * 7919) % 100000 + 0x10000);
  return id;
}

// A fleet with ties in every sort column, IPv4 and IPv6 (one printed with a dotted tail),
// upper-case host names and a non-ASCII tag value.
std::vector<json> fleet(int n) {
  std::vector<json> out;
  const char* types[] = {"t3.micro", "m5.large", "c5.xlarge"};
  const char* envs[] = {"prod", "dev", "staging"};
  for (int i = 0; i < n; ++i) {
    std::string ip;
    if (i == 3) {
      ip = cm::IpKey::from_v6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}).to_string();
    } else if (i % 5 == 0) {
      char v6[64];
      std::snprintf(v6, sizeof v6, "2001:db8::%x", i * 37);
      ip = v6;
    } else {
      ip = "10.0." + std::to_string(i / 50) + "." + std::to_string((i % 50) * 5);
    }
    json tags = {{"env", envs[i % 3]}};
    if (i % 4 == 0) tags["Name"] = (i % 8 == 0 ? "Web " : "web ") + std::to_string(i % 13);
    if (i % 5 == 0) tags["team"] = "ops";
    if (i % 11 == 0) tags["site"] = "Zürich";
    json record = {{"instance_id", instance_id(i)},
                   {"ip", ip},
                   {"instance_type", types[i % 3]},
                   {"region", i % 2 ? "us-east-1" : "eu-west-1"},
                   {"tags", tags}};
    if (i % 6 != 5) record["hostname"] = (i % 9 == 0 ? "WEB-" : "web-") + std::to_string(i % 10);
    out.push_back(record);
  }
  return out;
}

// What the listing should see of `records`, with the timestamps fill() gives them, and `broken` as
// rows this version cannot decode.
std::vector<Row> rows_of(const std::vector<json>& records,
                         const std::vector<std::string>& broken = {}) {
  std::vector<Row> rows;
  for (const auto& r : records) {
    Row row;
    row.id = r["instance_id"];
    row.ip = r["ip"];
    const char last = row.id.back();
    const char second = row.id[row.id.size() - 2];
    row.created_at = std::string("2026-01-01T00:00:0") + last + "Z";
    row.updated_at = std::string("2026-02-01T00:00:0") + second + "Z";
    row.invalid = std::find(broken.begin(), broken.end(), row.id) != broken.end();
    if (!row.invalid) {
      row.hostname = r.value("hostname", "");
      row.instance_type = r["instance_type"];
      row.region = r["region"];
      row.tags = r["tags"].get<std::map<std::string, std::string>>();
    }
    rows.push_back(row);
  }
  return rows;
}

// Stores `records`, gives them timestamps with ties (the same SQL on both backends), and makes two
// of them rows this version cannot decode; returns what the listing should see.
template <class Backend>
std::vector<Row> fill(cm::Store& store, const Backend& backend, const std::vector<json>& records) {
  store.transaction([&] {
    for (const auto& r : records) store.insert_instance(cm::record_from_json(r));
  });
  backend.sql(
      "UPDATE instances SET created_at = '2026-01-01T00:00:0' || substr(instance_id, "
      "length(instance_id), 1) || 'Z', updated_at = '2026-02-01T00:00:0' || substr(instance_id, "
      "length(instance_id) - 1, 1) || 'Z'");
  const std::vector<std::string> broken = {instance_id(7), instance_id(12)};
  for (const auto& id : broken) {
    backend.sql("UPDATE instances SET doc = 'not json' WHERE instance_id = '" + id + "'");
  }
  return rows_of(records, broken);
}

// The listing's semantics (admin/instance_query.hpp), computed from the rows.
std::vector<std::string> expected(const std::vector<Row>& rows, const cm::admin::InstanceQuery& q,
                                  const cm::LastSeen* seen) {
  std::vector<const Row*> matches;
  for (const Row& row : rows) {
    if (q.filter.ip && row.ip != *q.filter.ip) continue;
    if (q.invalid && row.invalid != *q.invalid) continue;
    bool tags = true;
    for (const auto& t : q.filter.tags) {
      const auto it = row.tags.find(t.key);
      tags = tags && it != row.tags.end() && (!t.value || it->second == *t.value);
    }
    if (!tags) continue;
    if (q.filter.prefix) {
      const std::string& p = *q.filter.prefix;
      bool hit =
          starts_with(row.id, p) || starts_with(row.ip, p) || starts_with(lower(row.hostname), p);
      for (const auto& [key, value] : row.tags) hit = hit || starts_with(lower(value), p);
      if (!hit) continue;
    }
    matches.push_back(&row);
  }
  const auto key_of = [&q, seen](const Row& row) -> std::string {
    if (q.sort == "ip") return hex_of(*cm::IpKey::parse(row.ip));
    if (q.sort == "hostname") return lower(row.hostname);
    if (q.sort == "instance_type") return row.instance_type;
    if (q.sort == "region") return row.region;
    if (q.sort == "created_at") return row.created_at;
    if (q.sort == "updated_at") return row.updated_at;
    if (q.sort == "last_seen") {
      const auto s = seen ? seen->find(*cm::IpKey::parse(row.ip)) : std::nullopt;
      if (!s) return {};
      char at[24];
      std::snprintf(at, sizeof at, "%020lld", static_cast<long long>(s->at));
      return at + hex_of(*cm::IpKey::parse(row.ip));
    }
    return {};
  };
  std::sort(matches.begin(), matches.end(), [&](const Row* a, const Row* b) {
    const std::string ka = key_of(*a), kb = key_of(*b);
    if (q.sort == "last_seen" && ka.empty() != kb.empty()) return kb.empty();  // seen first
    const int c = ka.compare(kb);
    const int order = c != 0 ? c : a->id.compare(b->id);
    return q.descending ? order > 0 : order < 0;
  });
  std::vector<std::string> out;
  for (const Row* row : matches) out.push_back(row->id);
  return out;
}

cm::admin::InstanceQuery parsed(const std::string& query) {
  return cm::admin::parse_instance_query(cm::admin::parse_target("/api/v1/instances?" + query));
}

// Every page of a listing, following next_cursor; the ids in order.
std::vector<std::string> page_through(cm::Store& store, cm::admin::InstanceQuery q,
                                      const cm::LastSeen* seen,
                                      const cm::admin::ListingBudget& budget,
                                      std::size_t* pages = nullptr) {
  std::vector<std::string> ids;
  for (std::size_t page = 0; page < 10'000; ++page) {
    const auto result = cm::admin::run_instance_query(q, store, seen, budget);
    for (const auto& r : result.records) ids.push_back(r.instance_id);
    if (pages) *pages = page + 1;
    if (!result.next_cursor) return ids;
    q.cursor = *result.next_cursor;
  }
  FAIL("the listing did not end");
  return ids;
}

// Budgets small enough that a 120-row fleet takes the scan plan and short pages.
cm::admin::ListingBudget tiny_budget() {
  cm::admin::ListingBudget b;
  b.selective = 3;
  b.scan_rows = 20;
  b.decode_rows = 10;
  b.time = std::chrono::milliseconds(10'000);
  return b;
}

const std::vector<std::string> kFilters = {
    "",          "ip=10.0.0.5",    "tag=env=prod", "tag=team",          "tag=env=dev&tag=team",
    "q=web",     "q=WEB-3",        "q=10.0.1",     "q=2001:db8::",      "q=i-00000000000001",
    "q=zür",     "q=zü",           "invalid=true", "invalid=false&q=w", "tag=Name=Web%200&q=web",
    "q=nothing", "tag=env=nobody",
};
const std::vector<std::string> kSorts = {"instance_id", "ip",         "hostname",   "instance_type",
                                         "region",      "created_at", "updated_at", "last_seen"};

// Sees a few callers at tied and distinct times.
void note_some(cm::LastSeen& seen, const std::vector<Row>& rows) {
  for (std::size_t i = 0; i < rows.size(); i += 3) {
    const auto ip = *cm::IpKey::parse(rows[i].ip);
    seen.note(ip, ip, 1'000 + static_cast<std::int64_t>(i % 4));
  }
  seen.note(*cm::IpKey::parse("192.0.2.1"), *cm::IpKey::parse("192.0.2.1"),
            1'002);  // gone
}

// Every filter, sort and order, paged with the default and the tiny budget; returns the ids of each
// listing, by its query text.
std::map<std::string, std::vector<std::string>> check_listings(cm::Store& store,
                                                               const std::vector<Row>& rows,
                                                               const cm::LastSeen& seen) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& filter : kFilters) {
    for (const auto& sort : kSorts) {
      for (const char* order : {"asc", "desc"}) {
        const std::string text =
            "sort=" + sort + "&order=" + order + "&limit=7" + (filter.empty() ? "" : "&" + filter);
        CAPTURE(text);
        const auto q = parsed(text);
        const auto want = expected(rows, q, &seen);
        const auto normal = page_through(store, q, &seen, {});
        CHECK(normal == want);
        const auto small = page_through(store, q, &seen, tiny_budget());
        CHECK(small == want);
        out[text] = normal;
      }
    }
  }
  return out;
}

}  // namespace

TEST_CASE_TEMPLATE("admin listing: the derived columns and tags follow every write", B, BACKENDS) {
  B backend;
  auto store = cm::open_store(backend.url());
  store->migrate();
  const auto record = [](const std::string& id, const std::string& ip, const std::string& host,
                         json tags) {
    return cm::record_from_json(
        {{"instance_id", id}, {"ip", ip}, {"hostname", host}, {"tags", std::move(tags)}});
  };
  store->insert_instance(record("i-00000001", "10.0.0.9", "Web-1", {{"env", "Prod"}}));
  CHECK(backend.sql("SELECT hostname_key || '|' || ip_key FROM instances") ==
        std::vector<std::string>{"web-1|00000000000000000000ffff0a000009"});
  CHECK(backend.sql(
            "SELECT tag_key || '=' || tag_value || '|' || tag_value_key FROM instance_tags") ==
        std::vector<std::string>{"env=Prod|prod"});

  store->update_instance(record("i-00000001", "2001:db8::1", "db-1", {{"team", "ops"}}));
  CHECK(backend.sql("SELECT hostname_key || '|' || ip_key FROM instances") ==
        std::vector<std::string>{"db-1|20010db8000000000000000000000001"});
  CHECK(backend.sql("SELECT tag_key FROM instance_tags") == std::vector<std::string>{"team"});

  // A hand edit to a document that is not JSON is still written; it derives nothing.
  backend.sql("UPDATE instances SET doc = 'not json'");
  CHECK(backend.sql("SELECT hostname_key || '|' || ip_key FROM instances") ==
        std::vector<std::string>{"|20010db8000000000000000000000001"});
  CHECK(backend.sql("SELECT count(*) FROM instance_tags") == std::vector<std::string>{"0"});

  store->update_instance(record("i-00000001", "10.0.0.9", "a", {{"k", "v"}}));
  CHECK(store->delete_instance("i-00000001"));
  CHECK(backend.sql("SELECT count(*) FROM instance_tags") == std::vector<std::string>{"0"});
}

TEST_CASE_TEMPLATE("admin listing: migration 4 derives the values of rows written before it", B,
                   BACKENDS) {
  B backend;
  if constexpr (std::is_same_v<B, SqliteBackend>) {
    SQLite::Database create(backend.dir_ + "/store.db",
                            SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  }
  // The schema as of the migration before 4, with rows written by hand (as an older binary wrote
  // them).
  backend.sql(
      "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at "
      "TEXT NOT NULL)");
  for (const auto& m : cm::migrations(B::kDialect)) {
    if (m.version >= 4) break;
    if constexpr (std::is_same_v<B, SqliteBackend>) {
      SQLite::Database db(backend.dir_ + "/store.db", SQLite::OPEN_READWRITE);
      db.exec(std::string(m.sql));
    } else {
      backend.sql(std::string(m.sql));
    }
    backend.sql("INSERT INTO schema_migrations VALUES (" + std::to_string(m.version) + ", '" +
                std::string(m.name) + "', 'then')");
  }
  backend.sql(
      "INSERT INTO instances (instance_id, ip, doc, created_at, updated_at) VALUES ('i-00000001', "
      "'::1.2.3.4', '{\"hostname\": \"Web-1\", \"tags\": {\"Name\": \"Web\"}}', 'a', 'a'), "
      "('i-00000002', '10.0.0.10', 'not json', 'a', 'a')");
  auto store = cm::open_store(backend.url());
  store->migrate();
  CHECK(backend.sql("SELECT hostname_key || '|' || ip_key FROM instances ORDER BY instance_id") ==
        std::vector<std::string>{"web-1|00000000000000000000000001020304",
                                 "|00000000000000000000ffff0a00000a"});
  CHECK(backend.sql("SELECT tag_value_key FROM instance_tags") == std::vector<std::string>{"web"});
}

TEST_CASE_TEMPLATE("admin listing: ip sorts by the address's 16 bytes on both backends", B,
                   BACKENDS) {
  B backend;
  auto store = cm::open_store(backend.url());
  store->migrate();
  const std::vector<std::string> addresses = {"10.0.0.9",
                                              "10.0.0.10",
                                              "9.255.255.255",
                                              "255.255.255.255",
                                              "0.0.0.0",
                                              "::",
                                              "::1",
                                              "::2:3",
                                              "1::",
                                              "2001:db8::1",
                                              "2001:db8:0:1::",
                                              "fe80::1:2",
                                              "1:2:3:4:5:6:7:8",
                                              "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                                              "::ffff:0:1"};
  std::vector<std::string> canonical;
  for (const auto& a : addresses) canonical.push_back(cm::IpKey::parse(a)->to_string());
  canonical.push_back(
      cm::IpKey::from_v6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}).to_string());
  CHECK(canonical.back() == "::1.2.3.4");
  int n = 0;
  for (const auto& ip : canonical) {
    store->insert_instance(cm::record_from_json({{"instance_id", instance_id(n++)}, {"ip", ip}}));
  }
  for (const auto& ip : canonical) {
    CAPTURE(ip);
    CHECK(backend.sql("SELECT ip_key FROM instances WHERE ip = '" + ip + "'") ==
          std::vector<std::string>{hex_of(*cm::IpKey::parse(ip))});
  }
}

TEST_CASE_TEMPLATE("admin listing: every filter, sort and order, paged by cursor, as documented", B,
                   BACKENDS) {
  B backend;
  auto store = cm::open_store(backend.url());
  store->migrate();
  const auto rows = fill(*store, backend, fleet(120));
  cm::LastSeen seen;
  note_some(seen, rows);
  check_listings(*store, rows, seen);
}

TEST_CASE("admin listing: SQLite and Postgres list the same rows in the same order<postgres>") {
  SqliteBackend lite;
  PostgresBackend pg;
  auto a = cm::open_store(lite.url());
  auto b = cm::open_store(pg.url());
  a->migrate();
  b->migrate();
  const auto records = fleet(120);
  const auto rows = fill(*a, lite, records);
  fill(*b, pg, records);
  cm::LastSeen seen;
  note_some(seen, rows);
  const auto on_sqlite = check_listings(*a, rows, seen);
  const auto on_postgres = check_listings(*b, rows, seen);
  CHECK(on_sqlite == on_postgres);
}

TEST_CASE_TEMPLATE("admin listing: offset pages within its window, and totals", B, BACKENDS) {
  B backend;
  auto store = cm::open_store(backend.url());
  store->migrate();
  const auto rows = fill(*store, backend, fleet(60));
  const auto all = expected(rows, parsed("sort=hostname"), nullptr);
  const auto page =
      cm::admin::run_instance_query(parsed("sort=hostname&limit=10&offset=20"), *store, nullptr);
  REQUIRE(page.records.size() == 10);
  for (std::size_t i = 0; i < 10; ++i) CHECK(page.records[i].instance_id == all[20 + i]);
  CHECK(page.total == 60);
  CHECK_FALSE(page.total_estimated);

  const auto prod = cm::admin::run_instance_query(parsed("tag=env=prod&limit=5"), *store, nullptr);
  CHECK(prod.total == expected(rows, parsed("tag=env=prod"), nullptr).size());
  CHECK_FALSE(prod.total_estimated);
  // A filter matching more than the indexes answer alone: a lower bound, marked.
  auto budget = tiny_budget();
  const auto many =
      cm::admin::run_instance_query(parsed("tag=env=prod&limit=5"), *store, nullptr, budget);
  CHECK(many.total == budget.selective + 1);
  CHECK(many.total_estimated);
  CHECK_FALSE(cm::admin::run_instance_query(parsed("invalid=true&limit=5"), *store, nullptr).total);
  // The total follows every write, this connection's and another's (SQLite keeps it per
  // revision).
  const std::size_t before = store->instance_total().count;
  CHECK(before == 60);
  auto other = cm::open_store(backend.url());
  other->insert_instance(cm::record_from_json({{"instance_id", "i-0fffffff"}, {"ip", "10.9.9.9"}}));
  CHECK(store->instance_total().count == 61);
  store->delete_instance("i-0fffffff");
  CHECK(store->instance_total().count == 60);
  // The condition with the fewest matches drives the count and the listing; past at_most
  // everywhere, the count stops there.
  cm::InstanceFilter both;
  both.tags = {{"env", "prod"}, {"team", "ops"}};
  const auto counted = store->count_instances(both, 1000);
  CHECK(counted.driver == 1);
  CHECK(counted.count == expected(rows, parsed("tag=env=prod&tag=team=ops"), nullptr).size());
  const auto capped = store->count_instances(both, 5);
  CHECK(capped.driver == -1);
  CHECK(capped.count == 5);
  // The whole listing at once: small enough, every row, nothing after it.
  const auto whole = cm::admin::run_instance_query(parsed("sort=hostname"), *store, nullptr);
  CHECK(whole.records.size() == 60);
  CHECK_FALSE(whole.next_cursor);
}

TEST_CASE_TEMPLATE(
    "admin listing: cursor paging lists every record exactly once while others are created and "
    "deleted",
    B, BACKENDS) {
  B backend;
  auto store = cm::open_store(backend.url());
  store->migrate();
  const auto records = fleet(150);
  store->transaction([&] {
    for (const auto& r : records) store->insert_instance(cm::record_from_json(r));
  });
  std::set<std::string> stable;
  for (const auto& r : records) stable.insert(r["instance_id"]);

  // Another connection (another host) creates instances and deletes them again meanwhile.
  std::atomic<bool> stop{false};
  std::atomic<int> churned{0};
  std::thread writer([&] {
    auto other = cm::open_store(backend.url());
    for (int i = 0; !stop; ++i) {
      const std::string id = instance_id(1000 + i % 200);
      const json r = {
          {"instance_id", id},
          {"ip", "10.9." + std::to_string(i % 200 / 100) + "." + std::to_string(i % 100)},
          {"hostname", "web-" + std::to_string(i % 10)},
          {"tags", {{"env", "prod"}}}};
      if (other->find_instance(id)) {
        other->delete_instance(id);
      } else {
        other->insert_instance(cm::record_from_json(r));
      }
      ++churned;
    }
  });
  // The paging below must overlap the churn: on a loaded machine the writer's first write (a new
  // connection first) came after the paging had ended, and the check at the end failed.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (churned == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  for (const std::string query :
       {"sort=instance_id&limit=7", "sort=hostname&order=desc&limit=5", "sort=created_at&limit=9",
        "tag=env=prod&sort=ip&limit=4", "q=web&sort=hostname&limit=6"}) {
    for (const bool tiny : {false, true}) {
      CAPTURE(query);
      CAPTURE(tiny);
      const auto ids = page_through(*store, parsed(query), nullptr,
                                    tiny ? tiny_budget() : cm::admin::ListingBudget{});
      std::map<std::string, int> times;
      for (const auto& id : ids) ++times[id];
      // Not a structured binding: CAPTURE's lambda cannot capture one before clang 16.
      for (const auto& entry : times) {
        CAPTURE(entry.first);
        CHECK(entry.second == 1);
      }
      const auto want = expected(rows_of(records), parsed(query), nullptr);
      for (const auto& id : want) {
        CAPTURE(id);
        CHECK(times.count(id) == 1);
      }
    }
  }
  stop = true;
  writer.join();
  CHECK(churned > 0);
}
