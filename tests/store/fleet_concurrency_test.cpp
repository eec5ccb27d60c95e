// Fleet from two threads, as the server runs it: the admin thread writes while the sync thread
// rebuilds the snapshot from the store. A rebuild reads without the write lock, so it may read
// before a write and try to publish after it; Fleet must then read again rather than hide the
// write until the next refresh. Runs on both backends (names end in <sqlite> and <postgres>).
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "cloudmeta/fleet.hpp"
#include "cloudmeta/ip_key.hpp"
#include "cloudmeta/record_json.hpp"
#include "cloudmeta/snapshot.hpp"
#include "cloudmeta/store.hpp"
#include "store_backends.hpp"

namespace {

namespace cm = cloudmeta;
using cm::testing::PostgresBackend;
using cm::testing::SqliteBackend;

cm::InstanceRecord sample(int n) {
  char id[32];
  std::snprintf(id, sizeof id, "i-%017d", n);
  const std::string ip = "10.3." + std::to_string(n / 250) + "." + std::to_string(n % 250 + 1);
  return cm::record_from_json(
      {{"instance_id", id}, {"ip", ip}, {"hostname", "h" + std::to_string(n)}});
}

bool served(const cm::SnapshotHolder& snapshots, const std::string& ip) {
  return snapshots.load()->find(*cm::IpKey::parse(ip)) != nullptr;
}

}  // namespace

TEST_CASE_TEMPLATE("fleet: writes stay visible while another thread resyncs in a loop", B,
                   SqliteBackend, PostgresBackend) {
  B backend;
  auto store = cm::open_store(backend.url());
  store->migrate();
  // Enough rows that a rebuild takes a while, so writes land in the middle of many of them.
  constexpr int kSeeded = 200;
  store->transaction([&] {
    for (int n = 0; n < kSeeded; ++n) store->insert_instance(sample(n));
  });
  cm::SnapshotHolder snapshots;
  cm::Fleet fleet(*store, snapshots);
  fleet.load_all();
  REQUIRE(snapshots.load()->size() == kSeeded);

  std::atomic<bool> writing{true};
  std::atomic<int> resyncs{0};
  std::atomic<int> resync_failures{0};
  std::thread sync_thread([&] {
    while (writing) {
      try {
        fleet.resync();
        ++resyncs;
      } catch (const std::exception&) {
        ++resync_failures;
      }
    }
  });

  constexpr int kWrites = 150;
  int missing_after_create = 0;
  int present_after_remove = 0;
  for (int n = kSeeded; n < kSeeded + kWrites; ++n) {
    const auto record = sample(n);
    fleet.create(record);
    if (!served(snapshots, record.ip)) ++missing_after_create;
    // A pause now and then lets some rebuilds finish between writes, so both of Fleet's paths
    // run: a rebuild that publishes, and one that lost to a write and reads again.
    if (n % 10 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (n % 5 == 0) {  // and a removal, which must not come back either
      const auto old = sample(n - kSeeded);
      fleet.remove(old.instance_id);
      if (served(snapshots, old.ip)) ++present_after_remove;
    }
  }
  writing = false;
  sync_thread.join();

  CHECK(missing_after_create == 0);
  CHECK(present_after_remove == 0);
  CHECK(resync_failures == 0);
  CHECK(resyncs > 0);
  CHECK_FALSE(fleet.stale());
  const auto last = snapshots.load();
  CHECK(last->size() == kSeeded + kWrites - kWrites / 5);
  CHECK(last->revision() == store->revision());
  MESSAGE("resyncs beside " << kWrites << " writes: " << resyncs.load());
}
