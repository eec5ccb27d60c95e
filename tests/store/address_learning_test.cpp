// DHCP guests on both backends (a SQLite file, a real PostgreSQL server): a record with a mac and
// no ip is stored, indexed by MAC in every host's snapshot, and given the address its MAC was
// seen at by Fleet::learn, an ordinary write that another host sharing the database applies from
// the change log. Learning never takes an address an operator set, nor moves one; a learned
// address passes to the MAC the kernel now resolves it to. Two records with one MAC are a
// conflict, and migration 0005 (ip nullable, MAC unique) keeps existing rows or refuses, naming
// the records that share a MAC.
#include <doctest/doctest.h>

#include <cstdio>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>

#include "cloudmeta/fleet.hpp"
#include "cloudmeta/ip_key.hpp"
#include "cloudmeta/metadata_tree.hpp"
#include "cloudmeta/record_json.hpp"
#include "cloudmeta/schema.hpp"
#include "cloudmeta/snapshot.hpp"
#include "cloudmeta/store.hpp"
#include "store_backends.hpp"

namespace {

namespace cm = cloudmeta;
using cm::testing::PostgresBackend;
using cm::testing::SqliteBackend;
using Outcome = cm::Fleet::LearnOutcome;

cm::InstanceRecord guest(int n) {
  char id[32], mac[32];
  std::snprintf(id, sizeof id, "i-%017d", n);
  std::snprintf(mac, sizeof mac, "0e:00:00:00:00:%02x", n);
  return cm::record_from_json(
      {{"instance_id", id}, {"mac", mac}, {"interface", "vnet" + std::to_string(n)}});
}

struct Host {
  explicit Host(const std::string& url) : store(cm::open_store(url)), fleet(*store, snapshots) {
    store->migrate();
    fleet.load_all();
  }
  const cm::RenderedInstance* at(const std::string& ip) const {
    return snapshots.load()->find(*cm::IpKey::parse(ip));
  }
  std::string local_ipv4(const std::string& ip) const {
    const cm::RenderedInstance* instance = at(ip);
    if (!instance) return "not served";
    const cm::Node* node = instance->find("meta-data/local-ipv4");
    return node ? node->body : "none";
  }
  const std::string* learnable(const std::string& mac) const {
    return snapshots.load()->learnable_instance(mac);
  }
  std::unique_ptr<cm::Store> store;
  cm::SnapshotHolder snapshots;
  cm::Fleet fleet;
};

#define BACKENDS SqliteBackend, PostgresBackend

}  // namespace

TEST_CASE_TEMPLATE("dhcp guests: learned on one host, served by another from the change log", B,
                   BACKENDS) {
  B backend;
  Host a(backend.url());
  const cm::InstanceRecord g = guest(1);
  a.fleet.create(g);
  a.fleet.create(guest(2));
  const auto stored = a.store->find_instance(g.instance_id);
  REQUIRE(stored);
  CHECK(stored->ip.empty());
  CHECK_FALSE(stored->invalid);
  REQUIRE(a.learnable(g.mac) != nullptr);
  CHECK(*a.learnable(g.mac) == g.instance_id);
  CHECK(a.snapshots.load()->size() == 0);  // nothing has an address yet

  Host b(backend.url());  // a full load: the MAC comes from the scan's column
  REQUIRE(b.learnable(g.mac) != nullptr);
  CHECK(*b.learnable(g.mac) == g.instance_id);

  auto learned = a.fleet.learn(g.instance_id, g.mac, "198.18.0.10");
  CHECK(learned.outcome == Outcome::kLearned);
  CHECK(learned.previous_ip.empty());
  CHECK(a.local_ipv4("198.18.0.10") == "198.18.0.10");
  const auto after = a.store->find_instance(g.instance_id);
  CHECK(after->ip == "198.18.0.10");
  CHECK(after->ip_learned);

  CHECK(b.fleet.refresh_if_changed());
  CHECK(b.local_ipv4("198.18.0.10") == "198.18.0.10");
  CHECK(*b.learnable(g.mac) == g.instance_id);  // still learnable: its address may move again
  CHECK(b.fleet.sync_counts().full_loads == 1);  // from the change log

  // The guest's lease changes: its address moves, and local-ipv4 follows.
  CHECK(a.fleet.learn(g.instance_id, g.mac, "198.18.0.10").outcome == Outcome::kAlreadyThere);
  learned = a.fleet.learn(g.instance_id, g.mac, "198.18.0.11");
  CHECK(learned.outcome == Outcome::kLearned);
  CHECK(learned.previous_ip == "198.18.0.10");
  CHECK(b.fleet.refresh_if_changed());
  CHECK(b.at("198.18.0.10") == nullptr);
  CHECK(b.local_ipv4("198.18.0.11") == "198.18.0.11");

  // Only the record the MAC names, only while it still has that MAC, and only past the check.
  CHECK(a.fleet.learn(g.instance_id, guest(2).mac, "198.18.0.12").outcome ==
        Outcome::kNotLearnable);
  CHECK(a.fleet.learn("i-00000000000000099", g.mac, "198.18.0.12").outcome ==
        Outcome::kNotLearnable);
  const auto refuse = [](const cm::InstanceRecord&) { return false; };
  CHECK(a.fleet.learn(guest(2).instance_id, guest(2).mac, "198.18.0.12", refuse).outcome ==
        Outcome::kRefused);
  CHECK(a.at("198.18.0.12") == nullptr);

  CHECK(b.fleet.refresh_if_changed() == false);
  Host fresh(backend.url());
  CHECK(fresh.local_ipv4("198.18.0.11") == "198.18.0.11");
  CHECK(*fresh.learnable(g.mac) == g.instance_id);
}

