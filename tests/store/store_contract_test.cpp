// The Store contract (include/cloudmeta/store.hpp), the same cases on both backends: a SQLite
// file and a real PostgreSQL server. Each case runs once per backend; ctest names them
// "store contract: ...<sqlite>" and "...<postgres>"; the latter need the server that
// tests/postgres.cmake provides. PostgreSQL-only cases are in postgres_store_test.cpp.
#include <doctest/doctest.h>
#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "cloudmeta/record_json.hpp"
#include "cloudmeta/schema.hpp"
#include "cloudmeta/store.hpp"
#include "store_backends.hpp"

namespace {

namespace cm = cloudmeta;
using Kind = cm::StoreError::Kind;
using nlohmann::json;
using cm::testing::PostgresBackend;
using cm::testing::SqliteBackend;

// One database; open() gives a new Store on it, as another process or host would have.
template <class Backend>
struct Fixture {
  std::unique_ptr<cm::Store> open() { return cm::open_store(backend.url()); }
  std::unique_ptr<cm::Store> open_migrated() {
    auto store = open();
    store->migrate();
    return store;
  }
  Backend backend;
};

cm::InstanceRecord sample(const std::string& id = "i-0123456789abcdef0",
                          const std::string& ip = "10.0.0.5") {
  return cm::record_from_json(json{
      {"instance_id", id},
      {"ip", ip},
      {"hostname", "web-1"},
      {"region", "eu-west-1"},
      {"availability_zone", "eu-west-1b"},
      {"tags", {{"Name", "web one"}, {"env", "prod"}}},
      {"security_groups", {"default", "web"}},
      {"user_data_base64", "AAEC/3VzZXItZGF0YQ=="},  // bytes 00 01 02 ff: not text
      {"metadata_options", {{"http_tokens", "required"}, {"http_put_response_hop_limit", 2}}},
      {"extra", {{"custom", {{"key", "value"}}}}},
  });
}

// Equal as the admin API would show them, store-maintained timestamps aside.
// Every member set: g++ warns (-Wmissing-field-initializers) on designated initializers that
// leave some members to their defaults.
cm::AuditQuery audit_query(std::string instance_id, std::string actor = "", std::string since = "",
                           std::int64_t before_id = 0, int limit = 50) {
  cm::AuditQuery q;
  q.instance_id = std::move(instance_id);
  q.actor = std::move(actor);
  q.since = std::move(since);
  q.before_id = before_id;
  q.limit = limit;
  return q;
}

void check_same(const cm::InstanceRecord& a, const cm::InstanceRecord& b) {
  auto ja = cm::record_to_json(a);
  auto jb = cm::record_to_json(b);
  for (auto* j : {&ja, &jb}) {
    j->erase("created_at");
    j->erase("updated_at");
  }
  CHECK(ja == jb);
}

template <class F>
cm::StoreError store_error_of(F&& f) {
  try {
    f();
  } catch (const cm::StoreError& e) {
    return e;
  }
  FAIL("expected a StoreError");
  return cm::StoreError(Kind::kCorrupt, "unreachable");
}

#define BACKENDS SqliteBackend, PostgresBackend

TEST_CASE_TEMPLATE("store contract: migrate from empty, then again is a no-op", B, BACKENDS) {
  Fixture<B> f;
  auto store = f.open();
  const int latest = cm::migrations(B::kDialect).back().version;
  CHECK(store->schema_version() == 0);
  CHECK(store->migrate() == latest);
  CHECK(store->schema_version() == latest);
  CHECK(f.open()->migrate() == latest);
  CHECK(store->revision() == 0);
  CHECK(store->list_instances().empty());
}

// Several hosts start (or run `cloudmeta migrate`) at the same moment against one database.
TEST_CASE_TEMPLATE("store contract: concurrent migrations all succeed", B, BACKENDS) {
  Fixture<B> f;
  const int latest = cm::migrations(B::kDialect).back().version;
  std::vector<std::unique_ptr<cm::Store>> stores;
  for (int i = 0; i < 4; ++i) stores.push_back(f.open());
  std::vector<int> versions(stores.size(), -1);
  std::vector<std::string> errors(stores.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < stores.size(); ++i) {
    threads.emplace_back([&, i] {
      try {
        versions[i] = stores[i]->migrate();
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (std::size_t i = 0; i < stores.size(); ++i) {
    INFO("store " << i << ": " << errors[i]);
    CHECK(versions[i] == latest);
  }
}

TEST_CASE_TEMPLATE("store contract: an instance round-trips with every field", B, BACKENDS) {
  Fixture<B> f;
  auto store = f.open_migrated();
  const auto record = sample();
  const auto stored = store->insert_instance(record);
  CHECK_FALSE(stored.created_at.empty());
  CHECK(stored.created_at == stored.updated_at);
  check_same(stored, record);

  auto by_id = store->find_instance(record.instance_id);
  REQUIRE(by_id);
  check_same(*by_id, record);
  CHECK(by_id->user_data == record.user_data);
  CHECK(by_id->created_at == stored.created_at);
  auto by_ip = store->find_instance_by_ip("10.0.0.5");
  REQUIRE(by_ip);
  CHECK(by_ip->instance_id == record.instance_id);
  CHECK_FALSE(store->find_instance("i-00000000000000000"));
  CHECK_FALSE(store->find_instance_by_ip("10.0.0.6"));

  store->insert_instance(sample("i-0aaaaaaaaaaaaaaa1", "fd00::1"));
  auto all = store->list_instances();
  REQUIRE(all.size() == 2);
  CHECK(f.open()->list_instances().size() == 2);  // committed, visible to another connection
}

TEST_CASE_TEMPLATE("store contract: find_instances and holders_of look up a batch at once", B,
                   BACKENDS) {
  Fixture<B> f;
  auto store = f.open_migrated();
  std::vector<std::string> ids;
  std::vector<std::string> ips;
  for (int n = 0; n < 1000; ++n) {
    char id[32];
    std::snprintf(id, sizeof id, "i-%017x", n + 1);
    const std::string ip = "10.7." + std::to_string(n / 200) + "." + std::to_string(n % 200 + 1);
    if (n % 2 == 0) store->insert_instance(sample(id, ip));  // every other one is stored
    ids.push_back(id);
    ips.push_back(ip);
  }
  const auto found = store->find_instances(ids);
  CHECK(found.size() == 500);
  std::set<std::string> found_ids;
  for (const auto& record : found) found_ids.insert(record.instance_id);
  CHECK(found_ids.size() == 500);
  CHECK(found_ids.count(ids[0]) == 1);
  CHECK(found_ids.count(ids[1]) == 0);
  check_same(*std::find_if(found.begin(), found.end(),
                           [&](const auto& r) { return r.instance_id == ids[2]; }),
             sample(ids[2], ips[2]));

  // Answered in the form asked; stored addresses are canonical. Not addresses, and characters
  // that mean something in an array literal, find nothing and break nothing.
  ips.push_back("::ffff:10.7.0.3");
  ips.push_back("not an address");
  ips.push_back("\"},{\\");
  const auto holders = store->holders_of(ips);
  std::map<std::string, std::string> holder;
  for (const auto& [ip, id] : holders) holder[ip] = id;
  CHECK(holders.size() == 501);
  CHECK(holder.at("10.7.0.1") == ids[0]);
  CHECK(holder.count("10.7.0.2") == 0);
  CHECK(holder.at("::ffff:10.7.0.3") == ids[2]);
  CHECK(store->find_instances({"\"}", "i-00000000000000001", "{\\\"i\"}"}).size() == 1);
  CHECK(store->find_instances({}).empty());
  CHECK(store->holders_of({}).empty());
}

TEST_CASE_TEMPLATE("store contract: scan_instances hands over every row undecoded", B, BACKENDS) {
  Fixture<B> f;
  auto store = f.open_migrated();
  const auto first = store->insert_instance(sample());
  const auto second = store->insert_instance(sample("i-0aaaaaaaaaaaaaaa1", "fd00::1"));
  // The visitor sees views that die with the call: keep copies, decoded while they live.
  struct Copy {
    std::string ip, created_at, updated_at;
    cm::InstanceRecord decoded;
  };
  std::map<std::string, Copy> rows;
  store->scan_instances([&rows](cm::StoredInstance&& row) {
    rows.emplace(std::string(row.instance_id),
                 Copy{std::string(row.ip), std::string(row.created_at),
                      std::string(row.updated_at), decode(row)});
  });
  REQUIRE(rows.size() == 2);
  for (const auto* stored : {&first, &second}) {
    const auto& row = rows.at(stored->instance_id);
    CHECK(row.ip == stored->ip);
    CHECK(row.created_at == stored->created_at);
    CHECK(row.updated_at == stored->updated_at);
    // The document decodes to the record the typed reads return.
    check_same(row.decoded, *store->find_instance(stored->instance_id));
  }
}

TEST_CASE_TEMPLATE("store contract: instance_count_hint estimates the rows without reading them",
                   B, BACKENDS) {
  Fixture<B> f;
  auto store = f.open_migrated();
  CHECK(store->instance_count_hint() == 0);
  for (int i = 0; i < 40; ++i) {
    char id[32], ip[32];
    std::snprintf(id, sizeof id, "i-%017x", i + 1);
    std::snprintf(ip, sizeof ip, "10.0.1.%d", i + 1);
    store->insert_instance(sample(id, ip));
  }
  REQUIRE(store->delete_instance("i-00000000000000001"));
  if constexpr (std::is_same_v<B, PostgresBackend>) {
    // The planner's estimate, as fresh as the last ANALYZE (autovacuum runs one in production).
    std::unique_ptr<PGconn, decltype(&PQfinish)> db(PQconnectdb(f.backend.url().c_str()),
                                                    &PQfinish);
    PGresult* analyzed = PQexec(db.get(), "ANALYZE instances");
    REQUIRE(PQresultStatus(analyzed) == PGRES_COMMAND_OK);
    PQclear(analyzed);
    CHECK(store->instance_count_hint() == 39);
  } else {
    // max(rowid): never below the count; the deleted first row does not lower it.
    CHECK(store->instance_count_hint() == 40);
  }
}

TEST_CASE_TEMPLATE("store contract: a taken instance_id or ip is kConflict naming it", B,
                   BACKENDS) {
  Fixture<B> f;
  auto store = f.open_migrated();
  store->insert_instance(sample("i-0123456789abcdef0", "10.0.0.5"));
  const auto before = store->revision();

  auto same_id =
      store_error_of([&] { store->insert_instance(sample("i-0123456789abcdef0", "10.0.0.9")); });
  CHECK(same_id.kind() == Kind::kConflict);
  CHECK(std::string(same_id.what()).find("instance_id") != std::string::npos);

  auto same_ip =
      store_error_of([&] { store->insert_instance(sample("i-0bbbbbbbbbbbbbbb2", "10.0.0.5")); });
  CHECK(same_ip.kind() == Kind::kConflict);
  CHECK(std::string(same_ip.what()).find("ip") != std::string::npos);
  CHECK(std::string(same_ip.what()).find("instance_id") == std::string::npos);

  CHECK(store->revision() == before);  // a refused write is not a write
  CHECK(store->list_instances().size() == 1);
  // The connection is still usable after the failed transactions.
  store->insert_instance(sample("i-0bbbbbbbbbbbbbbb2", "10.0.0.6"));
  CHECK(store->list_instances().size() == 2);
}

TEST_CASE_TEMPLATE("store contract: update keeps created_at, moves the ip, refuses a taken one", B,
                   BACKENDS) {
  Fixture<B> f;
  auto store = f.open_migrated();
  const auto first = store->insert_instance(sample("i-0123456789abcdef0", "10.0.0.5"));
  store->insert_instance(sample("i-0bbbbbbbbbbbbbbb2", "10.0.0.6"));

  auto changed = sample("i-0123456789abcdef0", "10.0.0.7");
  changed.hostname = "web-renamed";
  const auto updated = store->update_instance(changed);
  CHECK(updated.created_at == first.created_at);
  CHECK(updated.hostname == "web-renamed");
  CHECK_FALSE(store->find_instance_by_ip("10.0.0.5"));
  REQUIRE(store->find_instance_by_ip("10.0.0.7"));
  CHECK(store->find_instance_by_ip("10.0.0.7")->hostname == "web-renamed");

  auto taken =
      store_error_of([&] { store->update_instance(sample("i-0123456789abcdef0", "10.0.0.6")); });
  CHECK(taken.kind() == Kind::kConflict);
  CHECK(std::string(taken.what()).find("ip") != std::string::npos);

  auto missing =
      store_error_of([&] { store->update_instance(sample("i-0ccccccccccccccc3", "10.0.0.8")); });
  CHECK(missing.kind() == Kind::kNotFound);
}

TEST_CASE_TEMPLATE("store contract: write_instances inserts and replaces a batch, all or nothing",
                   B, BACKENDS) {
  Fixture<B> f;
  auto store = f.open_migrated();
  const auto first = store->insert_instance(sample("i-0123456789abcdef0", "10.0.0.5"));
  store->insert_instance(sample("i-0bbbbbbbbbbbbbbb2", "10.0.0.6"));
  const auto before = store->revision();

  auto changed = sample("i-0123456789abcdef0", "10.0.0.7");
  changed.hostname = "web-renamed";
  store->write_instances({changed, sample("i-0ccccccccccccccc3", "::ffff:10.0.0.8")});
  CHECK(store->revision() == before + 1);
  const auto updated = store->find_instance("i-0123456789abcdef0");
  REQUIRE(updated);
  CHECK(updated->created_at == first.created_at);
  CHECK(updated->hostname == "web-renamed");
  CHECK_FALSE(store->find_instance_by_ip("10.0.0.5"));
  REQUIRE(store->find_instance_by_ip("10.0.0.8"));  // stored in canonical form, as insert does
  CHECK(store->find_instance_by_ip("10.0.0.8")->instance_id == "i-0ccccccccccccccc3");
  check_same(*store->find_instance("i-0ccccccccccccccc3"),
             sample("i-0ccccccccccccccc3", "10.0.0.8"));

  // An address held by an instance outside the batch: nothing of the batch is written, and
  // the store is still usable.
  auto renamed = sample("i-0ccccccccccccccc3", "10.0.0.8");
  renamed.hostname = "not-written";
  const auto taken = store_error_of([&] {
    store->write_instances({sample("i-0ddddddddddddddd4", "10.0.0.9"), renamed,
                            sample("i-0eeeeeeeeeeeeeee5", "10.0.0.6")});
  });
  CHECK(taken.kind() == Kind::kConflict);
  CHECK(store->revision() == before + 1);
  CHECK_FALSE(store->find_instance("i-0ddddddddddddddd4"));
  CHECK(store->find_instance("i-0ccccccccccccccc3")->hostname == "web-1");

  const auto twice = store_error_of([&] {
    store->write_instances({sample("i-0ddddddddddddddd4", "10.0.0.9"),
                            sample("i-0ddddddddddddddd4", "10.0.0.10")});
  });
  CHECK(twice.kind() == Kind::kInvalid);
  std::vector<cm::InstanceRecord> too_many;
  for (std::size_t n = 0; n <= cm::Store::kLookupBatch; ++n) {
    char id[32];
    std::snprintf(id, sizeof id, "i-%017zu", n);
    too_many.push_back(sample(id, "10.1." + std::to_string(n / 250) + "." +
                                      std::to_string(n % 250 + 1)));
  }
  CHECK(store_error_of([&] { store->write_instances(too_many); }).kind() == Kind::kInvalid);
  too_many.pop_back();
  store->write_instances(too_many);  // kLookupBatch is allowed
  CHECK(store->revision() == before + 2);
  store->write_instances({});  // nothing to write is no revision
  CHECK(store->revision() == before + 2);
  CHECK(store->list_instances().size() == 3 + cm::Store::kLookupBatch);
}

TEST_CASE_TEMPLATE("store contract: delete reports whether a row went", B, BACKENDS) {
  Fixture<B> f;
  auto store = f.open_migrated();
  store->insert_instance(sample());
  CHECK(store->delete_instance("i-0123456789abcdef0"));
  CHECK_FALSE(store->delete_instance("i-0123456789abcdef0"));
  CHECK_FALSE(store->find_instance("i-0123456789abcdef0"));
  // The ip is free again.
  store->insert_instance(sample("i-0bbbbbbbbbbbbbbb2", "10.0.0.5"));
}

// Fleet decides between patching its snapshot and a full reload on "exactly one per write".
TEST_CASE_TEMPLATE("store contract: revision grows by one per instance write, from any writer", B,
                   BACKENDS) {
  Fixture<B> f;
  auto a = f.open_migrated();
  auto b = f.open();
  CHECK(a->revision() == 0);
  a->insert_instance(sample("i-0123456789abcdef0", "10.0.0.5"));
  CHECK(a->revision() == 1);
  CHECK(b->revision() == 1);
  b->insert_instance(sample("i-0bbbbbbbbbbbbbbb2", "10.0.0.6"));
  CHECK(a->revision() == 2);
  a->update_instance(sample("i-0123456789abcdef0", "10.0.0.7"));
  CHECK(b->revision() == 3);
  b->delete_instance("i-0bbbbbbbbbbbbbbb2");
  CHECK(a->revision() == 4);
  b->delete_instance("i-0bbbbbbbbbbbbbbb2");  // nothing deleted
  CHECK(a->revision() == 4);
  // Users, tokens and settings are not instance writes.
  a->get_or_create_setting("k", "v");
  a->create_user(cm::User{0, "root", "", "hash", ""});
  CHECK(a->revision() == 4);
}

TEST_CASE_TEMPLATE("store contract: superusers", B, BACKENDS) {
  Fixture<B> f;
  auto store = f.open_migrated();
  const auto created = store->create_user(cm::User{0, "admin", "ops@example.com", "h1", ""});
  CHECK(created.id > 0);
  CHECK_FALSE(created.created_at.empty());
  auto dup = store_error_of([&] { store->create_user(cm::User{0, "admin", "", "h2", ""}); });
  CHECK(dup.kind() == Kind::kConflict);

  auto found = store->find_user("admin");
  REQUIRE(found);
  CHECK(found->id == created.id);
  CHECK(found->email == "ops@example.com");
  CHECK(found->password_hash == "h1");
  CHECK_FALSE(store->find_user("nobody"));

  CHECK(store->set_password_hash("admin", "h3"));
  CHECK(store->find_user("admin")->password_hash == "h3");
  CHECK_FALSE(store->set_password_hash("nobody", "h4"));

  store->create_user(cm::User{0, "backup", "", "h5", ""});
  auto users = store->list_users();
  REQUIRE(users.size() == 2);
}

TEST_CASE_TEMPLATE("store contract: API tokens", B, BACKENDS) {
  Fixture<B> f;
  auto store = f.open_migrated();
  const std::string hash(64, 'a');
  const auto created = store->create_api_token(cm::ApiToken{0, "ci", hash, "cm_abcd", "", ""});
  CHECK(created.id > 0);
  CHECK(created.last_used_at.empty());
  auto dup = store_error_of([&] {
    store->create_api_token(cm::ApiToken{0, "ci", std::string(64, 'b'), "cm_x", "", ""});
  });
  CHECK(dup.kind() == Kind::kConflict);

  auto found = store->find_api_token_by_hash(hash);
  REQUIRE(found);
  CHECK(found->name == "ci");
  CHECK(found->prefix == "cm_abcd");
  CHECK(found->last_used_at.empty());
  CHECK_FALSE(store->find_api_token_by_hash(std::string(64, 'c')));

  store->touch_api_token(created.id, "2026-01-02T03:04:05Z");
  CHECK(store->find_api_token_by_hash(hash)->last_used_at == "2026-01-02T03:04:05Z");

  store->create_api_token(cm::ApiToken{0, "deploy", std::string(64, 'd'), "cm_dddd", "", ""});
  CHECK(store->list_api_tokens().size() == 2);
  CHECK(store->revoke_api_token("ci"));
  CHECK_FALSE(store->revoke_api_token("ci"));
  CHECK_FALSE(store->find_api_token_by_hash(hash));
  CHECK(store->list_api_tokens().size() == 1);
}

TEST_CASE_TEMPLATE("store contract: settings keep the first value", B, BACKENDS) {
  Fixture<B> f;
  auto a = f.open_migrated();
  auto b = f.open();
  CHECK_FALSE(a->get_setting("secret_key"));
  CHECK(a->get_or_create_setting("secret_key", "first") == "first");
  CHECK(b->get_or_create_setting("secret_key", "second") == "first");
  CHECK(b->get_setting("secret_key") == std::optional<std::string>("first"));
}

// `cloudmeta identity rotate` replaces the stored keys only if no one else did since it read them.
TEST_CASE_TEMPLATE("store contract: replace_setting replaces only the value it was given", B,
                   BACKENDS) {
  Fixture<B> f;
  auto a = f.open_migrated();
  auto b = f.open();
  CHECK_FALSE(a->replace_setting("keys", "anything", "new"));  // no such setting: nothing made
  CHECK_FALSE(a->get_setting("keys"));
  a->get_or_create_setting("keys", "v1");
  CHECK(b->replace_setting("keys", "v1", "v2"));
  CHECK_FALSE(a->replace_setting("keys", "v1", "v3"));  // a read v1, b changed it meanwhile
  CHECK(a->get_setting("keys") == std::optional<std::string>("v2"));
  // Inside a transaction that then fails, the replacement goes with it.
  CHECK_THROWS(a->transaction([&] {
    CHECK(a->replace_setting("keys", "v2", "v3"));
    throw std::runtime_error("the audit entry failed");
  }));
  CHECK(b->get_setting("keys") == std::optional<std::string>("v2"));
}

// Hosts starting together must all end up with one SECRET_KEY.
TEST_CASE_TEMPLATE("store contract: concurrent get_or_create_setting agrees on one value", B,
                   BACKENDS) {
  Fixture<B> f;
  f.open_migrated();
  std::vector<std::unique_ptr<cm::Store>> stores;
  for (int i = 0; i < 4; ++i) stores.push_back(f.open());
  for (int round = 0; round < 5; ++round) {
    const std::string key = "key" + std::to_string(round);
    std::vector<std::string> got(stores.size());
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < stores.size(); ++i) {
      threads.emplace_back([&, i] {
        try {
          got[i] = stores[i]->get_or_create_setting(key, "value-from-" + std::to_string(i));
        } catch (const std::exception& e) {
          got[i] = std::string("error: ") + e.what();
        }
      });
    }
    for (auto& t : threads) t.join();
    for (const auto& value : got) CHECK(value == got[0]);
    CHECK(got[0].rfind("value-from-", 0) == 0);
  }
}

TEST_CASE_TEMPLATE("store contract: data survives closing and reopening", B, BACKENDS) {
  Fixture<B> f;
  {
    auto store = f.open_migrated();
    store->insert_instance(sample());
    store->create_user(cm::User{0, "admin", "", "h", ""});
    store->get_or_create_setting("secret_key", "s");
  }
  auto store = f.open_migrated();
  REQUIRE(store->find_instance("i-0123456789abcdef0"));
  check_same(*store->find_instance("i-0123456789abcdef0"), sample());
  CHECK(store->find_user("admin"));
  CHECK(store->get_setting("secret_key") == std::optional<std::string>("s"));
  CHECK(store->revision() == 1);
}

TEST_CASE_TEMPLATE("store contract: admin sessions expire, and logout deletes them", B, BACKENDS) {
  Fixture<B> f;
  auto store = f.open_migrated();
  store->create_admin_session(cm::AdminSession{"old", "admin", "127.0.0.1", "", 100}, 50);
  REQUIRE(store->find_admin_session("old"));
  CHECK(store->find_admin_session("old")->expires_at == 100);
  CHECK(store->find_admin_session("old")->username == "admin");
  CHECK_FALSE(store->find_admin_session("old")->created_at.empty());
  // A new session at time 200 sweeps the one that expired at 100.
  store->create_admin_session(cm::AdminSession{"new", "admin", "::1", "", 300}, 200);
  CHECK_FALSE(store->find_admin_session("old"));
  CHECK(f.open_migrated()->find_admin_session("new"));
  CHECK(store->delete_admin_session("new"));
  CHECK_FALSE(store->delete_admin_session("new"));
  CHECK_FALSE(store->find_admin_session("new"));
}

TEST_CASE_TEMPLATE("store contract: a user's sessions end together, but for the one kept", B,
                   BACKENDS) {
  Fixture<B> f;
  auto store = f.open_migrated();
  for (const char* id : {"a1", "a2", "a3"}) {
    store->create_admin_session(cm::AdminSession{id, "admin", "127.0.0.1", "", 1000}, 0);
  }
  store->create_admin_session(cm::AdminSession{"b1", "bob", "127.0.0.1", "", 1000}, 0);
  CHECK(store->delete_admin_sessions_of("admin", "a2") == 2);
  CHECK_FALSE(store->find_admin_session("a1"));
  CHECK(store->find_admin_session("a2"));
  CHECK_FALSE(store->find_admin_session("a3"));
  CHECK(store->find_admin_session("b1"));
  CHECK(store->delete_admin_sessions_of("admin", "") == 1);
  CHECK_FALSE(store->find_admin_session("a2"));
  CHECK(store->find_admin_session("b1"));
}

TEST_CASE_TEMPLATE("store contract: the audit log filters and pages newest first", B, BACKENDS) {
  Fixture<B> f;
  auto store = f.open_migrated();
  CHECK(store->list_audit({}).empty());
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 5; ++i) {
    cm::AuditEntry e;
    e.actor = i % 2 == 0 ? "user:admin" : "token:ci";
    e.peer = "127.0.0.1";
    e.action = "instance.update";
    e.instance_id = i < 3 ? "i-00000001" : "i-00000002";
    e.fields = R"(["hostname"])";
    e.before = R"({"hostname":"a"})";
    e.after = R"({"hostname":"b"})";
    const cm::AuditEntry stored = store->append_audit(e);
    CHECK(stored.at.size() == 20);  // YYYY-MM-DDTHH:MM:SSZ
    if (!ids.empty()) CHECK(stored.id > ids.back());
    ids.push_back(stored.id);
  }
  const auto all = f.open_migrated()->list_audit({});
  REQUIRE(all.size() == 5);
  CHECK(all.front().id == ids.back());
  CHECK(all.front().after == R"({"hostname":"b"})");
  CHECK(all.front().fields == R"(["hostname"])");
  CHECK(store->list_audit(audit_query("i-00000001")).size() == 3);
  CHECK(store->list_audit(audit_query("", "token:ci")).size() == 2);
  CHECK(store->list_audit(audit_query("i-00000002", "token:ci")).size() == 1);
  CHECK(store->list_audit(audit_query("", "", "2000-01-01T00:00:00Z")).size() == 5);
  CHECK(store->list_audit(audit_query("", "", "2999-01-01T00:00:00Z")).empty());
  const auto page1 = store->list_audit(audit_query("", "", "", 0, 2));
  REQUIRE(page1.size() == 2);
  const auto page2 = store->list_audit(audit_query("", "", "", page1.back().id, 2));
  REQUIRE(page2.size() == 2);
  CHECK(page2.front().id == ids[2]);
  CHECK(store->list_audit(audit_query("", "", "", ids[0])).empty());
}

}  // namespace

TEST_CASE_TEMPLATE("store contract: a transaction commits all its writes at once", B, BACKENDS) {
  Fixture<B> f;
  auto store = f.open_migrated();
  auto other = f.open();  // another process: sees nothing before the commit
  store->transaction([&] {
    store->insert_instance(sample("i-0aaaaaaaaaaaaaaa1", "10.0.0.1"));
    store->insert_instance(sample("i-0aaaaaaaaaaaaaaa2", "10.0.0.2"));
    // The transaction's own writes are visible inside it, nested transactions join it.
    CHECK(store->find_instance("i-0aaaaaaaaaaaaaaa1").has_value());
    store->transaction([&] { store->delete_instance("i-0aaaaaaaaaaaaaaa2"); });
    CHECK(store->list_instances().size() == 1);
    CHECK(other->list_instances().empty());
    CHECK(other->revision() == 0);
  });
  CHECK(other->list_instances().size() == 1);
  // Three writes, one transaction: one revision.
  CHECK(other->revision() == 1);
  CHECK(store->revision() == 1);
}

TEST_CASE_TEMPLATE("store contract: a transaction whose body throws leaves no trace", B,
                   BACKENDS) {
  Fixture<B> f;
  auto store = f.open_migrated();
  store->insert_instance(sample("i-0aaaaaaaaaaaaaaa1", "10.0.0.1"));
  struct Refused {};
  CHECK_THROWS_AS(store->transaction([&] {
    store->insert_instance(sample("i-0aaaaaaaaaaaaaaa2", "10.0.0.2"));
    store->delete_instance("i-0aaaaaaaaaaaaaaa1");
    throw Refused{};
  }),
                  Refused);
  // The same store (SQLite caches the revision) and another one agree: nothing happened.
  CHECK(store->revision() == 1);
  CHECK(f.open()->revision() == 1);
  auto rows = store->list_instances();
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].instance_id == "i-0aaaaaaaaaaaaaaa1");
  // And the store works on afterwards.
  store->insert_instance(sample("i-0aaaaaaaaaaaaaaa3", "10.0.0.3"));
  CHECK(store->revision() == 2);
}

