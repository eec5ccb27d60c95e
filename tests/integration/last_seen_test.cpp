// "Last seen" on the admin API: when an instance last fetched metadata and over which connection.
// The metadata session notes it at most once per second per connection (imds_session.cpp), so
// these pin what that must still show: the first request, later seconds on one keep-alive
// connection, and only instances that matched.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>

#include "deployment.hpp"
#include "http_client.hpp"

using namespace cloudmeta::testing;
using nlohmann::json;

namespace {

constexpr char kVm[] = "127.0.0.61";
constexpr char kId[] = "i-0123456789abcdef6";

json last_seen(Deployment& d) {
  const HttpResponse r = d.admin("GET", std::string("/api/v1/instances/") + kId);
  REQUIRE(r.status == 200);
  const json body = json::parse(r.body);
  return body.contains("last_seen") ? body["last_seen"] : json();
}

}  // namespace

TEST_CASE("last seen: set by the first answered request, moved on by later seconds of one connection") {
  Deployment d;
  d.start();
  d.create_instance(instance_record(kId, kVm));
  CHECK(last_seen(d).is_null());

  // An unknown caller is not noted.
  CHECK(d.imds_get("127.0.0.62", "/latest/meta-data/instance-id").status == 404);
  CHECK(last_seen(d).is_null());

  HttpConnection keep_alive(d.server().metadata_port(), kVm);
  const HttpRequest get("GET", "/latest/meta-data/instance-id");
  REQUIRE(keep_alive.request(get).status == 200);
  const json first = last_seen(d);
  REQUIRE(first.is_object());
  CHECK(first["address"] == kVm);
  const std::string first_at = first["at"];

  // Same connection, many requests within a second, then again after the second turned: the
  // time moves on (the once-per-second note must not become once per connection).
  for (int i = 0; i < 50; ++i) REQUIRE(keep_alive.request(get).status == 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  REQUIRE(keep_alive.request(get).status == 200);
  const json later = last_seen(d);
  CHECK(later["address"] == kVm);
  CHECK(later["at"].get<std::string>() > first_at);  // ISO 8601 UTC strings sort by time
  CHECK(d.stop() == 0);
}
