// Incremental fleet sync between two real servers on one database (a SQLite file; a real
// PostgreSQL server, the cases named "postgres"): host B serves host A's writes by applying the
// change log, which B's /metrics shows (incremental applies up, full reloads unchanged); a host
// that slept through the log's retention reloads in full once and then serves everything.
// Deadlines are asserted, never timing statistics.
#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include "deployment.hpp"
#include "pg_server.hpp"

using namespace cloudmeta::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr char kSecretKey[] = "fleet-sync-secret-key-0123456789abcdef0123456789";

using Series = std::map<std::string, double>;  // `name{labels}` -> value

// A second host on the same database: its own directory (and so its own snapshot cache file).
class OtherHost {
 public:
  explicit OtherHost(const Environment& env)
      : server_(cloudmeta_binary(), env, dir_.path(), dir_ / "server.log") {}
  ServerProcess& server() { return server_; }
  HttpResponse imds_get(const std::string& source, const std::string& target) {
    return http_call(server_.metadata_port(), {"GET", target, {{"Connection", "close"}}, {}},
                     source);
  }
  Series metrics(const std::string& token) {
    const HttpResponse r = http_call(
        server_.admin_port(),
        {"GET", "/metrics", {{"Authorization", "Bearer " + token}, {"Connection", "close"}}, {}});
    REQUIRE(r.status == 200);
    Series series;
    std::istringstream in(r.body);
    for (std::string line; std::getline(in, line);) {
      if (line.empty() || line[0] == '#') continue;
      const auto space = line.rfind(' ');
      series[line.substr(0, space)] = std::stod(line.substr(space + 1));
    }
    return series;
  }

 private:
  TempDir dir_;
  ServerProcess server_;
};