TEST_CASE_TEMPLATE("store contract: a failed write inside a transaction undoes only itself", B,
                   BACKENDS) {
  Fixture<B> f;
  auto store = f.open_migrated();
  store->transaction([&] {
    store->insert_instance(sample("i-0aaaaaaaaaaaaaaa1", "10.0.0.1"));
    auto e = store_error_of(
        [&] { store->insert_instance(sample("i-0aaaaaaaaaaaaaaa2", "10.0.0.1")); });
    CHECK(e.kind() == Kind::kConflict);
    CHECK(std::string(e.what()).find("i-0aaaaaaaaaaaaaaa1") != std::string::npos);
    store->insert_instance(sample("i-0aaaaaaaaaaaaaaa3", "10.0.0.3"));
  });
  auto rows = f.open()->list_instances();
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].instance_id == "i-0aaaaaaaaaaaaaaa1");
  CHECK(rows[1].instance_id == "i-0aaaaaaaaaaaaaaa3");
  CHECK(store->revision() == 1);
  CHECK(f.open()->revision() == 1);
}

// The admin thread writes while the sync thread rebuilds the snapshot: one Store, two threads.
TEST_CASE_TEMPLATE("store contract: one store serves several threads at once", B, BACKENDS) {
  Fixture<B> f;
  auto store = f.open_migrated();
  constexpr int kThreads = 4;
  constexpr int kEach = 10;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        char id[32];
        std::snprintf(id, sizeof id, "i-%017d", t * 100 + i);
        try {
          store->insert_instance(
              sample(id, "10.1." + std::to_string(t) + "." + std::to_string(i)));
          store->list_instances();
        } catch (const std::exception&) {
          ++failures;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures == 0);
  CHECK(store->list_instances().size() == kThreads * kEach);
  CHECK(store->revision() == kThreads * kEach);
}