TEST_CASE_TEMPLATE("dhcp guests: an operator's address is never taken nor moved by learning", B,
                   BACKENDS) {
  B backend;
  Host a(backend.url());
  cm::InstanceRecord pinned = guest(3);
  pinned.ip = "198.18.0.30";  // set by an operator
  a.fleet.create(pinned);
  const cm::InstanceRecord g = guest(4);
  a.fleet.create(g);
  CHECK(a.learnable(pinned.mac) == nullptr);

  // The pinned record's own MAC seen elsewhere does not move it.
  CHECK(a.fleet.learn(pinned.instance_id, pinned.mac, "198.18.0.31").outcome ==
        Outcome::kNotLearnable);
  CHECK(a.store->find_instance(pinned.instance_id)->ip == "198.18.0.30");
  // Another guest calling from the pinned address does not get it.
  const auto taken = a.fleet.learn(g.instance_id, g.mac, "198.18.0.30");
  CHECK(taken.outcome == Outcome::kAddressTaken);
  CHECK(taken.holder == pinned.instance_id);
  CHECK(a.at("198.18.0.30")->instance_id() == pinned.instance_id);
  CHECK(a.store->find_instance(g.instance_id)->ip.empty());
}

TEST_CASE_TEMPLATE("dhcp guests: a learned address passes to the MAC the kernel now resolves it to",
                   B, BACKENDS) {
  B backend;
  Host a(backend.url());
  const cm::InstanceRecord old_owner = guest(5), new_owner = guest(6);
  a.fleet.create(old_owner);
  a.fleet.create(new_owner);
  REQUIRE(a.fleet.learn(old_owner.instance_id, old_owner.mac, "198.18.0.50").outcome ==
          Outcome::kLearned);
  Host b(backend.url());

  const auto learned = a.fleet.learn(new_owner.instance_id, new_owner.mac, "198.18.0.50");
  CHECK(learned.outcome == Outcome::kLearned);
  CHECK(learned.holder == old_owner.instance_id);
  const auto vacated = a.store->find_instance(old_owner.instance_id);
  CHECK(vacated->ip.empty());
  CHECK_FALSE(vacated->ip_learned);
  CHECK(a.at("198.18.0.50")->instance_id() == new_owner.instance_id);
  CHECK(*a.learnable(old_owner.mac) == old_owner.instance_id);  // learns again when it calls

  CHECK(b.fleet.refresh_if_changed());
  CHECK(b.at("198.18.0.50")->instance_id() == new_owner.instance_id);
  CHECK(*b.learnable(old_owner.mac) == old_owner.instance_id);
}

TEST_CASE_TEMPLATE("dhcp guests: two records with one MAC are a conflict", B, BACKENDS) {
  B backend;
  Host a(backend.url());
  const cm::InstanceRecord g = guest(7);
  a.fleet.create(g);
  cm::InstanceRecord twin = guest(8);
  twin.mac = "0E:00:00:00:00:07";  // the same MAC, another spelling
  twin = cm::record_from_json(cm::record_to_json(twin));
  try {
    a.fleet.create(twin);
    FAIL("a second record with the MAC was stored");
  } catch (const cm::StoreError& e) {
    CHECK(e.kind() == cm::StoreError::Kind::kConflict);
    CHECK(std::string(e.what()).rfind("mac 0e:00:00:00:00:07 is already used by " + g.instance_id,
                                      0) == 0);
  }
  a.fleet.create(guest(8));
  CHECK_THROWS_AS(a.fleet.replace(twin), cm::StoreError);
  CHECK_THROWS_AS(a.store->write_instances({twin}), cm::StoreError);
  CHECK(a.store->find_instance(twin.instance_id)->mac == guest(8).mac);
  a.fleet.replace(g);  // its own MAC again: no conflict
  // Both spellings of the derived column agree: only one row holds it.
  CHECK(backend.sql("SELECT count(*) FROM instances WHERE mac_key = '0e:00:00:00:00:07'") ==
        std::vector<std::string>{"1"});
}

