// Fleet mode on a real PostgreSQL server: several cloudmeta processes (standing in for hosts)
// share one database. A write through one host's admin API reaches another host's metadata
// surface through LISTEN/NOTIFY within 1 s; with Postgres stopped, metadata keeps being served
// from the last snapshot while writes get 503, and everything recovers by itself; export/import
// move a fleet between SQLite and Postgres. Deadlines are asserted, never timing statistics.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "deployment.hpp"
#include "pg_server.hpp"

using namespace cloudmeta::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;

// Every host of a fleet shares SECRET_KEY, so an IMDSv2 token minted by one is valid on all.
constexpr char kSecretKey[] = "fleet-test-secret-key-0123456789abcdef0123456789";
constexpr char kInstances[] = "/api/v1/instances";

Environment fleet_settings(const std::string& database_url, const std::string& refresh_ms) {
  return {{"DATABASE_URL", database_url},
          {"SECRET_KEY", kSecretKey},
          {"REFRESH_INTERVAL_MS", refresh_ms}};
}

// A second host on the same database: only its own directory and log differ.
class OtherHost {
 public:
  explicit OtherHost(const Environment& env)
      : server_(cloudmeta_binary(), env, dir_.path(), dir_ / "server.log") {}

  ServerProcess& server() { return server_; }
  HttpResponse imds_get(const std::string& source, const std::string& target,
                        Headers headers = {}) {
    headers.emplace_back("Connection", "close");
    return http_call(server_.metadata_port(), {"GET", target, std::move(headers), {}}, source);
  }

 private:
  TempDir dir_;
  ServerProcess server_;
};

// Polls `done` until it holds or `limit` passes; how long it took, or nothing.
std::optional<std::chrono::milliseconds> within(std::chrono::milliseconds limit,
                                                const std::function<bool()>& done) {
  const auto start = Clock::now();
  for (;;) {
    if (done()) return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    if (Clock::now() - start > limit) return std::nullopt;
    std::this_thread::sleep_for(10ms);
  }
}

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The change feed connects after the server listens; writes are made once it is LISTENing, so
// that what is measured is the notification path.
void wait_for_feed(ServerProcess& server) {
  REQUIRE_MESSAGE(within(10s, [&] { return server.log().find("event=change_feed_listening") !=
                                           std::string::npos; }),
                  server.log());
}

std::string instance_path(const std::string& id) { return std::string(kInstances) + "/" + id; }

}  // namespace

TEST_CASE("fleet postgres: a write through host A is served by host B within 1 s") {
  // B's safety-net poll is an hour away: only the NOTIFY can bring A's writes to it in time.
  Deployment a(fleet_settings(PgServer::shared().create_database(), "3600000"));
  a.start();
  OtherHost b(a.environment());
  wait_for_feed(b.server());

  const std::string vm = "127.0.0.61";
  const std::string id = "i-0f1ee7000000000a1";
  CHECK(b.imds_get(vm, "/latest/meta-data/instance-id").status == 404);

  a.create_instance(instance_record(id, vm));
  const auto created = within(1s, [&] {
    const HttpResponse r = b.imds_get(vm, "/latest/meta-data/instance-id");
    return r.status == 200 && r.body == id;
  });
  REQUIRE_MESSAGE(created, b.server().log());
  MESSAGE("create reached host B after " << created->count() << " ms");

  REQUIRE(a.admin("PATCH", instance_path(id), json{{"hostname", "moved.fleet.internal"}}.dump())
              .status == 200);
  const auto patched = within(1s, [&] {
    return b.imds_get(vm, "/latest/meta-data/hostname").body == "moved.fleet.internal";
  });
  CHECK(patched);
  if (patched) MESSAGE("update reached host B after " << patched->count() << " ms");

  // Shared SECRET_KEY: a token from host A's metadata surface is accepted by host B's.
  const std::string token = a.imds_token(vm);
  const HttpResponse with_token =
      b.imds_get(vm, "/latest/meta-data/instance-id", {{"X-aws-ec2-metadata-token", token}});
  CHECK(with_token.status == 200);
  CHECK(with_token.body == id);

  REQUIRE(a.admin("DELETE", instance_path(id)).status == 204);
  const auto deleted =
      within(1s, [&] { return b.imds_get(vm, "/latest/meta-data/instance-id").status == 404; });
  CHECK(deleted);
  if (deleted) MESSAGE("delete reached host B after " << deleted->count() << " ms");

  CHECK(b.server().stop() == 0);
  CHECK(a.stop() == 0);
}