bool within(std::chrono::milliseconds limit, const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

std::string path_of(const std::string& id) { return "/api/v1/instances/" + id; }

// No periodic full reload and no cache-driven one during the test: every full reload B makes is
// one the change log could not spare it.
Environment settings(const std::string& database_url, const std::string& retention_s = "3600") {
  Environment env = {{"SECRET_KEY", kSecretKey},
                     {"REFRESH_INTERVAL_MS", "50"},
                     {"FULL_RESYNC_INTERVAL_S", "0"},
                     {"SNAPSHOT_CACHE_INTERVAL_S", "3600"},
                     {"CHANGE_LOG_RETENTION_S", retention_s}};
  if (!database_url.empty()) env["DATABASE_URL"] = database_url;
  return env;
}

void another_host_applies_writes(const std::string& database_url) {
  Deployment a(settings(database_url));
  a.start();
  for (int n = 0; n < 20; ++n) {
    char id[32];
    std::snprintf(id, sizeof id, "i-0f5c00000000000%02d", n);
    a.create_instance(instance_record(id, "127.0.1." + std::to_string(n + 1)));
  }
  OtherHost b(a.environment());
  const std::string vm = "127.0.0.81";
  const std::string id = "i-0f5c0000000000a81";
  const Series before = b.metrics(a.api_token());
  CHECK(before.at("cloudmeta_snapshot_instances") == 20);

  a.create_instance(instance_record(id, vm));
  CHECK(within(5s, [&] { return b.imds_get(vm, "/latest/meta-data/instance-id").body == id; }));

  REQUIRE(a.admin("PATCH", path_of(id), json{{"hostname", "renamed.sync.internal"}}.dump())
              .status == 200);
  CHECK(within(5s, [&] {
    return b.imds_get(vm, "/latest/meta-data/hostname").body == "renamed.sync.internal";
  }));

  REQUIRE(a.admin("PATCH", path_of(id), json{{"ip", "127.0.0.82"}}.dump()).status == 200);
  CHECK(within(5s, [&] {
    return b.imds_get("127.0.0.82", "/latest/meta-data/instance-id").body == id &&
           b.imds_get(vm, "/latest/meta-data/instance-id").status == 404;
  }));

  REQUIRE(a.admin("DELETE", path_of(id)).status == 204);
  CHECK(within(5s, [&] {
    return b.imds_get("127.0.0.82", "/latest/meta-data/instance-id").status == 404;
  }));

  const Series after = b.metrics(a.api_token());
  CHECK(after.at("cloudmeta_snapshot_full_reloads_total") ==
        before.at("cloudmeta_snapshot_full_reloads_total"));
  CHECK(after.at("cloudmeta_snapshot_incremental_applies_total") -
            before.at("cloudmeta_snapshot_incremental_applies_total") ==
        4);
  CHECK(after.at("cloudmeta_snapshot_changes_applied_total") -
            before.at("cloudmeta_snapshot_changes_applied_total") ==
        4);
  CHECK(after.at("cloudmeta_change_log_fallbacks_total{reason=\"gap\"}") == 0);
  CHECK(after.at("cloudmeta_snapshot_instances") == 20);
  CHECK(b.server().stop() == 0);
  CHECK(a.stop() == 0);
}

// B is stopped (SIGSTOP) while A writes and, with a one-second retention, prunes the log past
// what B had; woken, B finds the gap, reloads in full once, and serves A's writes.
void a_host_behind_the_log_reloads(const std::string& database_url) {
  Deployment a(settings(database_url, "1"));
  a.start();
  a.create_instance(instance_record("i-0f5c0000000000b01", "127.0.0.91"));
  OtherHost b(a.environment());
  REQUIRE(within(5s, [&] {
    return b.imds_get("127.0.0.91", "/latest/meta-data/instance-id").status == 200;
  }));
  const Series before = b.metrics(a.api_token());

  REQUIRE(::kill(b.server().pid(), SIGSTOP) == 0);
  a.create_instance(instance_record("i-0f5c0000000000b02", "127.0.0.92"));
  a.create_instance(instance_record("i-0f5c0000000000b03", "127.0.0.93"));
  REQUIRE(a.admin("DELETE", path_of("i-0f5c0000000000b01")).status == 204);
  // A prunes rows older than a second at most once a second: in 3 s they are gone.
  std::this_thread::sleep_for(3s);
  REQUIRE(::kill(b.server().pid(), SIGCONT) == 0);

  CHECK(within(5s, [&] {
    return b.imds_get("127.0.0.92", "/latest/meta-data/instance-id").status == 200 &&
           b.imds_get("127.0.0.93", "/latest/meta-data/instance-id").status == 200 &&
           b.imds_get("127.0.0.91", "/latest/meta-data/instance-id").status == 404;
  }));
  const Series after = b.metrics(a.api_token());
  CHECK(after.at("cloudmeta_change_log_fallbacks_total{reason=\"gap\"}") -
            before.at("cloudmeta_change_log_fallbacks_total{reason=\"gap\"}") ==
        1);
  CHECK(after.at("cloudmeta_snapshot_full_reloads_total") -
            before.at("cloudmeta_snapshot_full_reloads_total") ==
        1);

  // Caught up, B follows by the log again.
  a.create_instance(instance_record("i-0f5c0000000000b04", "127.0.0.94"));
  CHECK(within(5s, [&] {
    return b.imds_get("127.0.0.94", "/latest/meta-data/instance-id").status == 200;
  }));
  const Series later = b.metrics(a.api_token());
  CHECK(later.at("cloudmeta_snapshot_full_reloads_total") ==
        after.at("cloudmeta_snapshot_full_reloads_total"));
  CHECK(later.at("cloudmeta_snapshot_incremental_applies_total") >
        after.at("cloudmeta_snapshot_incremental_applies_total"));
  CHECK(b.server().stop() == 0);
  CHECK(a.stop() == 0);
}

}  // namespace

TEST_CASE("fleet sync wire: another server's writes are applied from the change log (sqlite)") {
  another_host_applies_writes("");
}

TEST_CASE("fleet sync wire: a server behind the pruned change log reloads once (sqlite)") {
  a_host_behind_the_log_reloads("");
}

TEST_CASE("fleet sync wire postgres: another host's writes are applied from the change log") {
  another_host_applies_writes(PgServer::shared().create_database());
}

TEST_CASE("fleet sync wire postgres: a host behind the pruned change log reloads once") {
  a_host_behind_the_log_reloads(PgServer::shared().create_database());
}
