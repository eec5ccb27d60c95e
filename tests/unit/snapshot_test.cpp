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
