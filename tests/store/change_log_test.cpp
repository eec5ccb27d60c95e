// The change log and the revision (include/cloudmeta/store.hpp: revision(),
// instance_changes_since, prune_instance_changes) on both backends: a SQLite file and a real
// PostgreSQL server. Each case runs once per backend ("...<sqlite>", "...<postgres>"). Writes
// are made through one Store and read through another, as one host reads another's.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <memory>
#include <string>

#include "cloudmeta/record_json.hpp"
#include "cloudmeta/store.hpp"
#include "store_backends.hpp"

namespace {

namespace cm = cloudmeta;
using Kind = cm::StoreError::Kind;
using Status = cm::InstanceChanges::Status;
using cm::testing::PostgresBackend;
using cm::testing::SqliteBackend;

template <class Backend>
struct Hosts {
  Hosts() {
    writer = cm::open_store(backend.url());
    writer->migrate();
    reader = cm::open_store(backend.url());
  }
  Backend backend;
  std::unique_ptr<cm::Store> writer;  // host A
  std::unique_ptr<cm::Store> reader;  // host B
};

cm::InstanceRecord record(int n, const std::string& hostname = "h") {
  char id[32];
  std::snprintf(id, sizeof id, "i-%017d", n);
  return cm::record_from_json({{"instance_id", id},
                               {"ip", "10.9.0." + std::to_string(n)},
                               {"hostname", hostname + std::to_string(n)}});
}

// The changes by instance id; REQUIREs a complete answer.
std::map<std::string, cm::InstanceChange> by_id(const cm::InstanceChanges& found) {
  REQUIRE(found.status == Status::kComplete);
  std::map<std::string, cm::InstanceChange> out;
  for (const auto& change : found.changes) {
    CHECK(out.count(change.instance_id) == 0);  // one entry per instance
    out[change.instance_id] = change;
  }
  return out;
}

std::int64_t unix_now() { return static_cast<std::int64_t>(std::time(nullptr)); }

#define BACKENDS SqliteBackend, PostgresBackend

}  // namespace

TEST_CASE_TEMPLATE("change log: one revision per write, one per transaction", B, BACKENDS) {
  Hosts<B> h;
  const auto start = h.writer->revision();
  h.writer->insert_instance(record(1));
  CHECK(h.reader->revision() == start + 1);
  h.writer->update_instance(record(1, "again"));
  h.writer->delete_instance(record(1).instance_id);
  CHECK(h.reader->revision() == start + 3);
  CHECK_FALSE(h.writer->delete_instance("i-00000000000000404"));  // nothing written, no bump
  CHECK(h.reader->revision() == start + 3);

  // An import-style transaction: many writes, one revision, shared by all their change rows.
  h.writer->transaction([&] {
    for (int n = 10; n < 20; ++n) h.writer->insert_instance(record(n));
    h.writer->update_instance(record(10, "moved"));
    h.writer->delete_instance(record(11).instance_id);
    // A write that fails inside is undone alone, and neither bumps nor logs.
    CHECK_THROWS_AS(h.writer->insert_instance(record(12)), cm::StoreError);
  });
  CHECK(h.reader->revision() == start + 4);
  CHECK(h.writer->revision() == start + 4);
  const auto found = by_id(h.reader->instance_changes_since(start + 3, 1000));
  CHECK(found.size() == 10);
  CHECK(h.reader->instance_changes_since(start + 3, 1000).revision == start + 4);
  CHECK_FALSE(found.at(record(11).instance_id).row);
  CHECK(found.at(record(10).instance_id).row->doc.find("moved10") != std::string::npos);

  // The next transaction bumps again; one rolled back leaves no trace.
  h.writer->transaction([&] { h.writer->update_instance(record(13, "x")); });
  CHECK(h.reader->revision() == start + 5);
  CHECK_THROWS_AS(h.writer->transaction([&] {
    h.writer->update_instance(record(14, "y"));
    throw std::runtime_error("changed my mind");
  }),
                  std::runtime_error);
  CHECK(h.reader->revision() == start + 5);
  CHECK(h.writer->revision() == start + 5);
  CHECK(by_id(h.reader->instance_changes_since(start + 4, 1000)).size() == 1);
}

// The write that bumped is undone (a nested transaction the body gives up), and the next write
// of the same outer transaction must bump again: the revision cannot stay where it was while
// rows change.
TEST_CASE_TEMPLATE("change log: a bump rolled back with its savepoint is made again", B,
                   BACKENDS) {
  Hosts<B> h;
  h.writer->insert_instance(record(1));
  const auto before = h.reader->revision();
  h.writer->transaction([&] {
    try {
      h.writer->transaction([&] {
        h.writer->update_instance(record(1, "undone"));
        throw std::runtime_error("undo the inner part");
      });
    } catch (const std::runtime_error&) {
    }
    h.writer->insert_instance(record(2));
  });
  CHECK(h.reader->revision() == before + 1);
  const auto found = by_id(h.reader->instance_changes_since(before, 1000));
  CHECK(found.size() == 1);
  CHECK(found.count(record(2).instance_id) == 1);
}