TEST_CASE("fleet postgres: with Postgres down metadata is served, writes get 503, all recover") {
  PgServer pg;  // this test's own server: stopping the shared one would fail other tests
  Deployment a(fleet_settings(pg.create_database(), "200"));
  a.start();
  OtherHost b(a.environment());
  wait_for_feed(b.server());

  const std::string vm = "127.0.0.71";
  const std::string id = "i-0fa017000000000b1";
  a.create_instance(instance_record(id, vm));
  REQUIRE(within(1s, [&] { return b.imds_get(vm, "/latest/meta-data/instance-id").body == id; }));

  // Light metadata load on both hosts for the whole outage.
  std::atomic<bool> stop_load{false};
  std::map<int, int> statuses;  // status -> count, written only by the load thread
  std::thread load([&] {
    while (!stop_load) {
      for (auto* port : {&a.server(), &b.server()}) {
        const HttpResponse r = http_call(port->metadata_port(),
                                         {"GET", "/latest/meta-data/instance-id",
                                          {{"Connection", "close"}}, {}},
                                         vm);
        ++statuses[r.body == id ? r.status : -r.status];
      }
      std::this_thread::sleep_for(20ms);
    }
  });

  pg.halt();
  const HttpResponse refused =
      a.admin("POST", kInstances, instance_record("i-0fa017000000000b2", "127.0.0.72").dump());
  CHECK(refused.status == 503);
  CHECK(json::parse(refused.body).value("error", "") == "database unavailable");
  CHECK(a.admin("PATCH", instance_path(id), json{{"hostname", "x.internal"}}.dump()).status ==
        503);
  // Both hosts notice within a few refresh intervals and say so on /healthz.
  CHECK(within(5s, [&] {
    const HttpResponse h = a.admin("GET", "/healthz");
    return h.status == 503 && json::parse(h.body).value("stale", false);
  }));
  const std::uint16_t b_admin = b.server().admin_port();
  CHECK(within(5s, [&] {
    const HttpResponse h = http_call(b_admin, {"GET", "/healthz", {{"Connection", "close"}}, {}});
    return json::parse(h.body).value("stale", false);
  }));
  std::this_thread::sleep_for(500ms);  // metadata load keeps running while the database is down

  pg.resume();
  // The next admin request reconnects: writes work again without restarting anything.
  const auto writable = within(10s, [&] {
    return a.admin("POST", kInstances,
                   instance_record("i-0fa017000000000b2", "127.0.0.72").dump())
               .status == 201;
  });
  REQUIRE_MESSAGE(writable, a.server().log());
  const auto converged = within(10s, [&] {
    return b.imds_get("127.0.0.72", "/latest/meta-data/instance-id").body ==
               "i-0fa017000000000b2" &&
           a.imds_get("127.0.0.72", "/latest/meta-data/instance-id").body ==
               "i-0fa017000000000b2";
  });
  CHECK_MESSAGE(converged, b.server().log());
  CHECK(within(5s, [&] {
    const HttpResponse h = a.admin("GET", "/healthz");
    return h.status == 200 && !json::parse(h.body).contains("stale");
  }));

  stop_load = true;
  load.join();
  CHECK(statuses.size() == 1);
  CHECK(statuses[200] > 10);
  // Nothing acknowledged was lost: the record written before the outage is still stored.
  CHECK(a.admin("GET", instance_path(id)).status == 200);

  // The outage is logged once when it starts and once when it ends, not once per attempt.
  const std::string log = a.server().log();
  CHECK(occurrences(log, "event=snapshot_stale") == 1);
  CHECK(occurrences(log, "event=snapshot_fresh") == 1);
  CHECK(occurrences(b.server().log(), "event=change_feed_lost") == 1);
  CHECK(within(10s, [&] {
    return b.server().log().find("event=change_feed_restored") != std::string::npos;
  }));

  CHECK(b.server().stop() == 0);
  CHECK(a.stop() == 0);
}

