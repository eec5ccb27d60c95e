// Snapshot: lazy rendering of loaded records, copy-on-write shards, and what a write shares.
#include "cloudmeta/snapshot.hpp"

#include "cloudmeta/record_json.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <cstdio>
#include <thread>
#include <unordered_map>
#include <vector>

using namespace cloudmeta;

namespace {

InstanceRecord record(int n) {
  // snprintf, not operator+ chains: g++ 12 warns falsely (-Wrestrict) on those.
  char id[32], ip[32];
  std::snprintf(id, sizeof id, "i-%017d", n);
  std::snprintf(ip, sizeof ip, "198.18.%d.%d", n / 250, n % 250 + 1);
  InstanceRecord r;
  r.instance_id = id;
  r.ip = ip;
  r.region = "eu-west-1";
  r.availability_zone = "eu-west-1b";
  r.created_at = r.updated_at = "2026-11-22T10:00:00Z";
  return r;
}

IpKey key(const InstanceRecord& r) { return *IpKey::parse(r.ip); }

std::vector<InstanceRecord> fleet(int count) {
  std::vector<InstanceRecord> records;
  for (int i = 0; i < count; ++i) records.push_back(record(i));
  return records;
}

}  // namespace

TEST_CASE("build indexes every record by address and renders it on first find") {
  const auto snapshot = Snapshot::build(fleet(2000), 7);
  CHECK(snapshot->size() == 2000);
  CHECK(snapshot->revision() == 7);
  for (int i : {0, 1, 999, 1999}) {
    const RenderedInstance* rendered = snapshot->find(key(record(i)));
    REQUIRE(rendered != nullptr);
    CHECK(rendered->instance_id() == record(i).instance_id);
    REQUIRE(rendered->find("meta-data/instance-id") != nullptr);
    CHECK(rendered->find("meta-data/instance-id")->body == record(i).instance_id);
    CHECK(snapshot->find(key(record(i))) == rendered);  // rendered once, then kept
  }
  CHECK(snapshot->find(*IpKey::parse("198.18.200.1")) == nullptr);
}

TEST_CASE("a record with an unparsable address is skipped and reported") {
  auto records = fleet(3);
  records[1].ip = "not-an-address";
  std::vector<std::string> skipped;
  const auto snapshot = Snapshot::build(records, 1, &skipped);
  CHECK(snapshot->size() == 2);
  CHECK(skipped == std::vector<std::string>{records[1].instance_id});
}

TEST_CASE("a record that cannot be rendered is answered as unknown, every time") {
  auto records = fleet(2);
  records[0].extra = nlohmann::json{{"placement", "a leaf where a directory is"}};
  const auto snapshot = Snapshot::build(records, 1);
  CHECK(snapshot->size() == 2);
  CHECK(snapshot->find(key(records[0])) == nullptr);
  CHECK(snapshot->find(key(records[0])) == nullptr);
  CHECK(snapshot->find(key(records[1])) != nullptr);
}

TEST_CASE("threads racing on a fresh entry all get the one rendering") {
  const auto snapshot = Snapshot::build(fleet(64), 1);
  constexpr int kThreads = 8;
  std::vector<std::vector<const RenderedInstance*>> seen(kThreads);
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < 64; ++i) seen[t].push_back(snapshot->find(key(record(i))));
    });
  }
  go = true;
  for (auto& thread : threads) thread.join();
  for (int t = 1; t < kThreads; ++t) CHECK(seen[t] == seen[0]);
  for (const auto* rendered : seen[0]) CHECK(rendered != nullptr);
}

TEST_CASE("with() and without() leave the old snapshot untouched") {
  const auto before = Snapshot::build(fleet(1000), 1);
  const RenderedInstance* first = before->find(key(record(1)));
  REQUIRE(first != nullptr);

  auto moved = record(1);
  moved.ip = "198.18.100.1";
  const auto after = before->with(record(1).ip, render(moved), moved.ip, 2);
  CHECK(after->size() == 1000);
  CHECK(after->revision() == 2);
  CHECK(after->find(key(record(1))) == nullptr);
  REQUIRE(after->find(key(moved)) != nullptr);
  CHECK(after->find(key(moved))->instance_id() == moved.instance_id);
  // The old world still answers as it did, with the same rendering.
  CHECK(before->find(key(record(1))) == first);
  CHECK(before->find(key(moved)) == nullptr);
  // Unchanged instances are shared, not re-rendered.
  CHECK(after->find(key(record(500))) == before->find(key(record(500))));

  const auto added = after->with("", render(record(5000)), record(5000).ip, 3);
  CHECK(added->size() == 1001);
  const auto removed = added->without(record(500).ip, 4);
  CHECK(removed->size() == 1000);
  CHECK(removed->find(key(record(500))) == nullptr);
  CHECK(added->find(key(record(500))) != nullptr);
  CHECK(removed->without("198.18.250.250", 5)->size() == 1000);  // absent: nothing to remove
}

