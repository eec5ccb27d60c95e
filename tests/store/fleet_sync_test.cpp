// Incremental fleet sync on both backends (a SQLite file, a real PostgreSQL server): two Fleets
// on two Stores of one database stand in for two hosts. Host B applies host A's writes from the
// change log, without reading the whole fleet (Fleet::SyncCounts says which way it went), falls
// back to a full reload when the log cannot say, and ends with exactly the snapshot a fresh full
// load makes: the same addresses serving the same rendered metadata.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "cloudmeta/fleet.hpp"
#include "cloudmeta/ip_key.hpp"
#include "cloudmeta/metadata_tree.hpp"
#include "cloudmeta/record_json.hpp"
#include "cloudmeta/snapshot.hpp"
#include "cloudmeta/store.hpp"
#include "store_backends.hpp"

namespace {

namespace cm = cloudmeta;
using cm::testing::PostgresBackend;
using cm::testing::SqliteBackend;

cm::InstanceRecord record(int n, const std::string& hostname = "h") {
  char id[32];
  std::snprintf(id, sizeof id, "i-%017d", n);
  return cm::record_from_json(
      {{"instance_id", id},
       {"ip", "10.8." + std::to_string(n / 250) + "." + std::to_string(n % 250 + 1)},
       {"hostname", hostname + std::to_string(n)},
       {"tags", {{"n", std::to_string(n)}}}});
}

// What a snapshot serves: address -> every metadata path and body of the instance there.
using Served = std::map<std::string, std::string>;

Served served(const cm::Snapshot& snapshot) {
  Served out;
  snapshot.for_each([&out](const cm::IpKey& key, const cm::SnapshotEntry& entry) {
    std::string text = "not served";
    if (const cm::RenderedInstance* rendered = entry.rendered()) {
      const std::map<std::string, std::string> nodes = [rendered] {
        std::map<std::string, std::string> sorted;
        for (const auto& node : rendered->nodes()) sorted[node.first] = node.second.body;
        return sorted;
      }();
      text = rendered->instance_id();
      for (const auto& node : nodes) text += "\n" + node.first + "=" + node.second;
    }
    out[key.to_string()] = text;
  });
  return out;
}

// One host: its own Store on the shared database, its Fleet and snapshot.
struct Host {
  explicit Host(const std::string& url) : store(cm::open_store(url)), fleet(*store, snapshots) {
    store->migrate();
    fleet.load_all();
  }
  Served serves() const { return served(*snapshots.load()); }
  bool serves_at(const std::string& ip) const {
    return snapshots.load()->find(*cm::IpKey::parse(ip)) != nullptr;
  }
  std::unique_ptr<cm::Store> store;
  cm::SnapshotHolder snapshots;
  cm::Fleet fleet;
};

// What a host starting now would serve: a full load.
template <class B>
Served fresh(const B& backend) {
  Host h(backend.url());
  return h.serves();
}

#define BACKENDS SqliteBackend, PostgresBackend

}  // namespace

TEST_CASE_TEMPLATE("fleet sync: another host's create, update, move and delete apply incrementally",
                   B, BACKENDS) {
  B backend;
  Host a(backend.url());
  for (int n = 0; n < 300; ++n) a.fleet.create(record(n));
  Host b(backend.url());
  REQUIRE(b.snapshots.load()->size() == 300);
  const auto at_start = b.fleet.sync_counts();
  CHECK(at_start.full_loads == 1);

  a.fleet.create(record(300));
  CHECK(b.fleet.refresh_if_changed());
  CHECK(b.serves_at(record(300).ip));

  a.fleet.replace(record(7, "renamed"));
  auto moved = record(8, "moved");
  moved.ip = "10.9.9.9";
  a.fleet.replace(moved);
  a.fleet.remove(record(9).instance_id);
  CHECK(b.fleet.refresh_if_changed());
  CHECK_FALSE(b.fleet.refresh_if_changed());  // nothing new

  CHECK_FALSE(b.serves_at(record(8).ip));
  CHECK(b.serves_at("10.9.9.9"));
  CHECK_FALSE(b.serves_at(record(9).ip));
  CHECK(b.snapshots.load()->find(*cm::IpKey::parse(record(7).ip))->find("meta-data/hostname")
            ->body == "renamed7");
  CHECK(b.snapshots.load()->revision() == a.store->revision());

  const auto counts = b.fleet.sync_counts();
  CHECK(counts.full_loads == at_start.full_loads);  // no whole-fleet read
  CHECK(counts.incremental_applies == at_start.incremental_applies + 2);
  CHECK(counts.changes_applied == at_start.changes_applied + 4);
  CHECK(counts.gaps == 0);

  const Served expected = fresh(backend);
  CHECK(b.serves() == expected);
  CHECK(a.serves() == expected);
}

