// The admin JSON API over real sockets: authentication (Basic with a superuser made by the CLI,
// Bearer with a CLI token), every status the API answers, and that a refused write leaves the
// stored records as they were.
#include <doctest/doctest.h>

#include <string>

#include "basic_auth.hpp"
#include "deployment.hpp"

using namespace cloudmeta::testing;
using nlohmann::json;

namespace {

constexpr char kId[] = "i-0123456789abcdef4";
constexpr char kOtherId[] = "i-0123456789abcdef5";
constexpr char kIp[] = "127.0.0.61";
constexpr char kPassword[] = "correct horse battery staple";

json body_of(const HttpResponse& r) { return json::parse(r.body, nullptr, false); }

// The JSON error body every refusal carries.
void check_error_body(const HttpResponse& r) {
  CHECK(r.header("Content-Type") == "application/json");
  const json body = body_of(r);
  REQUIRE(body.is_object());
  CHECK(body.contains("error"));
  CHECK(body["error"].is_string());
}

json list_instances(Deployment& d) {
  const HttpResponse r = d.admin("GET", "/api/v1/instances");
  REQUIRE(r.status == 200);
  return body_of(r)["instances"];
}

}  // namespace

TEST_CASE("admin wire: GET /healthz answers 200 without credentials") {
  Deployment d;
  d.start();
  const HttpResponse r = http_call(d.server().admin_port(), {"GET", "/healthz", {}, {}});
  CHECK(r.status == 200);
  CHECK(body_of(r)["status"] == "ok");
  CHECK(d.stop() == 0);
}

TEST_CASE("admin wire: requests without valid credentials get 401 with WWW-Authenticate") {
  Deployment d;
  d.start();
  const auto port = d.server().admin_port();

  const HttpResponse anonymous = http_call(port, {"GET", "/api/v1/instances", {}, {}});
  CHECK(anonymous.status == 401);
  check_error_body(anonymous);
  const auto challenges = anonymous.all("WWW-Authenticate");
  REQUIRE_FALSE(challenges.empty());
  CHECK(challenges.front().find("realm=") != std::string::npos);

  CHECK(d.admin("GET", "/api/v1/instances", {}, {{"Authorization", "Bearer cm_not_a_token"}})
            .status == 401);
  CHECK(d.admin("GET", "/api/v1/instances", {}, {{"Authorization", basic("nobody", kPassword)}})
            .status == 401);
  CHECK(d.admin("GET", "/api/v1/instances", {}, {{"Authorization", "Digest abc"}}).status == 401);
  // An anonymous write changes nothing.
  const HttpResponse write = http_call(port, {"POST",
                                              "/api/v1/instances",
                                              {{"Content-Type", "application/json"}},
                                              instance_record(kId, kIp).dump()});
  CHECK(write.status == 401);
  CHECK(list_instances(d).empty());
  CHECK(d.stop() == 0);
}

TEST_CASE("admin wire: Basic with a superuser password and Bearer with a CLI token") {
  Deployment d;
  const CommandResult made = d.cli({"createsuperuser", "--username", "admin", "--noinput"},
                                   {{"CLOUDMETA_SUPERUSER_PASSWORD", kPassword}});
  REQUIRE_MESSAGE(made.exit_code == 0, made.err);
  d.start();

  const HttpResponse with_password =
      d.admin("GET", "/api/v1/instances", {}, {{"Authorization", basic("admin", kPassword)}});
  CHECK(with_password.status == 200);
  CHECK(body_of(with_password)["count"] == 0);
  CHECK(d.admin("GET", "/api/v1/instances", {},
                {{"Authorization", basic("admin", std::string(kPassword) + "!")}})
            .status == 401);

  const HttpResponse with_token = d.admin("GET", "/api/v1/instances");  // Bearer by default
  CHECK(with_token.status == 200);
  CHECK(d.stop() == 0);
}