TEST_CASE("replacing a record at the same address keeps the size") {
  const auto before = Snapshot::build(fleet(10), 1);
  auto changed = record(3);
  changed.region = "us-east-1";
  changed.availability_zone = "us-east-1a";
  const auto after = before->with(changed.ip, render(changed), changed.ip, 2);
  CHECK(after->size() == 10);
  CHECK(after->find(key(changed))->find("meta-data/placement/region")->body == "us-east-1");
  CHECK(before->find(key(changed))->find("meta-data/placement/region")->body == "eu-west-1");
}

TEST_CASE("a stopped instance is answered as unknown, from a record, a row or a write") {
  auto records = fleet(3);
  records[0].state = InstanceState::kStopped;
  const auto built = Snapshot::build(records, 1);
  CHECK(built->size() == 3);  // kept, not served
  CHECK(built->find(key(records[0])) == nullptr);
  CHECK(built->find(key(records[0])) == nullptr);
  CHECK(built->find(key(records[1])) != nullptr);

  const std::string doc = record_to_json(records[0]).dump();
  CHECK(doc.find("\"state\":\"stopped\"") != std::string::npos);
  Snapshot::Builder builder;
  builder.add(StoredInstance{records[0].instance_id, records[0].ip, doc, records[0].created_at,
                             records[0].updated_at});
  CHECK(builder.finish(2)->find(key(records[0])) == nullptr);

  // Running again: served at once.
  records[0].state = InstanceState::kRunning;
  const auto running = built->with(records[0].ip, render(records[0]), records[0].ip, 2);
  REQUIRE(running->find(key(records[0])) != nullptr);
  CHECK(running->find(key(records[0]))->instance_id() == records[0].instance_id);
}

TEST_CASE("stored rows are decoded and rendered on first request") {
  auto good = record(1);
  good.created_at = good.updated_at = "2026-11-22T10:00:00Z";
  const std::string doc = record_to_json(good).dump(), ip2 = record(2).ip, ip3 = record(3).ip;
  const StoredInstance row{good.instance_id, good.ip, doc, good.created_at, good.updated_at};
  const StoredInstance corrupt{"i-00000000000000002", ip2, "{not json", "", ""};
  const StoredInstance disagrees{"i-00000000000000003", ip3, doc, "",
                                 ""};  // its document names another instance and address
  Snapshot::Builder builder;
  builder.add(row);
  builder.add(corrupt);
  builder.add(disagrees);
  const auto snapshot = builder.finish(9);
  CHECK(builder.skipped().empty());
  CHECK(snapshot->size() == 3);
  CHECK(snapshot->revision() == 9);
  const RenderedInstance* rendered = snapshot->find(key(good));
  REQUIRE(rendered != nullptr);
  CHECK(rendered->find("meta-data/instance-id")->body == good.instance_id);
  CHECK(snapshot->find(key(record(2))) == nullptr);
  CHECK(snapshot->find(key(record(3))) == nullptr);
}

namespace {

struct OwnedRows {
  std::vector<std::string> docs;
  std::vector<InstanceRecord> records;
  StoredInstance row(std::size_t i) const {
    const InstanceRecord& r = records[i];
    return {r.instance_id, r.ip, docs[i], r.created_at, r.updated_at};
  }
};

OwnedRows stored_fleet(int count) {
  OwnedRows rows;
  for (int i = 0; i < count; ++i) {
    rows.records.push_back(record(i));
    rows.docs.push_back(record_to_json(rows.records.back()).dump());
  }
  return rows;
}

}  // namespace

