// Snapshot: lazy rendering of loaded records, copy-on-write shards, and what a write shares.
#include "cloudmeta/snapshot.hpp"

#include "cloudmeta/record_json.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <cstdio>
#include <thread>
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

TEST_CASE("a write copies its shard's rows not yet rendered; each snapshot renders its own") {
  const OwnedRows rows = stored_fleet(600);
  auto before = [&rows] {
    Snapshot::Builder builder(600);
    for (std::size_t i = 0; i < rows.records.size(); ++i) builder.add(rows.row(i));
    return builder.finish(1);
  }();
  const RenderedInstance* early = before->find(key(record(7)));  // rendered before the writes
  REQUIRE(early != nullptr);

  // Every other instance written: nearly every shard is copied, several times over.
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
