// What only the SQLite backend has: DATABASE_URL forms for a file, pragmas, its migrations table,
// SQLite errors mapped to StoreError kinds, and another program writing the same file. The Store
// contract shared with PostgreSQL is in store_contract_test.cpp.
#include <SQLiteCpp/SQLiteCpp.h>
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "cloudmeta/record_json.hpp"
#include "cloudmeta/schema.hpp"
#include "cloudmeta/store.hpp"

namespace {

namespace cm = cloudmeta;
namespace fs = std::filesystem;
using Kind = cm::StoreError::Kind;
using nlohmann::json;

class ScratchDir {
 public:
  ScratchDir() {
    char dir[] = "/tmp/cloudmeta-sqlite-XXXXXX";
    REQUIRE(mkdtemp(dir) != nullptr);
    path_ = dir;
  }
  ~ScratchDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  fs::path operator/(const std::string& name) const { return path_ / name; }
  const fs::path& path() const { return path_; }
  std::string url(const std::string& name = "store.db") const {
    return "sqlite://" + (path_ / name).string();
  }

 private:
  fs::path path_;
};

// Runs the body with `dir` as the working directory, restoring the previous one after.
class WorkingDirectory {
 public:
  explicit WorkingDirectory(const fs::path& dir) : previous_(fs::current_path()) {
    fs::current_path(dir);
  }
  ~WorkingDirectory() { fs::current_path(previous_); }

 private:
  fs::path previous_;
};

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

cm::InstanceRecord sample(const std::string& id = "i-0123456789abcdef0",
                          const std::string& ip = "10.0.0.5") {
  return cm::record_from_json({{"instance_id", id}, {"ip", ip}});
}

std::unique_ptr<cm::Store> open_migrated(const std::string& url) {
  auto store = cm::open_store(url);
  store->migrate();
  return store;
}

}  // namespace

TEST_CASE("sqlite store: an empty DATABASE_URL means ./cloudmeta.db") {
  ScratchDir dir;
  {
    WorkingDirectory cwd(dir.path());
    open_migrated("")->insert_instance(sample());
  }
  REQUIRE(fs::exists(dir / "cloudmeta.db"));
  CHECK(open_migrated(dir.url("cloudmeta.db"))->find_instance("i-0123456789abcdef0"));
}

TEST_CASE("sqlite store: sqlite://relative is relative to the working directory") {
  ScratchDir dir;
  fs::create_directory(dir / "data");
  {
    WorkingDirectory cwd(dir.path());
    open_migrated("sqlite://data/rel.db")->insert_instance(sample());
  }
  CHECK(fs::exists(dir / "data" / "rel.db"));
}

TEST_CASE("sqlite store: extra leading slashes and an upper-case scheme name the same file") {
  ScratchDir dir;
  open_migrated(dir.url())->insert_instance(sample());
  CHECK(open_migrated("sqlite:///" + (dir / "store.db").string())->list_instances().size() == 1);
  CHECK(open_migrated("SQLite://" + (dir / "store.db").string())->list_instances().size() == 1);
}

TEST_CASE("sqlite store: malformed or unsupported URLs are kInvalid") {
  ScratchDir dir;
  const std::string file = (dir / "x.db").string();
  for (const std::string& url :
       std::vector<std::string>{"sqlite://", "sqlite:///", "sqlite://" + file + "?mode=ro",
                                "sqlite://" + dir.path().string() + "/", file, "sqlite:" + file}) {
    CAPTURE(url);
    CHECK(store_error_of([&] { cm::open_store(url); }).kind() == Kind::kInvalid);
  }
  auto mysql = store_error_of([&] { cm::open_store("mysql://root:hunter2@db/cloudmeta"); });
  CHECK(mysql.kind() == Kind::kInvalid);
  CHECK(std::string(mysql.what()).find("\"mysql\"") != std::string::npos);
  CHECK(std::string(mysql.what()).find("hunter2") == std::string::npos);
  CHECK_FALSE(fs::exists(file));
}

TEST_CASE("sqlite store: a missing parent directory is named in the error") {
  ScratchDir dir;
  const fs::path missing = dir / "no-such-dir";
  auto e = store_error_of([&] { cm::open_store("sqlite://" + (missing / "x.db").string()); });
  CHECK(e.kind() == Kind::kInvalid);
  CHECK(std::string(e.what()).find(missing.string()) != std::string::npos);
  CHECK_FALSE(fs::exists(missing));
}

TEST_CASE("sqlite store: WAL journal and the migrations table") {
  ScratchDir dir;
  open_migrated(dir.url());
  SQLite::Database raw((dir / "store.db").string());
  CHECK(raw.execAndGet("PRAGMA journal_mode").getString() == "wal");
  SQLite::Statement rows(raw, "SELECT version, name, applied_at FROM schema_migrations");
  const auto& all = cm::migrations("sqlite");
  REQUIRE_FALSE(all.empty());
  for (const auto& m : all) {
    REQUIRE(rows.executeStep());
    CHECK(rows.getColumn(0).getInt() == m.version);
    CHECK(rows.getColumn(1).getString() == std::string(m.name));
    CHECK(rows.getColumn(2).getString().size() == 20);  // YYYY-MM-DDTHH:MM:SSZ
  }
  CHECK_FALSE(rows.executeStep());
}