// The address of one instance passes to another between two refreshes, and one instance is
// created and deleted in between: erase-before-put must not lose the new owner.
TEST_CASE_TEMPLATE("fleet sync: an address that changes hands between refreshes", B, BACKENDS) {
  B backend;
  Host a(backend.url());
  for (int n = 0; n < 10; ++n) a.fleet.create(record(n));
  Host b(backend.url());

  auto one = record(1, "one");
  one.ip = "10.9.0.1";
  a.fleet.replace(one);
  auto two = record(2, "two");
  two.ip = record(1).ip;  // 2 takes 1's old address
  a.fleet.replace(two);
  auto three = record(3, "three");
  three.ip = record(2).ip;  // and 3 takes 2's
  a.fleet.replace(three);
  a.fleet.create(record(50));
  a.fleet.remove(record(50).instance_id);
  a.fleet.remove(record(4).instance_id);
  auto five = record(5, "five");
  five.ip = record(4).ip;  // 5 takes the address of a deleted one
  a.fleet.replace(five);

  CHECK(b.fleet.refresh_if_changed());
  CHECK(b.fleet.sync_counts().full_loads == 1);
  CHECK(b.fleet.sync_counts().incremental_applies == 1);
  CHECK(b.snapshots.load()->find(*cm::IpKey::parse(record(1).ip))->instance_id() ==
        record(2).instance_id);
  CHECK(b.snapshots.load()->size() == 9);
  CHECK(b.serves() == fresh(backend));
}

TEST_CASE_TEMPLATE("fleet sync: an import-style transaction, one revision, applies completely", B,
                   BACKENDS) {
  B backend;
  Host a(backend.url());
  for (int n = 0; n < 100; ++n) a.fleet.create(record(n));
  Host b(backend.url());
  const auto before = a.store->revision();

  // As `cloudmeta import` writes: the Store directly, one transaction.
  a.store->transaction([&] {
    for (int n = 100; n < 400; ++n) a.store->insert_instance(record(n));
    for (int n = 0; n < 50; ++n) a.store->update_instance(record(n, "imported"));
    for (int n = 50; n < 60; ++n) a.store->delete_instance(record(n).instance_id);
  });
  REQUIRE(a.store->revision() == before + 1);

  CHECK(b.fleet.refresh_if_changed());
  const auto counts = b.fleet.sync_counts();
  CHECK(counts.full_loads == 1);
  CHECK(counts.incremental_applies == 1);
  CHECK(counts.changes_applied == 360);
  CHECK(b.snapshots.load()->size() == 390);
  CHECK(b.snapshots.load()->revision() == before + 1);
  CHECK(b.serves() == fresh(backend));
}