TEST_CASE("a write copies its shard's rows not yet rendered, each snapshot renders its own") {
  const OwnedRows rows = stored_fleet(600);
  auto before = [&rows] {
    Snapshot::Builder builder(600);
    for (std::size_t i = 0; i < rows.records.size(); ++i) builder.add(rows.row(i));
    return builder.finish(1);
  }();
  const RenderedInstance* early = before->find(key(record(7)));  // rendered before the writes
  REQUIRE(early != nullptr);

  // Every other instance written: each write copies its shard and that shard's group.
  auto after = before;
  for (int i = 0; i < 600; i += 2) {
    auto changed = record(i);
    changed.region = "us-east-1";
    changed.availability_zone = "us-east-1a";
    after = after->with(changed.ip, render(changed), changed.ip, 2 + i);
  }
  CHECK(after->size() == 600);
  CHECK(after->find(key(record(7))) == early);  // a rendering is shared, not redone
  // The old snapshot goes first: the copied entries hold references of their own to the rows'
  // block (a missing one would unmap it under the renders below).
  before.reset();
  for (int i = 0; i < 600; ++i) {
    const RenderedInstance* rendered = after->find(key(record(i)));
    REQUIRE(rendered != nullptr);
    CHECK(rendered->instance_id() == record(i).instance_id);
    CHECK(rendered->find("meta-data/placement/region")->body ==
          (i % 2 ? "eu-west-1" : "us-east-1"));
  }
}