TEST_CASE("admin wire: create, conflict, bad JSON, not found and delete statuses") {
  Deployment d;
  d.start();

  const HttpResponse created =
      d.admin("POST", "/api/v1/instances", instance_record(kId, kIp).dump());
  CHECK(created.status == 201);
  CHECK(created.header("Location") == std::string("/api/v1/instances/") + kId);
  CHECK(body_of(created)["instance_id"] == kId);

  // Another instance on a taken address.
  const HttpResponse taken =
      d.admin("POST", "/api/v1/instances", instance_record(kOtherId, kIp).dump());
  CHECK(taken.status == 409);
  check_error_body(taken);
  CHECK(body_of(taken)["field"] == "ip");
  CHECK(d.admin("POST", "/api/v1/instances", instance_record(kId, "127.0.0.62").dump()).status ==
        409);

  const HttpResponse bad_json = d.admin("POST", "/api/v1/instances", R"({"instance_id": )");
  CHECK(bad_json.status == 400);
  check_error_body(bad_json);
  const HttpResponse invalid = d.admin(
      "POST", "/api/v1/instances", json{{"instance_id", "not-an-id"}, {"ip", "127.0.0.63"}}.dump());
  CHECK(invalid.status == 400);
  CHECK(body_of(invalid)["field"] == "instance_id");
  // 16 KiB + 1 of user-data is over the AWS limit.
  json too_big = instance_record(kOtherId, "127.0.0.64");
  too_big["user_data"] = std::string(16385, 'u');
  CHECK(d.admin("POST", "/api/v1/instances", too_big.dump()).status == 400);
  const HttpResponse wrong_type = d.admin("POST", "/api/v1/instances", "instance_id=x",
                                          {{"Content-Type", "application/x-www-form-urlencoded"}});
  CHECK(wrong_type.status == 415);
  check_error_body(wrong_type);

  CHECK(d.admin("GET", std::string("/api/v1/instances/") + kId).status == 200);
  const HttpResponse missing = d.admin("GET", std::string("/api/v1/instances/") + kOtherId);
  CHECK(missing.status == 404);
  check_error_body(missing);
  const HttpResponse not_allowed = d.admin("DELETE", "/api/v1/instances");
  CHECK(not_allowed.status == 405);
  CHECK(not_allowed.header("Allow") == "GET, POST");

  // Only the first record was stored.
  const json stored = list_instances(d);
  REQUIRE(stored.size() == 1);
  CHECK(stored[0]["instance_id"] == kId);
  CHECK(stored[0]["ip"] == kIp);

  CHECK(d.admin("DELETE", std::string("/api/v1/instances/") + kId).status == 204);
  CHECK(d.admin("DELETE", std::string("/api/v1/instances/") + kId).status == 404);
  CHECK(list_instances(d).empty());
  CHECK(d.stop() == 0);
}

TEST_CASE("admin wire: a body over ADMIN_BODY_LIMIT gets 413 and stores nothing") {
  Deployment d(Environment{{"ADMIN_BODY_LIMIT", "1024"}});
  d.start();
  REQUIRE(d.admin("POST", "/api/v1/instances", instance_record(kId, kIp).dump()).status == 201);

  json big = instance_record(kOtherId, "127.0.0.65");
  big["user_data"] = std::string(2000, 'u');
  const HttpResponse refused = d.admin("POST", "/api/v1/instances", big.dump());
  CHECK(refused.status == 413);
  check_error_body(refused);

  json patch = {{"hostname", "changed.example.internal"}, {"user_data", std::string(2000, 'u')}};
  CHECK(d.admin("PATCH", std::string("/api/v1/instances/") + kId, patch.dump()).status == 413);

  const json stored = list_instances(d);
  REQUIRE(stored.size() == 1);
  CHECK(stored[0]["instance_id"] == kId);
  CHECK(stored[0]["hostname"] == "ip-10-0-0-1.ec2.internal");
  CHECK(d.imds_get(kIp, "/latest/meta-data/hostname").body == "ip-10-0-0-1.ec2.internal");
  CHECK(d.stop() == 0);
}

TEST_CASE("admin wire: oversized admin headers get 431") {
  Deployment d(Environment{{"ADMIN_HEADER_LIMIT", "1024"}});
  d.start();
  const HttpResponse r =
      d.admin("GET", "/api/v1/instances", {}, {{"X-Padding", std::string(2048, 'p')}});
  CHECK(r.status == 431);
  check_error_body(r);
  CHECK(d.admin("GET", "/healthz").status == 200);
  CHECK(d.stop() == 0);
}