TEST_CASE("sqlite store: an unmigrated database says to migrate") {
  ScratchDir dir;
  auto store = cm::open_store(dir.url());
  CHECK(store->schema_version() == 0);
  auto e = store_error_of([&] { store->list_instances(); });
  CHECK(e.kind() == Kind::kCorrupt);
  CHECK(std::string(e.what()).find("migrate") != std::string::npos);
}

TEST_CASE("sqlite store: a database newer than the binary is refused") {
  ScratchDir dir;
  open_migrated(dir.url());
  {
    SQLite::Database raw((dir / "store.db").string(), SQLite::OPEN_READWRITE);
    raw.exec("INSERT INTO schema_migrations VALUES (9999, '9999_future', '2030-01-01T00:00:00Z')");
  }
  auto e = store_error_of([&] { cm::open_store(dir.url())->migrate(); });
  CHECK(e.kind() == Kind::kCorrupt);
  CHECK(std::string(e.what()).find("newer") != std::string::npos);
}

TEST_CASE("sqlite store: a file that is not a database is kCorrupt") {
  ScratchDir dir;
  std::ofstream(dir / "store.db") << std::string(4096, 'x');
  auto e = store_error_of([&] { open_migrated(dir.url()); });
  CHECK(e.kind() == Kind::kCorrupt);
}

TEST_CASE("sqlite store: a held write lock is kUnavailable after the busy timeout") {
  ScratchDir dir;
  auto store = open_migrated(dir.url());
  SQLite::Database raw((dir / "store.db").string(), SQLite::OPEN_READWRITE);
  raw.exec("BEGIN IMMEDIATE");
  auto e = store_error_of([&] { store->insert_instance(sample()); });
  CHECK(e.kind() == Kind::kUnavailable);
  raw.exec("ROLLBACK");
  store->insert_instance(sample());  // usable again once the lock is gone
  CHECK(store->revision() == 1);
}

TEST_CASE("sqlite store: the stored document has secrets in full and no timestamps") {
  ScratchDir dir;
  auto store = open_migrated(dir.url());
  auto record = cm::record_from_json({{"instance_id", "i-0123456789abcdef0"},
                                      {"ip", "::ffff:10.0.0.5"},
                                      {"iam",
                                       {{"role", "web"},
                                        {"access_key_id", "ASIAIOSFODNN7EXAMPLE"},
                                        {"secret_access_key", "s3cr3t"},
                                        {"token", "t0k3n"},
                                        {"expiration", "2030-01-01T00:00:00Z"}}}});
  store->insert_instance(record);
  SQLite::Database raw((dir / "store.db").string());
  SQLite::Statement q(raw, "SELECT ip, doc FROM instances");
  REQUIRE(q.executeStep());
  CHECK(q.getColumn(0).getString() == "10.0.0.5");
  const json doc = json::parse(q.getColumn(1).getString());
  CHECK(doc["iam"]["secret_access_key"] == "s3cr3t");
  CHECK(doc["iam"]["token"] == "t0k3n");
  CHECK_FALSE(doc.contains("created_at"));
  CHECK_FALSE(doc.contains("updated_at"));
  CHECK(store->find_instance_by_ip("::ffff:10.0.0.5"));
  CHECK_FALSE(store->find_instance_by_ip("not an ip"));
}

TEST_CASE("sqlite store: an invalid record is refused before it is written") {
  ScratchDir dir;
  auto store = open_migrated(dir.url());
  auto record = sample();
  record.tags["bad/key"] = "v";
  auto e = store_error_of([&] { store->insert_instance(record); });
  CHECK(e.kind() == Kind::kInvalid);
  CHECK(std::string(e.what()).find("tags.bad/key") != std::string::npos);
  CHECK(store->list_instances().empty());
  CHECK(store->revision() == 0);
}

// list_instances flags it (store_contract_test.cpp); the snapshot's decode() has nothing to serve.
TEST_CASE("sqlite store: a damaged row is kCorrupt naming the instance when decoded to serve") {
  ScratchDir dir;
  auto store = open_migrated(dir.url());
  store->insert_instance(sample());
  {
    SQLite::Database raw((dir / "store.db").string(), SQLite::OPEN_READWRITE);
    raw.exec("UPDATE instances SET doc = '{\"instance_id\": 5}'");
  }
  CHECK(store->list_instances().at(0).invalid);
  store->scan_instances([](cm::StoredInstance&& row) {
    auto e = store_error_of([&] { cm::decode(row); });
    CHECK(e.kind() == Kind::kCorrupt);
    CHECK(std::string(e.what()).find("i-0123456789abcdef0") != std::string::npos);
    CHECK(std::string(e.what()).find("instance_id: must be a string") != std::string::npos);
  });
}

// Another program (an older cloudmeta, a migration script) writing the file directly is seen
// through PRAGMA data_version, not only writes through another Store.
TEST_CASE("sqlite store: revision follows commits from any connection") {
  ScratchDir dir;
  auto store = open_migrated(dir.url());
  store->insert_instance(sample());
  CHECK(store->revision() == 1);
  CHECK(store->revision() == 1);
  {
    SQLite::Database raw((dir / "store.db").string(), SQLite::OPEN_READWRITE);
    raw.exec("UPDATE instance_revision SET value = value + 1");
  }
  CHECK(store->revision() == 2);
  store->delete_instance("i-0123456789abcdef0");
  CHECK(store->revision() == 3);
}