namespace {

// A database at schema 4, as an older binary left it, with `rows` written by hand.
template <class B>
void schema_4_with(B& backend, const std::string& rows) {
  if constexpr (std::is_same_v<B, SqliteBackend>) {
    SQLite::Database create(backend.dir_ + "/store.db",
                            SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  }
  backend.sql(
      "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at "
      "TEXT NOT NULL)");
  for (const auto& m : cm::migrations(B::kDialect)) {
    if (m.version > 4) break;
    if constexpr (std::is_same_v<B, SqliteBackend>) {
      SQLite::Database db(backend.dir_ + "/store.db", SQLite::OPEN_READWRITE);
      db.exec(std::string(m.sql));
    } else {
      backend.sql(std::string(m.sql));
    }
    backend.sql("INSERT INTO schema_migrations VALUES (" + std::to_string(m.version) + ", '" +
                std::string(m.name) + "', 'then')");
  }
  backend.sql("INSERT INTO instances (instance_id, ip, doc, created_at, updated_at) VALUES " +
              rows);
}

std::string row(const cm::InstanceRecord& r) {
  nlohmann::json doc = cm::record_to_json(r, true);
  doc.erase("created_at");
  doc.erase("updated_at");
  doc.erase("ip_learned");  // an older binary did not know it
  return "('" + r.instance_id + "', '" + r.ip + "', '" + doc.dump() + "', 'a', 'b')";
}

cm::InstanceRecord addressed(int n, const std::string& mac) {
  cm::InstanceRecord r = guest(n);
  r.mac = mac;
  r.ip = "10.0.0." + std::to_string(n);
  return r;
}

}  // namespace

TEST_CASE_TEMPLATE("dhcp guests: migration 5 keeps the rows, their rowids and listing values", B,
                   BACKENDS) {
  B backend;
  schema_4_with(backend, row(addressed(1, "0e:00:00:00:01:01")) + ", " +
                             row(addressed(2, "")) + ", " + row(addressed(3, "0E:00:00:00:01:03")) +
                             ", ('i-00000009', '10.0.0.9', 'not json', 'a', 'b')");
  const auto listing_before = backend.sql(
      "SELECT instance_id || '|' || ip || '|' || ip_key || '|' || hostname_key FROM instances "
      "ORDER BY instance_id");
  std::vector<std::string> rowids_before;
  if constexpr (std::is_same_v<B, SqliteBackend>) {
    rowids_before = backend.sql("SELECT instance_id || '=' || rowid FROM instances ORDER BY 1");
  }
  auto store = cm::open_store(backend.url());
  CHECK(store->migrate() == cm::migrations(B::kDialect).back().version);
  CHECK(backend.sql("SELECT instance_id || '|' || ip || '|' || ip_key || '|' || hostname_key "
                    "FROM instances ORDER BY instance_id") == listing_before);
  if constexpr (std::is_same_v<B, SqliteBackend>) {
    CHECK(backend.sql("SELECT instance_id || '=' || rowid FROM instances ORDER BY 1") ==
          rowids_before);
  }
  CHECK(backend.sql("SELECT instance_id || '=' || COALESCE(mac_key, '-') FROM instances ORDER BY 1") ==
        std::vector<std::string>{"i-00000000000000001=0e:00:00:00:01:01",
                                 "i-00000000000000002=-", "i-00000000000000003=0e:00:00:00:01:03",
                                 "i-00000009=-"});
  // The rows read back, and the table takes a DHCP guest now; its listing address key is ''.
  CHECK(store->find_instance("i-00000000000000001")->mac == "0e:00:00:00:01:01");
  CHECK(store->find_instance("i-00000009")->invalid);
  store->insert_instance(guest(4));
  CHECK(backend.sql("SELECT '[' || ip_key || ']' FROM instances WHERE ip IS NULL") ==
        std::vector<std::string>{"[]"});
  CHECK(store->find_instance(guest(4).instance_id)->ip.empty());
}

TEST_CASE_TEMPLATE("dhcp guests: migration 5 refuses while records share a MAC, naming them", B,
                   BACKENDS) {
  B backend;
  schema_4_with(backend, row(addressed(1, "0e:00:00:00:01:01")) + ", " +
                             row(addressed(2, "0e:00:00:00:01:01")) + ", " +
                             row(addressed(3, "0e:00:00:00:01:03")));
  auto store = cm::open_store(backend.url());
  try {
    store->migrate();
    FAIL("migrated");
  } catch (const cm::StoreError& e) {
    const std::string message = e.what();
    CHECK(message.find("0e:00:00:00:01:01 (i-00000000000000001 i-00000000000000002)") !=
          std::string::npos);
    CHECK(message.find("0e:00:00:00:01:03") == std::string::npos);
  }
  CHECK(store->schema_version() == 4);  // nothing of 0005 applied
  backend.sql("DELETE FROM instances WHERE instance_id = 'i-00000000000000002'");
  CHECK(store->migrate() == cm::migrations(B::kDialect).back().version);
}