namespace {

// A text literal for a statement run outside the Store.
std::string sql_literal(const std::string& text) {
  std::string out = "'";
  for (const char c : text) {
    out += c;
    if (c == '\'') out += '\'';
  }
  return out + "'";
}

}  // namespace

// What a person with a SQL shell, or a newer cloudmeta sharing the database, can leave in a row.
// Each must leave the row listed (flagged, with what its columns say), findable, replaceable and
// deletable, and the other rows readable.
TEST_CASE_TEMPLATE("store contract: a row that does not decode comes back flagged, not as an error",
                   B, BACKENDS) {
  const std::string id = "i-0123456789abcdef0";
  const std::string other_id = "i-00000000000000001";
  const struct {
    const char* what;
    std::string doc;
    const char* reason;
  } cases[] = {
      {"not JSON", R"({"instance_id": )", "not JSON"},
      {"not an object", "[1, 2]", "must be a JSON object"},
      {"a value of the wrong type", R"({"instance_id": 5, "ip": "10.0.0.5"})", "instance_id"},
      {"a value this version refuses",
       R"({"instance_id": "i-0123456789abcdef0", "ip": "10.0.0.5", "architecture": "riscv64"})",
       "architecture"},
      {"a rule across fields",
       R"({"instance_id": "i-0123456789abcdef0", "ip": "10.0.0.5", "region": "eu-west-1",)"
       R"( "availability_zone": "us-east-1a"})",
       "availability_zone"},
      {"columns and document disagreeing",
       R"({"instance_id": "i-0fedcba9876543210", "ip": "10.0.0.5"})", "disagrees"},
      // Kept as a newer version's member, it would be copied and printed recursively.
      {"nesting deeper than any input may",
       R"({"instance_id": "i-0123456789abcdef0", "ip": "10.0.0.5", "future": )" +
           std::string(100000, '[') + std::string(100000, ']') + "}",
       "deeper than 64"},
  };
  for (const auto& c : cases) {
    const std::string what = c.what;
    CAPTURE(what);
    Fixture<B> f;
    auto store = f.open_migrated();
    store->insert_instance(sample(id, "10.0.0.5"));
    store->insert_instance(sample(other_id, "10.0.0.6"));
    f.backend.sql("UPDATE instances SET doc = " + sql_literal(c.doc) + " WHERE instance_id = '" +
                  id + "'");

    std::vector<cm::InstanceRecord> rows;
    REQUIRE_NOTHROW(rows = store->list_instances());
    REQUIRE(rows.size() == 2);
    CHECK_FALSE(rows[0].invalid);
    check_same(rows[0], sample(other_id, "10.0.0.6"));
    const cm::InstanceRecord& bad = rows[1];
    REQUIRE(bad.invalid);
    CHECK(bad.invalid->reason.find(c.reason) != std::string::npos);
    CHECK(bad.invalid->document == c.doc);
    CHECK(bad.instance_id == id);
    CHECK(bad.ip == "10.0.0.5");
    CHECK_FALSE(bad.created_at.empty());
    CHECK(bad.hostname.empty());
    CHECK(cm::record_to_json(bad) == json{{"instance_id", id},
                                          {"ip", "10.0.0.5"},
                                          {"invalid", bad.invalid->reason},
                                          {"created_at", bad.created_at},
                                          {"updated_at", bad.updated_at}});
    REQUIRE(store->find_instance(id));
    CHECK(store->find_instance(id)->invalid);
    REQUIRE(store->find_instance_by_ip("10.0.0.5"));
    CHECK(store->find_instance_by_ip("10.0.0.5")->instance_id == id);

    // The metadata surface has nothing to serve from it: decode() still refuses it.
    std::size_t refused = 0;
    store->scan_instances([&](cm::StoredInstance&& row) {
      if (row.instance_id != id) return;
      const auto e = store_error_of([&] { cm::decode(row); });
      CHECK(e.kind() == Kind::kCorrupt);
      CHECK(std::string(e.what()).find(id) != std::string::npos);
      ++refused;
    });
    CHECK(refused == 1);

    // A flagged record holds nothing to write back.
    CHECK(store_error_of([&] { store->update_instance(bad); }).kind() == Kind::kInvalid);

    // A whole record replaces it; or it can be deleted.
    store->update_instance(sample(id, "10.0.0.7"));
    auto fixed = store->find_instance(id);
    REQUIRE(fixed);
    CHECK_FALSE(fixed->invalid);
    check_same(*fixed, sample(id, "10.0.0.7"));
    f.backend.sql("UPDATE instances SET doc = " + sql_literal(c.doc) + " WHERE instance_id = '" +
                  id + "'");
    CHECK(store->delete_instance(id));
    CHECK_FALSE(store->find_instance(id));
    CHECK(store->list_instances().size() == 1);
  }
}

