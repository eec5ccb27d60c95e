// The snapshot cache file (SNAPSHOT_CACHE): written atomically and privately, read back row for
// row, and refused whole (never half-read, never a crash) when torn, altered, of another format
// version or inconsistent; and Fleet's use of it: every full load rewrites it, and a Fleet
// started from it serves the same instances, flagged stale. Real files in a temp directory.
#include <doctest/doctest.h>
#include <sodium.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "cloudmeta/fleet.hpp"
#include "cloudmeta/ip_key.hpp"
#include "cloudmeta/record_json.hpp"
#include "cloudmeta/snapshot.hpp"
#include "cloudmeta/snapshot_cache.hpp"
#include "cloudmeta/store.hpp"

namespace {

namespace cm = cloudmeta;
namespace fs = std::filesystem;

struct Dir {
  Dir() {
    std::random_device random;
    path = fs::temp_directory_path() / ("cloudmeta-cache-test-" + std::to_string(random()));
    fs::create_directories(path);
  }
  ~Dir() { fs::remove_all(path); }
  fs::path path;
};

struct Row {
  std::string id, ip, doc, created, updated;
  bool operator==(const Row&) const = default;
};

std::vector<Row> sample_rows() {
  return {{"i-0000000000000000a", "10.0.0.1", R"({"hostname":"a"})", "2026-01-01T00:00:00Z",
           "2026-01-02T00:00:00Z"},
          {"i-0000000000000000b", "fd00::b", std::string("bytes\0and\xff", 10), "", ""},
          {"", "", "", "", ""}};
}

void write_cache(const fs::path& path, const std::vector<Row>& rows, std::int64_t revision,
                 const std::string& secret) {
  cm::SnapshotCacheWriter writer(path);
  for (const Row& r : rows) writer.add({r.id, r.ip, r.doc, r.created, r.updated});
  writer.commit(revision, secret);
}

std::vector<Row> read_rows(const fs::path& path, cm::SnapshotCacheInfo* info = nullptr) {
  std::vector<Row> out;
  auto read = cm::read_snapshot_cache(path, [&out](const cm::StoredInstance& r) {
    out.push_back({std::string(r.instance_id), std::string(r.ip), std::string(r.doc),
                   std::string(r.created_at), std::string(r.updated_at)});
  });
  REQUIRE(read);
  if (info) *info = *read;
  return out;
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void spit(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// The bytes with their checksum made right again: what only a buggy writer (or an attacker with
// write access) could produce, to reach the structural checks behind the checksum.
std::string rechecksummed(std::string bytes) {
  const std::size_t body = bytes.size() - crypto_generichash_BYTES;
  crypto_generichash(reinterpret_cast<unsigned char*>(bytes.data() + body),
                     crypto_generichash_BYTES,
                     reinterpret_cast<const unsigned char*>(bytes.data()), body, nullptr, 0);
  return bytes;
}

std::string refusal(const std::string& bytes) {
  int visited = 0;
  try {
    cm::parse_snapshot_cache(bytes, [&visited](const cm::StoredInstance&) { ++visited; });
  } catch (const cm::SnapshotCacheError& e) {
    CHECK(visited == 0);  // refused whole, before any row was handed over
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("snapshot cache: round trip, private, atomic") {
  Dir dir;
  const fs::path path = dir.path / "snapshot.cache";
  const mode_t old_umask = ::umask(0);  // the file is private whatever the umask
  write_cache(path, sample_rows(), 42, "the-secret");
  ::umask(old_umask);
  cm::SnapshotCacheInfo info;
  CHECK(read_rows(path, &info) == sample_rows());
  CHECK(info.revision == 42);
  CHECK(info.rows == 3);
  CHECK(info.secret == "the-secret");
  CHECK((fs::status(path).permissions() & fs::perms::all) ==
        (fs::perms::owner_read | fs::perms::owner_write));

  // Rewritten in place: the new content, and no temporary file left behind.
  write_cache(path, {sample_rows()[0]}, 43, "");
  CHECK(read_rows(path, &info) == std::vector<Row>{sample_rows()[0]});
  CHECK(info.revision == 43);
  CHECK(info.secret.empty());
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);

  // A writer that never commits (the reload failed) leaves the old file alone.
  {
    cm::SnapshotCacheWriter abandoned(path);
    abandoned.add({"i-x", "10.9.9.9", "{}", "", ""});
  }
  CHECK(read_rows(path) == std::vector<Row>{sample_rows()[0]});
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);

  CHECK_FALSE(cm::read_snapshot_cache(dir.path / "absent", [](const cm::StoredInstance&) {}));
  CHECK_THROWS_AS(cm::SnapshotCacheWriter(dir.path / "no-such-dir" / "x"),
                  cm::SnapshotCacheError);
}

TEST_CASE("snapshot cache: torn, altered, other versions and inconsistent files are refused") {
  Dir dir;
  const fs::path path = dir.path / "snapshot.cache";
  write_cache(path, sample_rows(), 7, "k");
  const std::string good = slurp(path);
  CHECK(refusal(good).empty());

  for (const std::size_t keep : {std::size_t{0}, std::size_t{10}, good.size() / 2,
                                 good.size() - 1}) {
    CAPTURE(keep);
    CHECK(!refusal(good.substr(0, keep)).empty());
  }
  for (std::size_t at = 0; at < good.size(); at += 7) {
    CAPTURE(at);
    std::string flipped = good;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x20);
    CHECK(!refusal(flipped).empty());
  }
  std::string next_version = good;
  next_version[8] = 2;
  CHECK(refusal(rechecksummed(next_version)) == "format version 2, this binary reads 1");

  // The trailer's row count disagrees with the rows (checksum right): refused, nothing visited.
  const std::size_t count_at = good.size() - crypto_generichash_BYTES - 8 - 8 - 8;
  std::string miscounted = good;
  miscounted[count_at] = 4;
  CHECK(refusal(rechecksummed(miscounted)).find("rows, its trailer says 4") != std::string::npos);
  miscounted[count_at] = 2;
  CHECK(refusal(rechecksummed(miscounted)).find("does not fit its trailer") != std::string::npos);
  // A row length reaching past the rows.
  std::string overlong = good;
  overlong[16 + 7] = 0x7f;  // the high byte of the first row's ip length
  CHECK(refusal(rechecksummed(overlong)).find("torn") != std::string::npos);

  spit(path, good.substr(0, good.size() / 2));
  CHECK_THROWS_AS(read_rows(path), cm::SnapshotCacheError);
  spit(path, "");
  CHECK_THROWS_AS(read_rows(path), cm::SnapshotCacheError);
}

namespace {

cm::InstanceRecord record(int n) {
  return cm::record_from_json({{"instance_id", "i-0c0c0c0c0c0c0c0" + std::to_string(10 + n)},
                               {"ip", "10.4.0." + std::to_string(n)},
                               {"hostname", "vm-" + std::to_string(n) + ".internal"}});
}

std::string hostname_served(const cm::SnapshotHolder& snapshots, const std::string& ip) {
  const auto* found = snapshots.load()->find(*cm::IpKey::parse(ip));
  if (!found) return "(none)";
  const auto* node = found->find("meta-data/hostname");
  return node ? std::string(node->body) : "(no hostname)";
}

}  // namespace

TEST_CASE("snapshot cache: Fleet writes it on full loads and starts from it, stale") {
  Dir dir;
  const fs::path cache = dir.path / "snapshot.cache";
  auto store = cm::open_store("sqlite://" + (dir.path / "db.sqlite").string());
  store->migrate();
  cm::SnapshotHolder snapshots;
  cm::Fleet fleet(*store, snapshots);
  fleet.keep_cache(cache, "generated-secret");
  fleet.load_all();
  CHECK(fs::exists(cache));
  for (int n = 1; n <= 3; ++n) fleet.create(record(n));
  // Writes patch the snapshot; the file lags until a full load.
  CHECK(fleet.cache_behind());
  fleet.resync();
  CHECK_FALSE(fleet.cache_behind());

  cm::SnapshotHolder restarted;
  cm::Fleet from_file(*store, restarted);
  const auto secret = from_file.load_cache(cache);
  REQUIRE(secret);
  CHECK(*secret == "generated-secret");
  CHECK(from_file.stale());
  CHECK(restarted.load()->size() == 3);
  CHECK(restarted.load()->revision() == snapshots.load()->revision());
  CHECK(hostname_served(restarted, "10.4.0.2") == "vm-2.internal");

  // A refused file is no snapshot, and no crash.
  std::string bytes = slurp(cache);
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 1);
  spit(cache, bytes);
  cm::SnapshotHolder third;
  cm::Fleet corrupt(*store, third);
  CHECK_FALSE(corrupt.load_cache(cache));
  CHECK(third.load()->size() == 0);
  CHECK_FALSE(corrupt.load_cache(dir.path / "absent"));
}