TEST_CASE("fleet postgres: started with Postgres down and no cache file, serve waits for it") {
  // A host restarted into an outage with nothing to serve (its first start, or the file lost)
  // must neither exit (systemd would restart it into the same outage, forever) nor listen and
  // answer nothing: it waits, and starts serving as soon as the database answers.
  PgServer pg;
  Deployment a(fleet_settings(pg.create_database(), "200"));
  a.start();
  const std::string vm = "127.0.0.81";
  const std::string id = "i-0fa017000000000c1";
  a.create_instance(instance_record(id, vm));
  CHECK(a.stop() == 0);
  pg.halt();

  TempDir dir;  // another working directory: no snapshot.cache there
  Environment env = a.environment();
  env["DATABASE_TIMEOUT_MS"] = "500";
  auto starting = std::async(std::launch::async, [&] {
    return std::make_unique<ServerProcess>(cloudmeta_binary(), env, dir.path(),
                                           dir / "server.log", 60s);
  });
  const auto log = [&] {
    std::ifstream in(dir / "server.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  CHECK(within(10s, [&] { return log().find("event=waiting_for_database") != std::string::npos; }));
  std::this_thread::sleep_for(1s);
  // Neither listening nor gone (ServerProcess would have returned, or thrown on an exit).
  REQUIRE_MESSAGE(starting.wait_for(0s) == std::future_status::timeout, log());

  pg.resume();
  std::unique_ptr<ServerProcess> server = starting.get();
  const HttpResponse served = http_call(server->metadata_port(),
                                        {"GET", "/latest/meta-data/instance-id",
                                         {{"Connection", "close"}}, {}},
                                        vm);
  CHECK(served.status == 200);
  CHECK(served.body == id);
  CHECK(server->stop() == 0);
}

namespace {

// `cloudmeta <args>` against `database_url`, in `dir`.
CommandResult run_cli(const std::vector<std::string>& args, const std::string& database_url,
                      const TempDir& dir) {
  std::vector<std::string> argv = {cloudmeta_binary().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, {{"DATABASE_URL", database_url}, {"LOG_LEVEL", "warn"}}, dir.path());
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// An export's records without their timestamps, which each store sets when it writes.
std::vector<json> contents(const std::string& jsonl) {
  std::vector<json> out;
  for (const auto& line : split_lines(jsonl)) {
    json record = json::parse(line);
    record.erase("created_at");
    record.erase("updated_at");
    out.push_back(record);
  }
  return out;
}

std::vector<json> fleet_records() {
  json full = instance_record("i-0e0000000000000c1", "10.1.0.1");
  full["user_data"] = "#cloud-config\nhostname: one\n";
  full["tags"] = {{"Name", "one"}, {"team", "blue"}};
  full["iam"] = {{"role", "app-role"},
                 {"access_key_id", "ASIAEXAMPLEKEY000001"},
                 {"secret_access_key", "c2VjcmV0LWtleS1vbmU"},
                 {"token", "dG9rZW4tb25l"},
                 {"expiration", "2031-01-01T00:00:00Z"}};
  return {full, instance_record("i-0e0000000000000c2", "10.1.0.2"),
          instance_record("i-0e0000000000000c3", "fd00::3")};
}

}  // namespace

TEST_CASE("fleet postgres: export/import round trip SQLite -> Postgres -> SQLite, idempotent") {
  TempDir dir;
  const std::string sqlite_a = "sqlite://" + (dir / "a.db").string();
  const std::string sqlite_b = "sqlite://" + (dir / "b.db").string();
  const std::string postgres = PgServer::shared().create_database();
  {
    std::ofstream seed(dir / "seed.jsonl");
    for (const auto& r : fleet_records()) seed << r.dump() << "\n";
  }
  const CommandResult seeded = run_cli({"import", "--input", "seed.jsonl"}, sqlite_a, dir);
  REQUIRE_MESSAGE(seeded.exit_code == 0, seeded.err);
  CHECK(seeded.out == "Imported: 3 created, 0 replaced, 0 unchanged.\n");

  const CommandResult exported = run_cli({"export"}, sqlite_a, dir);
  REQUIRE(exported.exit_code == 0);
  REQUIRE(split_lines(exported.out).size() == 3);
  CHECK(exported.out.find("c2VjcmV0LWtleS1vbmU") != std::string::npos);  // secrets included

  REQUIRE(run_cli({"export", "--output", "from_sqlite.jsonl"}, sqlite_a, dir).exit_code == 0);
  CHECK(read_file(dir / "from_sqlite.jsonl") == exported.out);
  CHECK((std::filesystem::status(dir / "from_sqlite.jsonl").permissions() &
         std::filesystem::perms::group_read) == std::filesystem::perms::none);

  const CommandResult to_pg = run_cli({"import", "--input", "from_sqlite.jsonl"}, postgres, dir);
  REQUIRE_MESSAGE(to_pg.exit_code == 0, to_pg.err);
  CHECK(to_pg.out == "Imported: 3 created, 0 replaced, 0 unchanged.\n");
  const CommandResult again = run_cli({"import", "--input", "from_sqlite.jsonl"}, postgres, dir);
  CHECK(again.out == "Imported: 0 created, 0 replaced, 3 unchanged.\n");

  const CommandResult from_pg = run_cli({"export", "--output", "from_pg.jsonl"}, postgres, dir);
  REQUIRE(from_pg.exit_code == 0);
  REQUIRE(run_cli({"import", "--input", "from_pg.jsonl"}, sqlite_b, dir).exit_code == 0);
  const CommandResult back = run_cli({"export"}, sqlite_b, dir);
  REQUIRE(back.exit_code == 0);

  CHECK(contents(read_file(dir / "from_pg.jsonl")) == contents(exported.out));
  CHECK(contents(back.out) == contents(exported.out));
  // Postgres kept the timestamps it set at the first import: re-importing touched nothing.
  CHECK(read_file(dir / "from_pg.jsonl") == run_cli({"export"}, postgres, dir).out);
}

TEST_CASE("fleet postgres: import replaces by instance_id and refuses a bad file as a whole") {
  TempDir dir;
  const std::string postgres = PgServer::shared().create_database();
  auto records = fleet_records();
  {
    std::ofstream seed(dir / "seed.jsonl");
    for (const auto& r : records) seed << r.dump() << "\n";
  }
  REQUIRE(run_cli({"import", "--input", "seed.jsonl"}, postgres, dir).exit_code == 0);
  const std::string before = run_cli({"export"}, postgres, dir).out;

  // Line 3 is broken: nothing of lines 1-2 may be written.
  {
    json changed = records[0];
    changed["hostname"] = "changed.internal";
    std::ofstream bad(dir / "bad.jsonl");
    bad << changed.dump() << "\n\n" << R"({"instance_id": "i-0e0000000000000c9", "ip": 7})"
        << "\n";
  }
  const CommandResult refused = run_cli({"import", "--input", "bad.jsonl"}, postgres, dir);
  CHECK(refused.exit_code == 1);
  CHECK(refused.err.find("line 3: ") != std::string::npos);
  CHECK(run_cli({"export"}, postgres, dir).out == before);

  // An address held by another stored instance is refused up front too.
  {
    std::ofstream taken(dir / "taken.jsonl");
    taken << instance_record("i-0e0000000000000d1", "10.1.0.2").dump() << "\n";
  }
  const CommandResult clash = run_cli({"import", "--input", "taken.jsonl"}, postgres, dir);
  CHECK(clash.exit_code == 1);
  CHECK(clash.err.find("line 1: ip 10.1.0.2 belongs to instance i-0e0000000000000c2") !=
        std::string::npos);

  records[1]["hostname"] = "renamed.internal";
  records.push_back(instance_record("i-0e0000000000000c4", "10.1.0.4"));
  {
    std::ofstream update(dir / "update.jsonl");
    for (const auto& r : records) update << r.dump() << "\n";
  }
  const CommandResult applied = run_cli({"import", "--input", "update.jsonl"}, postgres, dir);
  CHECK(applied.out == "Imported: 1 created, 1 replaced, 2 unchanged.\n");
  CHECK(run_cli({"export"}, postgres, dir).out.find("renamed.internal") != std::string::npos);
}