// A rolling upgrade: a newer cloudmeta adds fields to the documents; a host not yet upgraded must
// read those rows as usual and, writing one, keep what it does not know.
TEST_CASE_TEMPLATE("store contract: members a newer version wrote are read aside and written back",
                   B, BACKENDS) {
  Fixture<B> f;
  auto store = f.open_migrated();
  store->insert_instance(sample());
  json doc = json::parse(f.backend.sql("SELECT doc FROM instances").at(0));
  const json placement = {{"group_name", "g1"}, {"partition_number", 2}};
  doc["placement"] = placement;
  doc["iam"]["source_identity"] = "ci";
  doc["metadata_options"]["http_protocol_ipv6"] = "enabled";
  f.backend.sql("UPDATE instances SET doc = " + sql_literal(doc.dump()));

  const json unknown = {{"placement", placement},
                        {"iam", {{"source_identity", "ci"}}},
                        {"metadata_options", {{"http_protocol_ipv6", "enabled"}}}};
  auto read = store->find_instance("i-0123456789abcdef0");
  REQUIRE(read);
  CHECK_FALSE(read->invalid);
  CHECK(read->unknown_fields == unknown);
  check_same(*read, sample());
  CHECK(store->list_instances().at(0).unknown_fields == unknown);
  CHECK_FALSE(cm::record_to_json(*read).contains("placement"));

  read->hostname = "web-2";
  read->metadata_options.http_put_response_hop_limit = 3;
  const auto written = store->update_instance(*read);
  CHECK(written.unknown_fields == unknown);
  const json after = json::parse(f.backend.sql("SELECT doc FROM instances").at(0));
  CHECK(after["placement"] == placement);
  CHECK(after["iam"]["source_identity"] == "ci");
  CHECK(after["metadata_options"]["http_protocol_ipv6"] == "enabled");
  CHECK(after["metadata_options"]["http_put_response_hop_limit"] == 3);
  CHECK(after["hostname"] == "web-2");
  CHECK(store->find_instance("i-0123456789abcdef0")->unknown_fields == unknown);
}
