// GET /metrics on the real binary: every counter moves by exactly what the requests made, the
// endpoint's auth (admin credentials, or none with METRICS_PUBLIC=true), and JSON access logs
// (LOG_FORMAT=json): one object per line, the request's fields, no secret anywhere.
#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "deployment.hpp"

using namespace cloudmeta::testing;
using nlohmann::json;

namespace {

constexpr char kVm[] = "127.0.0.41";
constexpr char kOtherVm[] = "127.0.0.42";
constexpr char kStranger[] = "127.0.0.43";
constexpr char kId[] = "i-0aaaaaaaaaaaaaaa1";
constexpr char kOtherId[] = "i-0aaaaaaaaaaaaaaa2";
constexpr char kTokenHeader[] = "X-aws-ec2-metadata-token";
constexpr char kSecretKey[] = "metrics-test-secret-key-0123456789abcdef";

using Series = std::map<std::string, double>;  // `name{labels}` -> value

Series parse_exposition(const std::string& text) {
  Series series;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    REQUIRE(space != std::string::npos);
    series[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return series;
}

Series scrape(Deployment& d) {
  const HttpResponse r = d.admin("GET", "/metrics");
  REQUIRE(r.status == 200);
  CHECK(r.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
  return parse_exposition(r.body);
}

double value(const Series& s, const std::string& key) {
  const auto it = s.find(key);
  REQUIRE_MESSAGE(it != s.end(), "no series ", key);
  return it->second;
}

// How much each series in `keys` moved between two scrapes.
void check_moved(const Series& before, const Series& after,
                 const std::map<std::string, double>& expected) {
  for (const auto& entry : expected) {
    const auto& [key, delta] = entry;
    CAPTURE(entry.first);  // doctest's CAPTURE is a lambda: clang 14 cannot capture a binding
    CHECK(value(after, key) - value(before, key) == delta);
  }
}

std::string requests(const std::string& route, int status) {
  return "cloudmeta_metadata_requests_total{route=\"" + route + "\",status=\"" +
         std::to_string(status) + "\"}";
}

// The metadata connection count settles once the server has seen the client's close.
double settled_open_connections(Deployment& d, double want) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  double open = -1;
  while (std::chrono::steady_clock::now() < deadline) {
    open = value(scrape(d), "cloudmeta_connections_open{surface=\"metadata\"}");
    if (open == want) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return open;
}

}  // namespace

TEST_CASE("metrics wire: each metadata request moves its counters by exactly one") {
  Deployment d;
  d.start();
  d.create_instance(instance_record(kId, kVm));
  d.create_instance(instance_record(kOtherId, kOtherVm));
  const std::string other_token = d.imds_token(kOtherVm);
  const Series before = scrape(d);

  CHECK(d.imds_get(kVm, "/latest/meta-data/instance-id").status == 200);
  CHECK(d.imds_get(kVm, "/latest/meta-data/no-such-key").status == 404);
  const std::string token = d.imds_token(kVm);
  CHECK(d.imds_get(kVm, "/latest/meta-data/instance-id", {{kTokenHeader, token}}).status == 200);
  CHECK(d.imds_get(kVm, "/latest/meta-data/instance-id", {{kTokenHeader, "bogus"}}).status ==
        401);
  // Another instance's token fails the HMAC: a bad signature.
  CHECK(d.imds_get(kVm, "/latest/user-data", {{kTokenHeader, other_token}}).status == 401);
  CHECK(d.imds_get(kStranger, "/latest/dynamic/instance-identity/document").status == 404);
  {
    HttpConnection c(d.server().metadata_port(), kVm);
    c.send("GET\r\n\r\n");
    CHECK(c.read_response().status == 400);
    CHECK(c.read_until_closed().has_value());
  }
  CHECK(settled_open_connections(d, 0) == 0);
  const Series after = scrape(d);

  check_moved(before, after,
              {{requests("meta-data", 200), 2},
               {requests("meta-data", 404), 1},
               {requests("meta-data", 401), 1},
               {requests("user-data", 401), 1},
               {requests("dynamic", 404), 1},
               {requests("token", 200), 1},
               {requests("root", 200), 0},
               {"cloudmeta_tokens_issued_total", 1},
               {"cloudmeta_tokens_rejected_total{reason=\"malformed\"}", 1},
               {"cloudmeta_tokens_rejected_total{reason=\"bad_signature\"}", 1},
               {"cloudmeta_tokens_rejected_total{reason=\"expired\"}", 0},
               {"cloudmeta_tokens_rejected_total{reason=\"missing\"}", 0},
               {"cloudmeta_unknown_callers_total", 1},
               {"cloudmeta_metadata_requests_refused_total{status=\"400\"}", 1},
               {"cloudmeta_metadata_requests_refused_total{status=\"431\"}", 0},
               {"cloudmeta_metadata_requests_throttled_total", 0},
               {"cloudmeta_metadata_request_duration_seconds_count", 7},
               {"cloudmeta_metadata_request_duration_seconds_bucket{le=\"+Inf\"}", 7},
               {"cloudmeta_connections_accepted_total{surface=\"metadata\"}", 8}});
  CHECK(value(after, "cloudmeta_metadata_request_duration_seconds_sum") >
        value(before, "cloudmeta_metadata_request_duration_seconds_sum"));
  CHECK(value(after, "cloudmeta_snapshot_instances") == 2);
  CHECK(value(after, "cloudmeta_snapshot_stale") == 0);
  CHECK(value(after, "cloudmeta_snapshot_age_seconds") < 60);
  CHECK(value(after, "cloudmeta_build_info{version=\"" CLOUDMETA_VERSION "\"}") == 1);
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  CHECK(value(after, "process_start_time_seconds") <= static_cast<double>(now + 1));
  CHECK(value(after, "process_start_time_seconds") > static_cast<double>(now - 600));
  // Admin connections count too: every scrape above was one.
  CHECK(value(after, "cloudmeta_connections_accepted_total{surface=\"admin\"}") >
        value(before, "cloudmeta_connections_accepted_total{surface=\"admin\"}"));

  // The admin API refuses conflicts itself, before the store could: no store error.
  CHECK(d.admin("POST", "/api/v1/instances", instance_record(kId, "127.0.0.44").dump()).status ==
        409);
  check_moved(after, scrape(d), {{"cloudmeta_store_errors_total{kind=\"conflict\"}", 0},
                                 {"cloudmeta_snapshot_refresh_failures_total", 0}});
  CHECK(d.stop() == 0);
}

TEST_CASE("metrics wire: open connections, and those the per-source cap refused") {
  Deployment d(Environment{{"IMDS_MAX_CONNECTIONS_PER_SOURCE", "2"}});
  d.start();
  d.create_instance(instance_record(kId, kVm));
  const Series before = scrape(d);
  CHECK(value(before, "cloudmeta_connections_open{surface=\"metadata\"}") == 0);

  // An answered request proves the server has admitted (and counted) the connection.
  const auto port = d.server().metadata_port();
  std::vector<HttpConnection> held;
  for (int i = 0; i < 2; ++i) {
    held.emplace_back(port, kVm);
    held.back().send("GET / HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n");
    REQUIRE(held.back().read_response().status == 200);
  }
  CHECK(value(scrape(d), "cloudmeta_connections_open{surface=\"metadata\"}") == 2);
  HttpConnection third(port, kVm);
  const auto refused = third.read_until_closed();
  REQUIRE(refused.has_value());
  CHECK(refused->empty());
  check_moved(before, scrape(d),
              {{requests("root", 200), 2},
               {"cloudmeta_connections_accepted_total{surface=\"metadata\"}", 2},
               {"cloudmeta_connections_refused_total{surface=\"metadata\",reason=\"max_"
                "connections_per_source\"}",
                1},
               {"cloudmeta_connections_refused_total{surface=\"metadata\",reason=\"max_"
                "connections\"}",
                0}});
  held.clear();
  CHECK(settled_open_connections(d, 0) == 0);
  CHECK(d.stop() == 0);
}

TEST_CASE("metrics wire: /metrics needs admin credentials unless METRICS_PUBLIC=true") {
  Deployment d;
  d.start();
  const auto port = d.server().admin_port();
  const HttpResponse anonymous = http_call(port, {"GET", "/metrics", {{"Connection", "close"}}});
  CHECK(anonymous.status == 401);
  CHECK(anonymous.header("WWW-Authenticate").has_value());
  CHECK(anonymous.body.find("cloudmeta_") == std::string::npos);
  CHECK(d.admin("GET", "/metrics", {}, {{"Authorization", "Bearer not-a-token"}}).status == 401);
  const HttpResponse ok = d.admin("GET", "/metrics");
  CHECK(ok.status == 200);
  CHECK(ok.body.find("# TYPE cloudmeta_metadata_requests_total counter") != std::string::npos);
  CHECK(d.admin("POST", "/metrics").status == 405);
  CHECK(d.stop() == 0);

  d.start({{"METRICS_PUBLIC", "true"}});
  const HttpResponse open =
      http_call(d.server().admin_port(), {"GET", "/metrics", {{"Connection", "close"}}});
  CHECK(open.status == 200);
  CHECK(open.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
  // Only /metrics is opened: the API still wants credentials.
  CHECK(http_call(d.server().admin_port(), {"GET", "/api/v1/instances", {{"Connection", "close"}}})
            .status == 401);
  CHECK(d.stop() == 0);
}

TEST_CASE("logs: LOG_FORMAT=json writes one JSON object per line and never a secret") {
  Deployment d(Environment{{"LOG_FORMAT", "json"}, {"SECRET_KEY", kSecretKey}});
  d.start();
  d.create_instance(instance_record(kId, kVm));
  const std::string token = d.imds_token(kVm);
  CHECK(d.imds_get(kVm, "/latest/meta-data/instance-id?x=1&y=%22", {{kTokenHeader, token}})
            .status == 200);
  CHECK(d.imds_get(kStranger, "/latest/meta-data/").status == 404);
  CHECK(d.admin("GET", "/metrics").status == 200);
  CHECK(d.stop() == 0);

  const std::string log = d.server().log();
  std::istringstream in(log);
  int lines = 0;
  std::vector<json> metadata_requests;
  for (std::string line; std::getline(in, line);) {
    CAPTURE(line);
    ++lines;
    const json object = json::parse(line, nullptr, false);
    REQUIRE_FALSE(object.is_discarded());
    REQUIRE(object.is_object());
    CHECK(object.contains("ts"));
    CHECK(object.contains("level"));
    CHECK(object.contains("event"));
    if (object["event"] == "request" && object.value("surface", "") == "metadata") {
      metadata_requests.push_back(object);
    }
  }
  CHECK(lines > 5);
  REQUIRE(metadata_requests.size() == 3);  // token PUT, GET, unknown caller
  // A line is written once its response is sent, so lines of requests on different connections
  // (here, possibly different threads) need not be in request order: find each by what it is.
  const auto find = [&](std::string_view method, std::string_view address) {
    for (const auto& object : metadata_requests) {
      if (object["method"] == method && object["address"] == address) return object;
    }
    FAIL("no ", method, " request from ", address, " in the log");
    return json();
  };
  const json get = find("GET", kVm);
  CHECK(get["address"] == kVm);
  CHECK(get["method"] == "GET");
  CHECK(get["path"] == "/latest/meta-data/instance-id?x=1&y=%22");
  CHECK(get["status"] == 200);
  CHECK(get["instance"] == kId);
  CHECK(get["us"].is_number_integer());
  CHECK(get["us"].get<std::int64_t>() >= 0);
  CHECK(find("PUT", kVm)["path"] == "/latest/api/token");
  const json stranger = find("GET", kStranger);
  CHECK(stranger["instance"] == "unknown");
  CHECK(stranger["status"] == 404);

  CHECK(log.find(token) == std::string::npos);
  CHECK(log.find(kSecretKey) == std::string::npos);
  CHECK(log.find(d.api_token()) == std::string::npos);
}