TEST_CASE_TEMPLATE("fleet sync: a host the pruned log no longer reaches reloads in full", B,
                   BACKENDS) {
  B backend;
  Host a(backend.url());
  for (int n = 0; n < 50; ++n) a.fleet.create(record(n));
  Host b(backend.url());  // then "down": misses what follows

  for (int n = 50; n < 80; ++n) a.fleet.create(record(n));
  a.fleet.replace(record(3, "later"));
  a.fleet.remove(record(4).instance_id);
  // Everything in the log so far is past retention (a cut a minute ahead of now).
  CHECK(a.store->prune_instance_changes(static_cast<std::int64_t>(std::time(nullptr)) + 60,
                                        100'000) == 82);
  a.fleet.create(record(80));  // and a write after the prune, which alone the log still has

  CHECK(b.fleet.refresh_if_changed());
  const auto counts = b.fleet.sync_counts();
  CHECK(counts.gaps == 1);
  CHECK(counts.full_loads == 2);
  CHECK(counts.incremental_applies == 0);
  CHECK(b.serves() == fresh(backend));
  CHECK(b.serves() == a.serves());

  // Caught up, it goes on incrementally.
  a.fleet.create(record(81));
  CHECK(b.fleet.refresh_if_changed());
  CHECK(b.fleet.sync_counts().incremental_applies == 1);
  CHECK(b.fleet.sync_counts().full_loads == 2);
  CHECK(b.serves() == a.serves());
}

// Fleet::prune_change_log keeps what is inside the retention window.
TEST_CASE_TEMPLATE("fleet sync: pruning keeps the retention window", B, BACKENDS) {
  B backend;
  Host a(backend.url());
  for (int n = 0; n < 5; ++n) a.fleet.create(record(n));
  Host b(backend.url());
  a.fleet.create(record(5));
  CHECK(a.fleet.prune_change_log(std::chrono::seconds(3600)) == 0);
  CHECK(b.fleet.refresh_if_changed());
  CHECK(b.fleet.sync_counts().gaps == 0);
  CHECK(b.fleet.sync_counts().incremental_applies == 1);
}

// Both hosts write, each refreshing as its sync thread would, while the other writes: every
// host's own publish that finds the other's write beside it catches up from the change log, and
// both end serving exactly what a fresh load serves.
TEST_CASE_TEMPLATE("fleet sync: two hosts writing at once converge on identical snapshots", B,
                   BACKENDS) {
  B backend;
  Host a(backend.url());
  for (int n = 0; n < 100; ++n) a.fleet.create(record(n));
  Host b(backend.url());

  std::atomic<bool> writing{true};
  std::atomic<int> refresh_failures{0};
  const auto sync_thread = [&](Host& host) {
    return std::thread([&] {
      while (writing) {
        try {
          host.fleet.refresh_if_changed();
        } catch (const std::exception&) {
          ++refresh_failures;
        }
      }
    });
  };
  std::thread a_sync = sync_thread(a);
  std::thread b_sync = sync_thread(b);
  std::thread a_writes([&] {
    for (int n = 100; n < 160; ++n) {
      a.fleet.create(record(n));
      if (n % 3 == 0 && n < 150) a.fleet.replace(record(n - 100, "by-a"));  // B removes 50..
    }
  });
  for (int n = 200; n < 260; ++n) {
    b.fleet.create(record(n));
    if (n % 4 == 0) b.fleet.remove(record(n - 150).instance_id);
  }
  a_writes.join();
  writing = false;
  a_sync.join();
  b_sync.join();
  a.fleet.refresh_if_changed();
  b.fleet.refresh_if_changed();

  CHECK(refresh_failures == 0);
  const Served expected = fresh(backend);
  CHECK(a.serves() == expected);
  CHECK(b.serves() == expected);
  // Both followed the other by the log: full loads only at start (a write racing a refresh may
  // add none), changes applied many times.
  CHECK(a.fleet.sync_counts().full_loads == 1);
  CHECK(b.fleet.sync_counts().full_loads == 1);
  CHECK(a.fleet.sync_counts().gaps == 0);
  CHECK(b.fleet.sync_counts().incremental_applies > 0);
  MESSAGE("incremental applies: a " << a.fleet.sync_counts().incremental_applies << ", b "
                                    << b.fleet.sync_counts().incremental_applies);
}
