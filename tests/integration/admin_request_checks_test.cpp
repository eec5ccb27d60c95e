// What the admin surface checks on every request before it acts, over real sockets: the Host
// (DNS rebinding), the Content-Type of JSON bodies and the Origin of writes (cross-site requests,
// whatever authenticates them), and the size of login fields before they are kept or logged.
#include <doctest/doctest.h>

#include <string>

#include "deployment.hpp"

using namespace cloudmeta::testing;
using nlohmann::json;

namespace {

constexpr char kId[] = "i-0123456789abcde10";
constexpr char kIp[] = "127.0.0.70";
constexpr char kPassword[] = "correct horse battery staple";

void check_json_error(const HttpResponse& r, int status) {
  CHECK(r.status == status);
  CHECK(r.header("Content-Type") == "application/json");
  const json body = json::parse(r.body, nullptr, false);
  REQUIRE(body.is_object());
  CHECK(body["error"].is_string());
}

HttpResponse login(Deployment& d, const std::string& username, const std::string& password) {
  return http_call(d.server().admin_port(),
                   {"POST",
                    "/login",
                    {{"Content-Type", "application/json"}},
                    json{{"username", username}, {"password", password}}.dump()});
}

}  // namespace

TEST_CASE("admin checks: a Host that is not the admin surface's gets 421, on every path") {
  Deployment d;
  d.start();
  const auto port = std::to_string(d.server().admin_port());
  const std::string rebound = "attacker.example:" + port;
  check_json_error(d.admin("GET", "/api/v1/instances", {}, {{"Host", rebound}}), 421);
  check_json_error(d.admin("POST", "/api/v1/instances", instance_record(kId, kIp).dump(),
                           {{"Host", rebound}}),
                   421);
  check_json_error(d.admin("GET", "/login", {}, {{"Host", rebound}}), 421);
  check_json_error(d.admin("GET", "/healthz", {}, {{"Host", "localhost.attacker.example"}}), 421);
  CHECK(d.admin("GET", "/api/v1/instances").body.find(kId) == std::string::npos);

  // The surface's own names: addresses (any port: published container ports) and localhost.
  for (const std::string& host : {"127.0.0.1:" + port, "localhost:" + port, "[::1]:" + port,
                                 std::string("127.0.0.1:18001"), std::string("LocalHost")}) {
    CAPTURE(host);
    CHECK(d.admin("GET", "/api/v1/instances", {}, {{"Host", host}}).status == 200);
  }
  CHECK(d.stop() == 0);

  // ADMIN_ALLOWED_HOSTS names the surface's names; addresses still work.
  d.start({{"ADMIN_ALLOWED_HOSTS", "admin.example"}});
  CHECK(d.admin("GET", "/api/v1/instances", {}, {{"Host", "admin.example:443"}}).status == 200);
  CHECK(d.admin("GET", "/api/v1/instances", {}, {{"Host", "localhost:" + port}}).status == 421);
  CHECK(d.admin("GET", "/api/v1/instances", {}, {{"Host", "127.0.0.1"}}).status == 200);
  CHECK(d.stop() == 0);
}

TEST_CASE("admin checks: a JSON body needs Content-Type application/json, missing or not: 415") {
  Deployment d;
  d.start();
  d.create_instance(instance_record(kId, kIp));
  const auto port = d.server().admin_port();
  const std::string bearer = "Bearer " + d.api_token();
  const std::string record = instance_record("i-0123456789abcde11", "127.0.0.71").dump();

  check_json_error(http_call(port, {"POST", "/api/v1/instances", {{"Authorization", bearer}},
                                    record}),
                   415);
  check_json_error(
      http_call(port, {"PATCH", std::string("/api/v1/instances/") + kId,
                       {{"Authorization", bearer}}, R"({"hostname": "x.internal"})"}),
      415);
  check_json_error(http_call(port, {"POST", "/api/v1/tokens", {{"Authorization", bearer}},
                                    R"({"name": "t"})"}),
                   415);
  check_json_error(d.admin("POST", "/api/v1/instances", record, {{"Content-Type", "text/plain"}}),
                   415);
  check_json_error(http_call(port, {"POST", "/login", {}, R"({"username": "a", "password": "b"})"}),
                   415);
  CHECK(d.admin("GET", "/api/v1/instances").body.find("i-0123456789abcde11") ==
        std::string::npos);
  CHECK(d.admin("PATCH", std::string("/api/v1/instances/") + kId,
                R"({"hostname": "x.internal"})",
                {{"Content-Type", "application/merge-patch+json"}})
            .status == 200);
  CHECK(d.stop() == 0);
}

TEST_CASE("admin checks: a cross-origin write is refused even with Authorization") {
  Deployment d;
  d.start();
  const std::string host = "127.0.0.1:" + std::to_string(d.server().admin_port());
  const std::string record = instance_record(kId, kIp).dump();
  check_json_error(
      d.admin("POST", "/api/v1/instances", record, {{"Origin", "http://attacker.example"}}), 403);
  check_json_error(
      d.admin("POST", "/api/v1/instances", record, {{"Sec-Fetch-Site", "cross-site"}}), 403);
  CHECK(d.admin("GET", "/api/v1/instances").body.find(kId) == std::string::npos);
  // Same origin, or no browser at all (scripts send no Origin): allowed.
  CHECK(d.admin("POST", "/api/v1/instances", record,
                {{"Host", host}, {"Origin", "http://" + host}})
            .status == 201);
  CHECK(d.admin("DELETE", std::string("/api/v1/instances/") + kId).status == 204);
  CHECK(d.stop() == 0);
}

TEST_CASE("admin checks: an oversized login field gets 400 and is neither logged nor counted") {
  Deployment d;
  const CommandResult made = d.cli({"createsuperuser", "--username", "admin", "--noinput"},
                                   {{"CLOUDMETA_SUPERUSER_PASSWORD", kPassword}});
  REQUIRE_MESSAGE(made.exit_code == 0, made.err);
  d.start();
  const std::string huge_name(1024 * 1000, 'u');
  // More attempts than the limiter allows failures from one address: none of them may count.
  for (int i = 0; i < 12; ++i) check_json_error(login(d, huge_name, "wrong"), 400);
  check_json_error(login(d, "admin", std::string(5000, 'p')), 400);
  CHECK(d.server().log().find(std::string(200, 'u')) == std::string::npos);
  CHECK(d.server().log().find("event=admin_login_refused") != std::string::npos);

  const HttpResponse ok = login(d, "admin", kPassword);
  CHECK(ok.status == 200);
  CHECK(json::parse(ok.body)["username"] == "admin");
  CHECK(d.stop() == 0);
}