TEST_CASE_TEMPLATE("change log: the rows changed since a revision, deduplicated", B, BACKENDS) {
  Hosts<B> h;
  for (int n = 1; n <= 4; ++n) h.writer->insert_instance(record(n));
  const auto since = h.reader->revision();

  auto moved = record(1, "moved");
  moved.ip = "10.9.1.1";
  h.writer->update_instance(moved);
  moved.ip = "10.9.1.2";  // moved twice: the reader knows it at its first address
  h.writer->update_instance(moved);
  h.writer->update_instance(record(2, "renamed"));
  h.writer->delete_instance(record(3).instance_id);
  h.writer->insert_instance(record(5));
  h.writer->insert_instance(record(6));
  h.writer->delete_instance(record(6).instance_id);  // born and gone since the reader's revision

  const auto answer = h.reader->instance_changes_since(since, 1000);
  CHECK(answer.revision == since + 7);
  CHECK(answer.revision == h.reader->revision());
  const auto found = by_id(answer);
  CHECK(found.size() == 5);
  CHECK(found.count(record(4).instance_id) == 0);

  const auto& one = found.at(record(1).instance_id);
  CHECK(one.ip_before == "10.9.0.1");
  REQUIRE(one.row);
  CHECK(one.row->ip == "10.9.1.2");
  CHECK(cm::decode(one.row->view()).hostname == "moved1");
  CHECK_FALSE(one.row->created_at.empty());

  CHECK(found.at(record(2).instance_id).ip_before == "10.9.0.2");
  CHECK(cm::decode(found.at(record(2).instance_id).row->view()).hostname == "renamed2");

  CHECK(found.at(record(3).instance_id).ip_before == "10.9.0.3");
  CHECK_FALSE(found.at(record(3).instance_id).row);

  CHECK(found.at(record(5).instance_id).ip_before.empty());
  CHECK(found.at(record(5).instance_id).row->ip == "10.9.0.5");

  CHECK(found.at(record(6).instance_id).ip_before.empty());
  CHECK_FALSE(found.at(record(6).instance_id).row);

  // Read from a later revision, only what came after it.
  const auto later = by_id(h.reader->instance_changes_since(since + 6, 1000));
  CHECK(later.size() == 1);
  CHECK(later.at(record(6).instance_id).ip_before == "10.9.0.6");

  const auto current = h.reader->instance_changes_since(answer.revision, 1000);
  CHECK(current.status == Status::kComplete);
  CHECK(current.changes.empty());
  CHECK(current.revision == answer.revision);
}

TEST_CASE_TEMPLATE("change log: a batch write is one revision, each row with its address before",
                   B, BACKENDS) {
  Hosts<B> h;
  for (int n = 1; n <= 2; ++n) h.writer->insert_instance(record(n));
  const auto since = h.reader->revision();

  auto moved = record(1, "moved");
  moved.ip = "10.9.1.1";
  h.writer->write_instances({moved, record(2, "renamed"), record(3)});

  const auto answer = h.reader->instance_changes_since(since, 1000);
  CHECK(answer.revision == since + 1);
  const auto found = by_id(answer);
  CHECK(found.size() == 3);
  CHECK(found.at(record(1).instance_id).ip_before == "10.9.0.1");
  CHECK(found.at(record(1).instance_id).row->ip == "10.9.1.1");
  CHECK(found.at(record(2).instance_id).ip_before == "10.9.0.2");
  CHECK(cm::decode(found.at(record(2).instance_id).row->view()).hostname == "renamed2");
  CHECK(found.at(record(3).instance_id).ip_before.empty());

  // Inside a transaction that wrote the instance before, the address before the transaction
  // stays the one logged, and the batch shares the transaction's revision.
  h.writer->transaction([&] {
    auto again = record(1, "again");
    again.ip = "10.9.2.1";
    h.writer->update_instance(again);
    again.ip = "10.9.3.1";
    h.writer->write_instances({again});
  });
  const auto later = by_id(h.reader->instance_changes_since(since + 1, 1000));
  CHECK(h.reader->revision() == since + 2);
  CHECK(later.at(record(1).instance_id).ip_before == "10.9.1.1");
  CHECK(later.at(record(1).instance_id).row->ip == "10.9.3.1");
}

TEST_CASE_TEMPLATE("change log: a revision the log does not reach is a gap", B, BACKENDS) {
  Hosts<B> h;
  for (int n = 1; n <= 5; ++n) h.writer->insert_instance(record(n));
  const auto now = h.reader->revision();
  CHECK(h.reader->instance_changes_since(-1, 1000).status == Status::kGap);  // an empty snapshot
  CHECK(h.reader->instance_changes_since(now + 1, 1000).status == Status::kGap);  // from a future
  CHECK(h.reader->instance_changes_since(now - 5, 4).status == Status::kTooMany);
  CHECK(h.reader->instance_changes_since(now - 5, 5).status == Status::kComplete);

  // Rows written at this second are not pruned by a cut at this second; a later cut takes the
  // oldest first, at most `limit` per call.
  CHECK(h.writer->prune_instance_changes(unix_now() - 60, 1000) == 0);
  CHECK(h.writer->prune_instance_changes(unix_now() + 60, 2) == 2);
  // Revisions now-4 and now-3 are gone: a reader at now-3 needs only what came after.
  CHECK(h.reader->instance_changes_since(now - 5, 1000).status == Status::kGap);
  CHECK(h.reader->instance_changes_since(now - 4, 1000).status == Status::kGap);
  CHECK(by_id(h.reader->instance_changes_since(now - 3, 1000)).size() == 3);
  CHECK(h.writer->prune_instance_changes(unix_now() + 60, 1000) == 3);
  CHECK(h.reader->instance_changes_since(now - 1, 1000).status == Status::kGap);
  CHECK(h.reader->instance_changes_since(now, 1000).status == Status::kComplete);
  CHECK(h.writer->prune_instance_changes(unix_now() + 60, 1000) == 0);

  // A revision bumped around the log (a hand edit, an older version's write) is a gap too.
  h.writer->insert_instance(record(6));
  h.backend.sql("UPDATE instance_revision SET value = value + 1 WHERE id = 1");
  h.writer->insert_instance(record(7));
  CHECK(h.reader->instance_changes_since(now, 1000).status == Status::kGap);
  CHECK(by_id(h.reader->instance_changes_since(now + 2, 1000)).size() == 1);
}
