// A write through the admin API is served on the very next metadata request: the server
// republishes its snapshot right after the commit (architecture §3.4), no refresh delay.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>

#include "deployment.hpp"

using namespace cloudmeta::testing;
using nlohmann::json;

namespace {

constexpr char kVm[] = "127.0.0.41";
constexpr char kId[] = "i-0123456789abcdef1";

}  // namespace

TEST_CASE("imds wire: admin writes are visible on the next metadata request") {
  // A long refresh interval: only the immediate republish can make the changes visible.
  Deployment d(Environment{{"REFRESH_INTERVAL_MS", "3600000"}});
  d.start();
  CHECK(d.imds_get(kVm, "/latest/meta-data/instance-id").status == 404);

  d.create_instance(instance_record(kId, kVm));
  CHECK(d.imds_get(kVm, "/latest/meta-data/instance-id").body == kId);

  const HttpResponse patched = d.admin("PATCH", std::string("/api/v1/instances/") + kId,
                                       json{{"hostname", "renamed.example.internal"}}.dump());
  CHECK(patched.status == 200);
  CHECK(d.imds_get(kVm, "/latest/meta-data/hostname").body == "renamed.example.internal");

  json replacement = instance_record(kId, kVm);
  replacement["hostname"] = "replaced.example.internal";
  const HttpResponse put =
      d.admin("PUT", std::string("/api/v1/instances/") + kId, replacement.dump());
  CHECK(put.status == 200);
  CHECK(d.imds_get(kVm, "/latest/meta-data/hostname").body == "replaced.example.internal");

  // Moving the record to another address moves the identity with it.
  const HttpResponse moved =
      d.admin("PATCH", std::string("/api/v1/instances/") + kId, json{{"ip", "127.0.0.42"}}.dump());
  CHECK(moved.status == 200);
  CHECK(d.imds_get(kVm, "/latest/meta-data/instance-id").status == 404);
  CHECK(d.imds_get("127.0.0.42", "/latest/meta-data/instance-id").body == kId);

  const HttpResponse deleted = d.admin("DELETE", std::string("/api/v1/instances/") + kId);
  CHECK(deleted.status == 204);
  CHECK(d.imds_get("127.0.0.42", "/latest/meta-data/instance-id").status == 404);
  CHECK(d.stop() == 0);
}

TEST_CASE("imds wire: a write through another server on the same database appears") {
  Deployment d(Environment{{"REFRESH_INTERVAL_MS", "50"}});
  d.start();
  CHECK(d.imds_get(kVm, "/latest/meta-data/instance-id").status == 404);

  // A second server on the same database stands in for another host sharing it.
  ServerProcess other(cloudmeta_binary(), d.environment(), d.dir(), d.dir() / "other.log");
  const HttpResponse created = http_call(
      other.admin_port(),
      {"POST",
       "/api/v1/instances",
       {{"Authorization", "Bearer " + d.api_token()}, {"Content-Type", "application/json"}},
       instance_record(kId, kVm).dump()});
  REQUIRE(created.status == 201);

  int status = 404;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (status != 200 && std::chrono::steady_clock::now() < deadline) {
    status = d.imds_get(kVm, "/latest/meta-data/instance-id").status;
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(status == 200);
  CHECK(other.stop() == 0);
  CHECK(d.stop() == 0);
}

// This host's writes patch the snapshot; the snapshot cache file is brought up to date by a full
// reload, which at a million instances costs seconds. SNAPSHOT_CACHE_INTERVAL_S spaces those
// reloads out: with a refresh every 50 ms, a write must not be followed by one within a second.
TEST_CASE("imds wire: own writes rewrite the snapshot cache no more often than its interval") {
  const auto full_reloads = [](const std::string& log) {
    std::size_t n = 0;
    for (auto at = log.find("event=snapshot_loaded"); at != std::string::npos;
         at = log.find("event=snapshot_loaded", at + 1)) {
      ++n;
    }
    return n;
  };
  for (const std::string interval : {"0", "3600"}) {
    CAPTURE(interval);
    Deployment d(Environment{{"REFRESH_INTERVAL_MS", "50"}, {"FULL_RESYNC_INTERVAL_S", "0"},
                             {"SNAPSHOT_CACHE_INTERVAL_S", interval}});
    d.start();
    const std::size_t at_start = full_reloads(d.server().log());
    d.create_instance(instance_record(kId, kVm));
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const std::size_t after = full_reloads(d.server().log());
    if (interval == "0") {
      CHECK(after > at_start);  // the cache follows the write at the next refresh
    } else {
      CHECK(after == at_start);
    }
  }
}