TEST_CASE("a write copies a handful of entries, not a share of the fleet") {
  // What a write costs must not grow with the fleet (issue 17): with 60,000 instances, 256
  // shards meant copying ~234 entries per write; a shard now holds about one.
  constexpr int kFleet = 60'000;
  const auto before = Snapshot::build(fleet(kFleet), 1);
  std::unordered_map<IpKey, const SnapshotEntry*, IpKeyHash> entries;
  before->for_each([&entries](const IpKey& k, const SnapshotEntry& e) { entries[k] = &e; });
  REQUIRE(entries.size() == kFleet);

  for (const int written : {0, 12'345, kFleet - 1}) {
    CAPTURE(written);
    auto changed = record(written);
    changed.region = "us-east-1";
    const auto after = before->with(changed.ip, render(changed), changed.ip, 2);
    std::size_t copied = 0, seen = 0;
    after->for_each([&](const IpKey& k, const SnapshotEntry& e) {
      ++seen;
      if (entries.at(k) != &e) ++copied;
    });
    CHECK(seen == kFleet);
    CHECK(copied >= 1);  // the written one
    CHECK(copied <= 16);
    CHECK(after->find(key(changed))->find("meta-data/placement/region")->body == "us-east-1");
    CHECK(before->find(key(changed))->find("meta-data/placement/region")->body == "eu-west-1");
  }
}

TEST_CASE("the row count hint sizes the shards, and a wrong one changes nothing else") {
  const OwnedRows rows = stored_fleet(300);
  // The last: a max(rowid) no fleet has (a hand-edited table) must not reserve memory for it.
  for (const std::size_t hint : {std::size_t{0}, std::size_t{1}, std::size_t{300},
                                 std::size_t{5'000'000}, std::size_t{1} << 62}) {
    CAPTURE(hint);
    Snapshot::Builder builder(hint);
    for (std::size_t i = 0; i < rows.records.size(); ++i) builder.add(rows.row(i));
    const auto snapshot = builder.finish(1);
    CHECK(snapshot->size() == 300);
    for (int i : {0, 150, 299}) CHECK(snapshot->find(key(record(i))) != nullptr);
  }
}

TEST_CASE("two stored rows for one address: the later wins") {
  OwnedRows rows = stored_fleet(2);
  rows.records[1].ip = rows.records[0].ip;
  rows.docs[1] = record_to_json(rows.records[1]).dump();
  Snapshot::Builder builder;
  builder.add(rows.row(0));
  builder.add(rows.row(1));
  const auto snapshot = builder.finish(1);
  CHECK(snapshot->size() == 1);
  REQUIRE(snapshot->find(key(record(0))) != nullptr);
  CHECK(snapshot->find(key(record(0)))->instance_id() == record(1).instance_id);
}

TEST_CASE("a reload keeps the renderings of unchanged rows and renders changed ones anew") {
  OwnedRows rows = stored_fleet(4);
  Snapshot::Builder first;
  for (std::size_t i = 0; i < 4; ++i) first.add(rows.row(i));
  const auto before = first.finish(1);
  // Rows 0, 1 and 2 have been asked for; row 3 has not.
  const RenderedInstance* r0 = before->find(key(rows.records[0]));
  const RenderedInstance* r1 = before->find(key(rows.records[1]));
  const RenderedInstance* r2 = before->find(key(rows.records[2]));
  REQUIRE((r0 && r1 && r2));

  // Between the loads: row 1's document changes, row 2 only its updated_at.
  rows.records[1].instance_type = "m5.large";
  rows.docs[1] = record_to_json(rows.records[1]).dump();
  rows.records[2].updated_at = "2026-11-23T08:00:00Z";
  Snapshot::Builder reload(4, before);
  for (std::size_t i = 0; i < 4; ++i) reload.add(rows.row(i));
  const auto after = reload.finish(2);

  CHECK(after->find(key(rows.records[0])) == r0);  // unchanged: the same rendering, no render
  const RenderedInstance* changed = after->find(key(rows.records[1]));
  REQUIRE(changed != nullptr);
  CHECK(changed != r1);
  CHECK(changed->find("meta-data/instance-type")->body == "m5.large");
  CHECK(r1->find("meta-data/instance-type")->body != "m5.large");  // the old one is untouched
  CHECK(after->find(key(rows.records[2])) != r2);  // any column that differs: rendered again
  CHECK(after->find(key(rows.records[3])) != nullptr);

  // A rendering kept once is kept again, and a snapshot without the row does not keep it.
  Snapshot::Builder again(4, after);
  for (std::size_t i = 0; i < 4; ++i) again.add(rows.row(i));
  CHECK(again.finish(3)->find(key(rows.records[0])) == r0);
  Snapshot::Builder without_previous(4);
  for (std::size_t i = 0; i < 4; ++i) without_previous.add(rows.row(i));
  CHECK(without_previous.finish(3)->find(key(rows.records[0])) != r0);
}

TEST_CASE("a reload renders again what a write rendered, and a row at another address") {
  OwnedRows rows = stored_fleet(2);
  Snapshot::Builder first;
  first.add(rows.row(0));
  const auto loaded = first.finish(1);
  // A write renders from the record, not from a row: nothing to compare a reloaded row with.
  const auto written = loaded->with("", render(rows.records[1]), rows.records[1].ip, 2);
  const RenderedInstance* from_write = written->find(key(rows.records[1]));
  REQUIRE(from_write != nullptr);
  const RenderedInstance* r0 = written->find(key(rows.records[0]));
  REQUIRE(r0 != nullptr);

  // Row 1 is reloaded as stored; row 0 moves to another address.
  InstanceRecord moved = rows.records[0];
  moved.ip = "198.18.200.1";
  const std::string moved_doc = record_to_json(moved).dump();
  Snapshot::Builder reload(2, written);
  reload.add(StoredInstance{moved.instance_id, moved.ip, moved_doc, moved.created_at,
                            moved.updated_at});
  reload.add(rows.row(1));
  const auto after = reload.finish(3);
  CHECK(after->find(key(rows.records[1])) != from_write);
  CHECK(after->find(key(rows.records[0])) == nullptr);
  const RenderedInstance* at_new_address = after->find(*IpKey::parse("198.18.200.1"));
  REQUIRE(at_new_address != nullptr);
  CHECK(at_new_address != r0);
}

TEST_CASE("row_fingerprint: every column counts, and bytes cannot move between columns") {
  const StoredInstance base{"i-1", "198.18.0.1", "{\"a\":1}", "2026-01-01", "2026-01-02"};
  const auto h = row_fingerprint(base);
  CHECK(h != 0);
  CHECK(row_fingerprint(base) == h);
  // Each column changed alone changes the fingerprint.
  for (std::string_view StoredInstance::*column :
       {&StoredInstance::instance_id, &StoredInstance::ip, &StoredInstance::doc,
        &StoredInstance::created_at, &StoredInstance::updated_at}) {
    StoredInstance other = base;
    other.*column = "changed";
    CHECK(row_fingerprint(other) != h);
  }
  const StoredInstance shifted{"i-11", "98.18.0.1", base.doc, base.created_at, base.updated_at};
  const StoredInstance unshifted{"i-1", "198.18.0.1", base.doc, base.created_at, base.updated_at};
  CHECK(row_fingerprint(shifted) != row_fingerprint(unshifted));
}
