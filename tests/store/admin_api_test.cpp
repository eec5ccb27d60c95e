// The admin JSON API end to end below the socket: real Beast requests through AdminApi::handle,
// a real SqliteStore in a temporary directory, the real Fleet and snapshot.
#include "cloudmeta/admin_api.hpp"

#include <doctest/doctest.h>
#include <sodium.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <nlohmann/json.hpp>

#include "cloudmeta/api_tokens.hpp"
#include "cloudmeta/fleet.hpp"
#include "cloudmeta/passwords.hpp"
#include "cloudmeta/record_json.hpp"
#include "cloudmeta/snapshot.hpp"
#include "cloudmeta/store.hpp"
#include "small_filesystem.hpp"

namespace cm = cloudmeta;
using cm::http::status;
using cm::http::verb;
using cm::admin::Request;
using cm::admin::Response;
using nlohmann::json;
using cloudmeta::testing::SmallFilesystem;

namespace {

constexpr const char* kPassword = "correct horse battery";
constexpr const char* kId = "i-0123456789abcdef0";
constexpr const char* kOtherId = "i-0fedcba9876543210";

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "cloudmeta-admin-XXXXXX");
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

std::string base64(const std::string& text) {
  std::string out(sodium_base64_ENCODED_LEN(text.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(text.data()),
                    text.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

std::string basic(const std::string& user, const std::string& password) {
  return "Basic " + base64(user + ":" + password);
}

json sample(const std::string& id = kId, const std::string& ip = "10.0.0.5") {
  return {{"instance_id", id},
          {"ip", ip},
          {"hostname", "web-1"},
          {"region", "us-east-1"},
          {"availability_zone", "us-east-1a"},
          {"tags", {{"Name", "web one"}, {"env", "prod"}}},
          {"user_data", "#!/bin/sh\necho hi\n"}};
}

class Harness {
 public:
  // db_dir: where the SQLite file goes (a temporary directory by default).
  explicit Harness(std::filesystem::path db_dir = {}) : db_dir_(std::move(db_dir)) {
    if (db_dir_.empty()) db_dir_ = dir_.path();
    store_ = cm::open_store("sqlite://" + db_path());
    store_->migrate();
    fleet_ = std::make_unique<cm::Fleet>(*store_, snapshots_);
    fleet_->load_all();
    api_ = std::make_unique<cm::admin::AdminApi>(*fleet_, config_);

    cm::User user;
    user.username = "admin";
    user.password_hash = cm::hash_password(kPassword);
    store_->create_user(user);
    token_ = add_token("ci");
  }

  std::string add_token(const std::string& name) {
    const auto created = cm::generate_api_token();
    cm::ApiToken row;
    row.name = name;
    row.token_hash = created.hash;
    row.prefix = created.prefix;
    store_->create_api_token(row);
    return created.token;
  }

  Request request(verb method, const std::string& target, const std::string& body = {}) const {
    Request req{method, target, 11};
    req.set(cm::http::field::host, "127.0.0.1:8001");
    req.set(cm::http::field::authorization, "Bearer " + token_);
    if (!body.empty()) req.set(cm::http::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
    return req;
  }

  // Runs the handler's coroutine to completion, as the admin thread's io_context would.
  Response send(const Request& req) { return send_from(req, peer_); }
  Response send_from(const Request& req, const cm::IpKey& peer) {
    cm::net::io_context io;
    std::optional<Response> out;
    cm::net::co_spawn(io, api_->handle(req, peer),
                      [&out](std::exception_ptr, Response res) { out = std::move(res); });
    io.run();
    REQUIRE(out.has_value());
    return std::move(*out);
  }
  cm::admin::AdminApi& api() { return *api_; }
  Response send(verb method, const std::string& target, const std::string& body = {}) {
    return send(request(method, target, body));
  }
  Response send(verb method, const std::string& target, const json& body) {
    return send(method, target, body.dump());
  }

  json list(const std::string& query = {}) {
    const Response res = send(verb::get, "/api/v1/instances" + query);
    REQUIRE(res.result() == status::ok);
    return json::parse(res.body());
  }

  bool served(const std::string& ip) const {
    return snapshots_.load()->find(*cm::IpKey::parse(ip)) != nullptr;
  }

  cm::Store& store() { return *store_; }
  cm::Fleet& fleet() { return *fleet_; }
  std::string db_path() const { return (db_dir_ / "admin.db").string(); }
  const std::string& token() const { return token_; }

 private:
  TempDir dir_;
  std::filesystem::path db_dir_;
  std::unique_ptr<cm::Store> store_;
  cm::SnapshotHolder snapshots_;
  std::unique_ptr<cm::Fleet> fleet_;
  cm::Config config_;
  std::unique_ptr<cm::admin::AdminApi> api_;
  std::string token_;
  cm::IpKey peer_ = *cm::IpKey::parse("127.0.0.1");
};

// Runs `fn` with stderr (where log lines go) sent to a file, and returns what was logged.
std::string captured_log(const std::filesystem::path& file, const std::function<void()>& fn) {
  const int saved = dup(STDERR_FILENO);
  const int fd = open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  REQUIRE(saved >= 0);
  REQUIRE(fd >= 0);
  dup2(fd, STDERR_FILENO);
  close(fd);
  fn();
  dup2(saved, STDERR_FILENO);
  close(saved);
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

json body_of(const Response& res) { return json::parse(res.body()); }

std::size_t header_count(const Response& res, cm::http::field name) {
  const auto range = res.equal_range(name);
  return static_cast<std::size_t>(std::distance(range.first, range.second));
}

void check_error(const Response& res, status expected, const std::string& field = {}) {
  CHECK(res.result() == expected);
  CHECK(res[cm::http::field::content_type] == "application/json");
  const json body = body_of(res);
  CHECK(body["error"].is_string());
  CHECK_FALSE(body["error"].get<std::string>().empty());
  if (field.empty()) {
    CHECK_FALSE(body.contains("field"));
  } else {
    CHECK(body.value("field", "") == field);
  }
}

// Drops what legitimately changes on every write.
json without_times(json record) {
  record.erase("created_at");
  record.erase("updated_at");
  return record;
}

}  // namespace

TEST_CASE("healthz answers without credentials, other methods get 405") {
  Harness h;
  Request req{verb::get, "/healthz", 11};
  Response res = h.send(req);
  CHECK(res.result() == status::ok);
  CHECK(body_of(res) == json{{"status", "ok"}});

  req.method(verb::post);
  res = h.send(req);
  check_error(res, status::method_not_allowed);
  CHECK(res[cm::http::field::allow] == "GET");
}

TEST_CASE("healthz is 503 while the database does not answer") {
  Harness h;
  // Another process damages the schema (as a bad manual edit would); the Store's next query
  // re-reads the schema and fails.
  SQLite::Database other(h.db_path(), SQLite::OPEN_READWRITE);
  const int cookie = other.execAndGet("PRAGMA schema_version").getInt();
  const std::string good_sql =
      other.execAndGet("SELECT sql FROM sqlite_master WHERE name = 'schema_migrations'");
  auto set_schema = [&](const std::string& sql, int next_cookie) {
    other.exec("PRAGMA writable_schema = ON");
    SQLite::Statement update(other, "UPDATE sqlite_master SET sql = ? WHERE name = ?");
    update.bind(1, sql);
    update.bind(2, "schema_migrations");
    update.exec();
    other.exec("PRAGMA writable_schema = OFF");
    other.exec("PRAGMA schema_version = " + std::to_string(next_cookie));
  };

  set_schema("CREATE TABLE schema_migrations (", cookie + 1);
  Response res = h.send(Request{verb::get, "/healthz", 11});
  CHECK(res.result() == status::service_unavailable);
  CHECK(body_of(res) == json{{"status", "unavailable"}});
  CHECK(res[cm::http::field::cache_control] == "no-store");

  set_schema(good_sql, cookie + 2);
  CHECK(h.send(Request{verb::get, "/healthz", 11}).result() == status::ok);
}

TEST_CASE("a damaged database is a 500 with a generic message and a logged request id") {
  Harness h;
  REQUIRE(h.send(verb::post, "/api/v1/instances", sample()).result() == status::created);
  SQLite::Database other(h.db_path(), SQLite::OPEN_READWRITE);
  other.exec("ALTER TABLE instances RENAME TO instances_elsewhere");

  TempDir dir;
  Response res;
  const std::string log =
      captured_log(dir.path() / "log", [&] { res = h.send(verb::get, "/api/v1/instances"); });
  CHECK(res.result() == status::internal_server_error);
  CHECK(body_of(res) == json{{"error", "internal error"}});
  CHECK(log.find("admin_internal_error") != std::string::npos);
  CHECK(log.find("request_id=") != std::string::npos);
}

TEST_CASE("every response carries no-store and nosniff") {
  Harness h;
  const std::vector<Response> responses = {
      h.send(verb::get, "/healthz"),
      h.send(verb::get, "/api/v1/instances"),
      h.send(verb::post, "/api/v1/instances", sample()),
      h.send(verb::delete_, std::string("/api/v1/instances/") + kId),
      h.send(verb::get, "/nowhere"),
      h.send(Request{verb::get, "/api/v1/instances", 11}),
  };
  for (const auto& res : responses) {
    CAPTURE(res.result_int());
    CHECK(res[cm::http::field::cache_control] == "no-store");
    CHECK(res["X-Content-Type-Options"] == "nosniff");
  }
}

TEST_CASE("auth: missing credentials get 401 with Basic and Bearer challenges") {
  Harness h;
  Request req{verb::get, "/api/v1/instances", 11};
  const Response res = h.send(req);
  check_error(res, status::unauthorized);
  REQUIRE(header_count(res, cm::http::field::www_authenticate) == 2);
  std::string challenges;
  const auto [first, last] = res.equal_range(cm::http::field::www_authenticate);
  for (auto it = first; it != last; ++it) challenges += std::string(it->value()) + ";";
  CHECK(challenges.find("Basic realm=\"cloudmeta\"") != std::string::npos);
  CHECK(challenges.find("Bearer") != std::string::npos);
}

TEST_CASE("auth matrix") {
  Harness h;
  struct Case {
    const char* name;
    std::string authorization;
    status expected;
  };
  const std::vector<Case> cases = {
      {"bearer token", "Bearer " + h.token(), status::ok},
      {"bearer scheme is case-insensitive", "bearer " + h.token(), status::ok},
      {"bearer unknown token", "Bearer cm_" + std::string(43, 'A'), status::unauthorized},
      {"bearer token with a character changed", "Bearer " + h.token() + "x", status::unauthorized},
      {"bearer without token", "Bearer", status::unauthorized},
      {"basic superuser password", basic("admin", kPassword), status::ok},
      {"basic wrong password", basic("admin", "wrong password"), status::unauthorized},
      {"basic unknown user", basic("nobody", kPassword), status::unauthorized},
      {"basic empty password", basic("admin", ""), status::unauthorized},
      {"basic token as password, any username", basic("whoever", h.token()), status::ok},
      {"basic token as password, no username", basic("", h.token()), status::ok},
      {"basic bad token as password", basic("admin", "cm_nope"), status::unauthorized},
      {"basic not base64", "Basic %%%%", status::unauthorized},
      {"basic without colon", "Basic " + base64("admin"), status::unauthorized},
      {"unsupported scheme", "Digest username=\"admin\"", status::unauthorized},
      {"token without scheme", h.token(), status::unauthorized},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    Request req = h.request(verb::get, "/api/v1/instances");
    req.set(cm::http::field::authorization, c.authorization);
    const Response res = h.send(req);
    CHECK(res.result() == c.expected);
    if (c.expected == status::unauthorized) {
      CHECK(header_count(res, cm::http::field::www_authenticate) == 2);
    }
  }
}

TEST_CASE("auth: a token's use is noted in memory, written coalesced, a revoked one is refused") {
  Harness h;
  const std::string other = h.add_token("deploy");
  Request req = h.request(verb::get, "/api/v1/instances");
  req.set(cm::http::field::authorization, "Bearer " + other);
  REQUIRE(h.send(req).result() == status::ok);
  REQUIRE(h.send(req).result() == status::ok);
  // A read is not a write: nothing stored yet, but the listing already shows the use.
  for (const auto& token : h.store().list_api_tokens()) CHECK(token.last_used_at.empty());
  const json listed = body_of(h.send(verb::get, "/api/v1/tokens"));
  for (const auto& token : listed["tokens"]) {
    CAPTURE(token.dump());
    CHECK_FALSE(token["last_used_at"].get<std::string>().empty());  // "ci" made this listing
  }
  h.api().flush_token_use();
  for (const auto& token : h.store().list_api_tokens()) {
    CAPTURE(token.name);
    CHECK_FALSE(token.last_used_at.empty());
  }

  REQUIRE(h.store().revoke_api_token("deploy"));
  CHECK(h.send(req).result() == status::unauthorized);
  req.set(cm::http::field::authorization, basic("admin", other));
  CHECK(h.send(req).result() == status::unauthorized);
  CHECK(h.send(verb::get, "/api/v1/instances").result() == status::ok);  // "ci" still works
}

TEST_CASE("auth: failures are logged with peer and username, never with a secret") {
  Harness h;
  TempDir dir;
  const std::string guessed_token = "cm_" + std::string(43, 'Q');
  const std::string log = captured_log(dir.path() / "log", [&] {
    Request req = h.request(verb::get, "/api/v1/instances");
    req.set(cm::http::field::authorization, basic("admin", "s3cret-guess"));
    CHECK(h.send(req).result() == status::unauthorized);
    req.set(cm::http::field::authorization, "Bearer " + guessed_token);
    CHECK(h.send(req).result() == status::unauthorized);
    req.set(cm::http::field::authorization, basic("admin", kPassword));
    CHECK(h.send(req).result() == status::ok);
    CHECK(h.send(verb::post, "/api/v1/instances", sample()).result() == status::created);
  });
  CHECK(log.find("admin_auth_failed") != std::string::npos);
  CHECK(log.find("peer=127.0.0.1") != std::string::npos);
  CHECK(log.find("username=admin") != std::string::npos);
  CHECK(log.find("instance_created") != std::string::npos);
  CHECK(log.find("principal=token:ci") != std::string::npos);
  for (const std::string& secret : {std::string("s3cret-guess"), guessed_token,
                                    std::string(kPassword), h.token(), std::string("echo hi")}) {
    CAPTURE(secret);
    CHECK(log.find(secret) == std::string::npos);
  }
}

TEST_CASE("routing: unknown paths are 404 JSON, the API hides its routes from strangers") {
  Harness h;
  check_error(h.send(verb::get, "/index.html"), status::not_found);  // "/" is the admin page
  check_error(h.send(verb::get, "/latest/meta-data/"), status::not_found);
  check_error(h.send(verb::get, "/api/v1/nothing"), status::not_found);
  check_error(h.send(verb::get, std::string("/api/v1/instances/") + kId + "/tags"),
              status::not_found);
  check_error(h.send(Request{verb::get, "/api/v1/nothing", 11}), status::unauthorized);
  check_error(h.send(verb::get, "/api/v1/instances/%zz"), status::bad_request);
}

TEST_CASE("routing: known paths with the wrong method are 405 with Allow") {
  Harness h;
  Response res = h.send(verb::delete_, "/api/v1/instances");
  check_error(res, status::method_not_allowed);
  CHECK(res[cm::http::field::allow] == "GET, POST");
  res = h.send(verb::post, std::string("/api/v1/instances/") + kId, sample());
  check_error(res, status::method_not_allowed);
  CHECK(res[cm::http::field::allow] == "GET, PUT, PATCH, DELETE");
  CHECK(h.list()["count"] == 0);
}

TEST_CASE("POST creates: 201, Location, the stored record, visible to the metadata surface") {
  Harness h;
  CHECK_FALSE(h.served("10.0.0.5"));
  const Response res = h.send(verb::post, "/api/v1/instances", sample());
  REQUIRE(res.result() == status::created);
  CHECK(res[cm::http::field::location] == std::string("/api/v1/instances/") + kId);
  CHECK(res[cm::http::field::content_type] == "application/json");
  const json created = body_of(res);
  CHECK(created["instance_id"] == kId);
  CHECK(created["ip"] == "10.0.0.5");
  CHECK(created["tags"]["Name"] == "web one");
  CHECK(created["user_data"] == "#!/bin/sh\necho hi\n");
  CHECK_FALSE(created["created_at"].get<std::string>().empty());
  CHECK(h.served("10.0.0.5"));

  const Response got = h.send(verb::get, std::string("/api/v1/instances/") + kId);
  REQUIRE(got.result() == status::ok);
  CHECK(body_of(got) == created);
}

TEST_CASE("POST accepts JSON and +json types, refuses others and a missing one with 415") {
  Harness h;
  Request req = h.request(verb::post, "/api/v1/instances", sample().dump());
  req.erase(cm::http::field::content_type);
  check_error(h.send(req), status::unsupported_media_type);
  req.set(cm::http::field::content_type, "application/merge-patch+json");
  CHECK(h.send(req).result() == status::created);

  req = h.request(verb::post, "/api/v1/instances", sample(kOtherId, "10.0.0.6").dump());
  req.set(cm::http::field::content_type, "text/plain");
  check_error(h.send(req), status::unsupported_media_type);
  req.set(cm::http::field::content_type, "Application/JSON; charset=utf-8");
  CHECK(h.send(req).result() == status::created);
  CHECK(h.list()["count"] == 2);
}

TEST_CASE("refused writes leave the stored records unchanged") {
  Harness h;
  REQUIRE(h.send(verb::post, "/api/v1/instances", sample()).result() == status::created);
  const json before = h.list();
  REQUIRE(before["count"] == 1);

  SUBCASE("bad JSON") {
    const Response res = h.send(verb::post, "/api/v1/instances", std::string("{\"ip\": "));
    check_error(res, status::bad_request);
    CHECK(body_of(res)["error"].get<std::string>().rfind("invalid JSON: ", 0) == 0);
  }
  SUBCASE("a number beyond a double's range (found by tests/fuzz/record_json)") {
    const Response res = h.send(verb::post, "/api/v1/instances",
                                std::string(R"({"instance_id": "i-0abc", "extra": {"n": 1e999}})"));
    check_error(res, status::bad_request);
    CHECK(body_of(res)["error"].get<std::string>().rfind("invalid JSON: ", 0) == 0);
  }
  SUBCASE("not an object") {
    check_error(h.send(verb::post, "/api/v1/instances", std::string("[1, 2]")),
                status::bad_request);
    check_error(h.send(verb::post, "/api/v1/instances", std::string("\"text\"")),
                status::bad_request);
  }
  SUBCASE("empty body") {
    Request req = h.request(verb::post, "/api/v1/instances");
    req.set(cm::http::field::content_type, "application/json");  // typed, so the JSON is judged
    check_error(h.send(req), status::bad_request);
  }
  SUBCASE("wrong type names the field") {
    json body = sample(kOtherId, "10.0.0.6");
    body["ip"] = 5;
    check_error(h.send(verb::post, "/api/v1/instances", body), status::bad_request, "ip");
    body = sample(kOtherId, "10.0.0.6");
    body["tags"] = json::array({"a"});
    check_error(h.send(verb::post, "/api/v1/instances", body), status::bad_request, "tags");
  }
  SUBCASE("invalid value and unknown field name the field") {
    json body = sample(kOtherId, "10.0.0.6");
    body["ip"] = "10.0.0.300";
    check_error(h.send(verb::post, "/api/v1/instances", body), status::bad_request, "ip");
    body = sample(kOtherId, "10.0.0.6");
    body["user_dat"] = "x";
    check_error(h.send(verb::post, "/api/v1/instances", body), status::bad_request, "user_dat");
    body = sample("i-123", "10.0.0.6");
    check_error(h.send(verb::post, "/api/v1/instances", body), status::bad_request, "instance_id");
  }
  SUBCASE("duplicate instance_id is 409 naming instance_id") {
    check_error(h.send(verb::post, "/api/v1/instances", sample(kId, "10.0.0.6")),
                status::conflict, "instance_id");
  }
  SUBCASE("duplicate ip is 409 naming ip, also in another spelling") {
    check_error(h.send(verb::post, "/api/v1/instances", sample(kOtherId, "10.0.0.5")),
                status::conflict, "ip");
    check_error(h.send(verb::post, "/api/v1/instances", sample(kOtherId, "::ffff:10.0.0.5")),
                status::conflict, "ip");
    CHECK_FALSE(h.store().find_instance(kOtherId));
  }
  SUBCASE("PUT taking another instance's ip") {
    check_error(h.send(verb::put, std::string("/api/v1/instances/") + kOtherId,
                       sample(kOtherId, "10.0.0.5")),
                status::conflict, "ip");
  }
  SUBCASE("PATCH with a bad value") {
    check_error(h.send(verb::patch, std::string("/api/v1/instances/") + kId,
                       json{{"region", "Nowhere"}}),
                status::bad_request, "region");
  }
  CHECK(h.list() == before);
}

TEST_CASE("a DHCP guest (a mac, no ip) is created, a second record with its MAC is 409 on mac") {
  Harness h;
  json guest = {{"instance_id", kId}, {"mac", "0e:00:5e:00:00:21"}, {"interface", "vnet3"}};
  const Response created = h.send(verb::post, "/api/v1/instances", guest);
  REQUIRE(created.result() == status::created);
  CHECK(body_of(created)["ip"] == "");
  CHECK(body_of(created)["ip_learned"] == false);

  json twin = {{"instance_id", kOtherId}, {"mac", "0E:00:5E:00:00:21"}};  // another spelling
  check_error(h.send(verb::post, "/api/v1/instances", twin), status::conflict, "mac");
  CHECK(body_of(h.send(verb::post, "/api/v1/instances", twin))["error"] ==
        std::string("mac 0e:00:5e:00:00:21 is already used by ") + kId);
  check_error(h.send(verb::put, std::string("/api/v1/instances/") + kOtherId, twin),
              status::conflict, "mac");
  REQUIRE(h.send(verb::post, "/api/v1/instances", sample(kOtherId)).result() == status::created);
  check_error(h.send(verb::patch, std::string("/api/v1/instances/") + kOtherId,
                     json{{"mac", "0e:00:5e:00:00:21"}}),
              status::conflict, "mac");
  CHECK(h.store().find_instance(kOtherId)->mac.empty());
  // Its own MAC again is no conflict; neither ip nor mac is a 400 naming ip.
  guest["hostname"] = "dhcp-1";
  CHECK(h.send(verb::put, std::string("/api/v1/instances/") + kId, guest).result() == status::ok);
  check_error(h.send(verb::post, "/api/v1/instances", json{{"instance_id", "i-0aaaaaaaaaaaaaaaa"}}),
              status::bad_request, "ip");
  // A learned address (as Fleet::learn leaves it) patched to another one is the operator's.
  h.fleet().learn(kId, "0e:00:5e:00:00:21", "198.18.0.21");
  CHECK(body_of(h.send(verb::get, std::string("/api/v1/instances/") + kId))["ip_learned"] == true);
  const json patched = body_of(h.send(verb::patch, std::string("/api/v1/instances/") + kId,
                                      json{{"ip", "198.18.0.22"}}));
  CHECK(patched["ip"] == "198.18.0.22");
  CHECK(patched["ip_learned"] == false);
}

TEST_CASE("GET of an unknown instance is 404") {
  Harness h;
  check_error(h.send(verb::get, std::string("/api/v1/instances/") + kId), status::not_found);
  check_error(h.send(verb::get, "/api/v1/instances/not-an-id"), status::not_found);
}

TEST_CASE("PUT creates (201) then replaces (200), and is idempotent") {
  Harness h;
  const std::string path = std::string("/api/v1/instances/") + kId;
  json body = sample();
  body.erase("instance_id");  // the path names it

  const Response first = h.send(verb::put, path, body);
  REQUIRE(first.result() == status::created);
  CHECK(first[cm::http::field::location] == path);
  const Response second = h.send(verb::put, path, body);
  REQUIRE(second.result() == status::ok);
  CHECK(without_times(body_of(second)) == without_times(body_of(first)));
  CHECK(body_of(second)["created_at"] == body_of(first)["created_at"]);
  CHECK(h.list()["count"] == 1);

  // PUT replaces the whole record: what the body leaves out is gone.
  body.erase("tags");
  body["ip"] = "10.0.0.9";
  const Response third = h.send(verb::put, path, body);
  REQUIRE(third.result() == status::ok);
  CHECK(body_of(third)["tags"] == json::object());
  CHECK(h.served("10.0.0.9"));
  CHECK_FALSE(h.served("10.0.0.5"));

  // A GET body can be PUT back unchanged.
  const json got = body_of(h.send(verb::get, path));
  const Response round_trip = h.send(verb::put, path, got);
  REQUIRE(round_trip.result() == status::ok);
  CHECK(without_times(body_of(round_trip)) == without_times(got));
}

TEST_CASE("PUT refuses a body whose instance_id differs from the path") {
  Harness h;
  const std::string path = std::string("/api/v1/instances/") + kId;
  check_error(h.send(verb::put, path, sample(kOtherId)), status::bad_request, "instance_id");
  json body = sample();
  body["instance_id"] = nullptr;
  check_error(h.send(verb::put, path, body), status::bad_request, "instance_id");
  check_error(h.send(verb::put, "/api/v1/instances/i-bad", json{{"ip", "10.0.0.7"}}),
              status::bad_request, "instance_id");
  CHECK(h.list()["count"] == 0);
}

TEST_CASE("PATCH merges (RFC 7386): members replace, objects merge, null removes") {
  Harness h;
  const std::string path = std::string("/api/v1/instances/") + kId;
  REQUIRE(h.send(verb::post, "/api/v1/instances", sample()).result() == status::created);

  Request req = h.request(verb::patch, path,
                          json{{"hostname", "web-2"},
                               {"tags", {{"env", nullptr}, {"team", "infra"}}},
                               {"metadata_options", {{"http_tokens", "required"}}}}
                              .dump());
  req.set(cm::http::field::content_type, "application/merge-patch+json");
  Response res = h.send(req);
  REQUIRE(res.result() == status::ok);
  json record = body_of(res);
  CHECK(record["hostname"] == "web-2");
  CHECK(record["tags"] == json{{"Name", "web one"}, {"team", "infra"}});
  CHECK(record["metadata_options"]["http_tokens"] == "required");
  CHECK(record["metadata_options"]["http_endpoint"] == "enabled");
  CHECK(record["ip"] == "10.0.0.5");
  CHECK(record["user_data"] == "#!/bin/sh\necho hi\n");
  CHECK(body_of(h.send(verb::get, path)) == record);

  // New user-data in one representation replaces both.
  res = h.send(verb::patch, path, json{{"user_data", "#cloud-config\n"}});
  REQUIRE(res.result() == status::ok);
  CHECK(body_of(res)["user_data"] == "#cloud-config\n");
  CHECK(body_of(res)["user_data_base64"] == "I2Nsb3VkLWNvbmZpZwo=");

  res = h.send(verb::patch, path, json{{"user_data", nullptr}, {"hostname", nullptr}});
  REQUIRE(res.result() == status::ok);
  record = body_of(res);
  CHECK(record["user_data"].is_null());
  CHECK(record["user_data_base64"].is_null());
  CHECK(record["hostname"] == "");
  CHECK_FALSE(h.store().find_instance(kId)->user_data.has_value());

  // An empty patch changes nothing but is still a valid write.
  res = h.send(verb::patch, path, json::object());
  REQUIRE(res.result() == status::ok);
  CHECK(without_times(body_of(res)) == without_times(record));
}

TEST_CASE("PATCH may not change instance_id, unknown instances are 404") {
  Harness h;
  const std::string path = std::string("/api/v1/instances/") + kId;
  check_error(h.send(verb::patch, path, json{{"hostname", "x"}}), status::not_found);
  REQUIRE(h.send(verb::post, "/api/v1/instances", sample()).result() == status::created);
  const json before = h.list();

  check_error(h.send(verb::patch, path, json{{"instance_id", kOtherId}}), status::bad_request,
              "instance_id");
  check_error(h.send(verb::patch, path, json{{"instance_id", nullptr}}), status::bad_request,
              "instance_id");
  check_error(h.send(verb::patch, path, std::string("[]")), status::bad_request);
  CHECK(h.send(verb::patch, path, json{{"instance_id", kId}}).result() == status::ok);
  CHECK(without_times(h.list()["instances"][0]) == without_times(before["instances"][0]));
}

TEST_CASE("DELETE: 204 then 404, and the metadata surface forgets the instance") {
  Harness h;
  const std::string path = std::string("/api/v1/instances/") + kId;
  REQUIRE(h.send(verb::post, "/api/v1/instances", sample()).result() == status::created);
  REQUIRE(h.served("10.0.0.5"));

  const Response res = h.send(verb::delete_, path);
  CHECK(res.result() == status::no_content);
  CHECK(res.body().empty());
  CHECK_FALSE(h.served("10.0.0.5"));
  check_error(h.send(verb::delete_, path), status::not_found);
  check_error(h.send(verb::get, path), status::not_found);
  CHECK(h.list()["count"] == 0);
}

TEST_CASE("list filters: ip (canonicalised), tag=k=v, tag=k, all must match") {
  Harness h;
  json a = sample(kId, "10.0.0.5");
  json b = sample(kOtherId, "fd00::5");
  b["tags"] = {{"Name", "db"}, {"env", "prod"}, {"tier", "data"}};
  json c = sample("i-0aaaaaaaaaaaaaaaa", "10.0.0.7");
  c["tags"] = {{"Name", "web one"}, {"env", "dev"}};
  for (const auto& record : {a, b, c}) {
    REQUIRE(h.send(verb::post, "/api/v1/instances", record).result() == status::created);
  }
  auto ids = [&](const std::string& query) {
    const json listing = h.list(query);
    std::vector<std::string> out;
    for (const auto& record : listing["instances"]) out.push_back(record["instance_id"]);
    CHECK(listing["count"] == out.size());
    std::sort(out.begin(), out.end());
    return out;
  };
  using V = std::vector<std::string>;
  CHECK(ids("").size() == 3);
  CHECK(ids("?ip=10.0.0.5") == V{kId});
  CHECK(ids("?ip=%3A%3Affff%3A10.0.0.5") == V{kId});
  CHECK(ids("?ip=FD00:0:0::5") == V{kOtherId});
  CHECK(ids("?ip=10.0.0.99").empty());
  CHECK(ids("?tag=env=prod") == V{kId, kOtherId});
  CHECK(ids("?tag=tier") == V{kOtherId});
  CHECK(ids("?tag=Name=web+one") == V{kId, "i-0aaaaaaaaaaaaaaaa"});
  CHECK(ids("?tag=Name%3Dweb%20one&tag=env=dev") == V{"i-0aaaaaaaaaaaaaaaa"});
  CHECK(ids("?tag=env=prod&ip=fd00::5") == V{kOtherId});
  CHECK(ids("?tag=env=").empty());
  CHECK(ids("?tag=missing").empty());

  check_error(h.send(verb::get, "/api/v1/instances?ip=not-an-ip"), status::bad_request, "ip");
  check_error(h.send(verb::get, "/api/v1/instances?tags=env"), status::bad_request, "tags");
  check_error(h.send(verb::get, "/api/v1/instances?tag="), status::bad_request, "tag");
  check_error(h.send(verb::get, "/api/v1/instances?tag=%G1"), status::bad_request);
}

namespace {

// Changes one row's document behind the API's back, as a person with psql or a newer cloudmeta
// sharing the database would (the latter bumps the revision, as every write does).
void write_stored_document(Harness& h, const std::string& id, const std::string& doc) {
  SQLite::Database other(h.db_path(), SQLite::OPEN_READWRITE);
  SQLite::Statement update(other, "UPDATE instances SET doc = ? WHERE instance_id = ?");
  update.bind(1, doc);
  update.bind(2, id);
  REQUIRE(update.exec() == 1);
  other.exec("UPDATE instance_revision SET value = value + 1");
}

json stored_document(Harness& h, const std::string& id) {
  SQLite::Database other(h.db_path(), SQLite::OPEN_READONLY);
  SQLite::Statement q(other, "SELECT doc FROM instances WHERE instance_id = ?");
  q.bind(1, id);
  REQUIRE(q.executeStep());
  return json::parse(q.getColumn(0).getString());
}

}  // namespace

namespace {

struct Login {
  std::string cookie;  // "cloudmeta_session=..."
  std::string csrf;
};

Response post_login(Harness& h, const std::string& username, const std::string& password) {
  Request req{verb::post, "/login", 11};
  req.set(cm::http::field::host, "127.0.0.1:8001");
  req.set(cm::http::field::content_type, "application/json");
  req.body() = json{{"username", username}, {"password", password}}.dump();
  req.prepare_payload();
  return h.send(req);
}

Login log_in(Harness& h, const std::string& username = "admin",
             const std::string& password = kPassword) {
  const Response res = post_login(h, username, password);
  REQUIRE(res.result() == status::ok);
  const std::string set_cookie(res[cm::http::field::set_cookie]);
  return {set_cookie.substr(0, set_cookie.find(';')), body_of(res)["csrf_token"]};
}

// A request the admin page would make with that session.
Request as_page(const Harness& h, const Login& login, verb method, const std::string& target,
                const std::string& body = {}) {
  Request req = h.request(method, target, body);
  req.erase(cm::http::field::authorization);
  req.set(cm::http::field::cookie, login.cookie);
  req.set("X-CSRF-Token", login.csrf);
  return req;
}

std::vector<std::string> audit_actions(cm::Store& store) {
  std::vector<std::string> actions;
  cm::AuditQuery everything;
  everything.limit = 500;
  for (const auto& e : store.list_audit(everything)) actions.insert(actions.begin(), e.action);
  return actions;
}

void refuse_audit_entries(const Harness& h) {
  SQLite::Database raw(h.db_path(), SQLite::OPEN_READWRITE);
  raw.exec(
      "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log"
      " BEGIN SELECT RAISE(ABORT, 'audit refused by the test'); END");
}

}  // namespace

TEST_CASE("an unpaginated listing of a big fleet is refused, limit and cursor page through it") {
  Harness h;
  h.store().transaction([&] {
    for (int i = 0; i < 1001; ++i) {
      char id[32];
      std::snprintf(id, sizeof id, "i-%017d", i);
      const std::string ip = "10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250);
      h.store().insert_instance(cm::record_from_json({{"instance_id", id}, {"ip", ip}}));
    }
  });
  const Response whole = h.send(verb::get, "/api/v1/instances");
  check_error(whole, status::bad_request, "limit");
  const std::string message = body_of(whole)["error"];
  CHECK(message.find("cursor") != std::string::npos);
  CHECK(message.find("cloudmeta export") != std::string::npos);
  // A filter that matches few is still answered whole.
  CHECK(h.list("?ip=10.1.0.7")["count"] == 1);

  const json first = h.list("?limit=1000");
  CHECK(first["count"] == 1000);
  CHECK(first["total"] == 1001);
  CHECK(first["total_estimated"] == false);
  REQUIRE(first["next_cursor"].is_string());
  const json second = h.list("?limit=1000&cursor=" + first["next_cursor"].get<std::string>());
  CHECK(second["count"] == 1);
  CHECK(second["instances"][0]["instance_id"] == "i-00000000000001000");
  CHECK(second["next_cursor"].is_null());
  // A cursor belongs to its query; offset is kept where it is cheap.
  check_error(h.send(verb::get, "/api/v1/instances?limit=10&sort=ip&cursor=" +
                                     first["next_cursor"].get<std::string>()),
              status::bad_request, "cursor");
  check_error(h.send(verb::get, "/api/v1/instances?limit=10&offset=9995"), status::bad_request,
              "offset");
  CHECK(h.list("?limit=10&offset=995")["count"] == 6);
}

TEST_CASE("a stored row that does not decode is listed flagged, shown, replaced and deleted") {
  Harness h;
  json with_secrets = sample();
  with_secrets["iam"] = {{"role", "web"},
                         {"access_key_id", "ASIAEXAMPLEEXAMPLE01"},
                         {"secret_access_key", "very-secret-key"},
                         {"token", "very-secret-token"},
                         {"expiration", "2030-01-01T00:00:00Z"}};
  REQUIRE(h.send(verb::post, "/api/v1/instances", with_secrets).result() == status::created);
  REQUIRE(h.send(verb::post, "/api/v1/instances", sample(kOtherId, "10.0.0.6")).result() ==
          status::created);
  // A value a newer version may allow and this one refuses.
  json doc = stored_document(h, kId);
  doc["architecture"] = "riscv64";
  write_stored_document(h, kId, doc.dump());
  const std::string path = std::string("/api/v1/instances/") + kId;

  // Listing goes on: the row with what its columns say and why it is flagged, nothing else.
  const json all = h.list();
  REQUIRE(all["count"] == 2);
  CHECK(all["total"] == 2);
  const json& flagged = all["instances"][0];
  CHECK(flagged["instance_id"] == kId);
  CHECK(flagged["ip"] == "10.0.0.5");
  CHECK(flagged["invalid"].get<std::string>().find("architecture") != std::string::npos);
  CHECK_FALSE(flagged.contains("hostname"));
  CHECK_FALSE(flagged.contains("iam"));
  CHECK_FALSE(flagged["created_at"].get<std::string>().empty());
  CHECK_FALSE(all["instances"][1].contains("invalid"));
  CHECK(all["instances"][1]["hostname"] == "web-1");
  const json only_invalid = h.list("?invalid=true");
  CHECK(only_invalid["total"] == 1);
  CHECK(only_invalid["instances"][0]["instance_id"] == kId);
  CHECK(h.list("?invalid=false")["instances"][0]["instance_id"] == kOtherId);
  check_error(h.send(verb::get, "/api/v1/instances?invalid=yes"), status::bad_request, "invalid");

  // GET: the same, plus the stored document for whoever repairs it.
  Response res = h.send(verb::get, path);
  REQUIRE(res.result() == status::ok);
  const json shown = body_of(res);
  CHECK(shown["invalid"] == flagged["invalid"]);
  CHECK(shown["stored_document"] == doc);

  // Nothing to merge a patch onto; nothing to show as served.
  res = h.send(verb::patch, path, json{{"hostname", "web-2"}});
  check_error(res, status::conflict);
  CHECK(body_of(res)["error"].get<std::string>().find("PUT a whole record") != std::string::npos);
  res = h.send(verb::get, path + "/rendered");
  check_error(res, status::not_found);
  CHECK(body_of(res)["error"].get<std::string>().find("cannot decode") != std::string::npos);
  // The GET body sent back as it is: refused with the reason, not taken as an empty record.
  res = h.send(verb::put, path, shown);
  check_error(res, status::bad_request, "invalid");

  // PUT replaces it with a valid record, served at once.
  res = h.send(verb::put, path, sample(kId, "10.0.0.7"));
  REQUIRE(res.result() == status::ok);
  CHECK_FALSE(body_of(res).contains("invalid"));
  CHECK(body_of(h.send(verb::get, path))["ip"] == "10.0.0.7");
  CHECK(h.served("10.0.0.7"));
  const json audit = body_of(h.send(verb::get, std::string("/api/v1/audit?instance_id=") + kId));
  const json update = audit["entries"][0];
  CHECK(update["action"] == "instance.update");
  CHECK(update["before"]["invalid"] == flagged["invalid"]);
  CHECK(update["before"].dump().find("very-secret") == std::string::npos);

  // DELETE removes one.
  write_stored_document(h, kId, "{\"instance_id\": ");
  CHECK(h.list("?invalid=true")["instances"][0]["invalid"] ==
        "the stored document is not JSON");
  CHECK(body_of(h.send(verb::get, path))["stored_document"] == "{\"instance_id\": ");
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  write_stored_document(h, kId, deep);
  CHECK(body_of(h.send(verb::get, path))["stored_document"] == deep);  // as text, not recursed
  CHECK(h.send(verb::delete_, path).result() == status::no_content);
  CHECK(h.send(verb::get, path).result() == status::not_found);
  CHECK(h.list()["total"] == 1);
}

TEST_CASE("fields a newer version stored survive PUT and PATCH through this one") {
  Harness h;
  REQUIRE(h.send(verb::post, "/api/v1/instances", sample()).result() == status::created);
  const std::string path = std::string("/api/v1/instances/") + kId;
  json doc = stored_document(h, kId);
  doc["placement"] = {{"group_name", "g1"}, {"partition_number", 2}};
  doc["metadata_options"]["http_protocol_ipv6"] = "enabled";
  doc["iam"]["source_identity"] = "ci";
  write_stored_document(h, kId, doc.dump());

  // Shown as this version knows the record: a client of it cannot send them back anyway.
  const json shown = body_of(h.send(verb::get, path));
  CHECK_FALSE(shown.contains("invalid"));
  CHECK_FALSE(shown.contains("placement"));
  CHECK_FALSE(shown["metadata_options"].contains("http_protocol_ipv6"));
  CHECK(shown["hostname"] == "web-1");
  CHECK(h.list()["instances"][0]["hostname"] == "web-1");

  const auto check_kept = [&](const json& stored) {
    CHECK(stored["placement"] == doc["placement"]);
    CHECK(stored["metadata_options"]["http_protocol_ipv6"] == "enabled");
    CHECK(stored["iam"]["source_identity"] == "ci");
  };
  REQUIRE(h.send(verb::patch, path, json{{"hostname", "web-2"}}).result() == status::ok);
  check_kept(stored_document(h, kId));
  CHECK(stored_document(h, kId)["hostname"] == "web-2");
  json replacement = sample();
  replacement["hostname"] = "web-3";
  REQUIRE(h.send(verb::put, path, replacement).result() == status::ok);
  check_kept(stored_document(h, kId));
  CHECK(stored_document(h, kId)["hostname"] == "web-3");

  // From a client they are still typos.
  replacement["placement"] = doc["placement"];
  check_error(h.send(verb::put, path, replacement), status::bad_request, "placement");
}

TEST_CASE("password change from the page ends the user's other sessions, not its own") {
  Harness h;
  const Login mine = log_in(h);
  const Login other = log_in(h);
  const Response changed =
      h.send(as_page(h, mine, verb::post, "/api/v1/users/admin/password",
                     json{{"password", "a brand new password"}}.dump()));
  CHECK(changed.result() == status::no_content);
  CHECK(h.send(as_page(h, mine, verb::get, "/api/v1/session")).result() == status::ok);
  CHECK(h.send(as_page(h, other, verb::get, "/api/v1/session")).result() ==
        status::unauthorized);
}

TEST_CASE("password change over the API (token) ends every session of that user only") {
  Harness h;
  h.store().create_user(cm::User{0, "second", "", cm::hash_password(kPassword), ""});
  const Login first = log_in(h);
  const Login second = log_in(h, "second");
  const Response changed = h.send(verb::post, "/api/v1/users/admin/password",
                                  json{{"password", "a brand new password"}});
  CHECK(changed.result() == status::no_content);
  CHECK(h.send(as_page(h, first, verb::get, "/api/v1/session")).result() ==
        status::unauthorized);
  CHECK(h.send(as_page(h, second, verb::get, "/api/v1/session")).result() == status::ok);
  // A session of another user changing admin's password does not keep any of admin's.
  const Login again = log_in(h, "admin", "a brand new password");
  CHECK(h.send(as_page(h, second, verb::post, "/api/v1/users/admin/password",
                       json{{"password", "yet another password"}}.dump()))
            .result() == status::no_content);
  CHECK(h.send(as_page(h, again, verb::get, "/api/v1/session")).result() ==
        status::unauthorized);
}

TEST_CASE("logins good and bad, tokens and passwords are audited, without secrets") {
  Harness h;
  CHECK(post_login(h, "admin", "wrong password").result() == status::unauthorized);
  log_in(h);
  const Response token = h.send(verb::post, "/api/v1/tokens", json{{"name", "deploy"}});
  REQUIRE(token.result() == status::created);
  CHECK(h.send(verb::delete_, "/api/v1/tokens/deploy").result() == status::no_content);
  CHECK(h.send(verb::post, "/api/v1/users/admin/password",
               json{{"password", "a brand new password"}})
            .result() == status::no_content);
  Request guess = h.request(verb::get, "/api/v1/instances");
  guess.set(cm::http::field::authorization, basic(std::string(1000, 'u'), "guess"));
  CHECK(h.send(guess).result() == status::unauthorized);

  CHECK(audit_actions(h.store()) ==
        std::vector<std::string>{"login.failed", "login", "token.create", "token.revoke",
                                 "user.password", "login.failed"});
  cm::AuditQuery everything;
  everything.limit = 500;
  const auto entries = h.store().list_audit(everything);
  for (const auto& e : entries) {
    for (const std::string& secret :
         {std::string(kPassword), std::string("wrong password"), std::string("guess"),
          std::string("a brand new password"), body_of(token)["token"].get<std::string>()}) {
      CHECK(e.after.find(secret) == std::string::npos);
    }
  }
  const json basic_guess = json::parse(entries.front().after);
  CHECK(basic_guess["via"] == "basic");
  CHECK(basic_guess["username"].get<std::string>().size() == 150);
  CHECK(entries.front().actor == "anonymous");
  CHECK(json::parse(entries.back().after)["via"] == "page");
}

// The audit entry is written in the change's own transaction: when it cannot be written (a
// trigger stands in for a full disk or a broken table), the change does not happen either.
TEST_CASE("a change whose audit entry cannot be written does not happen") {
  Harness h;
  REQUIRE(h.send(verb::post, "/api/v1/instances", sample(kOtherId, "10.0.0.9")).result() ==
          status::created);
  const Login session = log_in(h);
  refuse_audit_entries(h);
  const auto refused = [](const Response& res) {
    CAPTURE(res.body());
    return res.result_int() >= 500;
  };

  CHECK(refused(h.send(verb::post, "/api/v1/instances", sample())));
  CHECK_FALSE(h.store().find_instance(kId));
  CHECK_FALSE(h.served("10.0.0.5"));
  CHECK(refused(h.send(verb::put, std::string("/api/v1/instances/") + kOtherId,
                       sample(kOtherId, "10.0.0.10"))));
  CHECK(refused(h.send(verb::patch, std::string("/api/v1/instances/") + kOtherId,
                       json{{"hostname", "changed"}})));
  CHECK(refused(h.send(verb::delete_, std::string("/api/v1/instances/") + kOtherId)));
  CHECK(h.store().find_instance(kOtherId)->ip == "10.0.0.9");
  CHECK(h.store().find_instance(kOtherId)->hostname == "web-1");
  CHECK(h.served("10.0.0.9"));
  CHECK_FALSE(h.served("10.0.0.10"));

  CHECK(refused(h.send(verb::post, "/api/v1/tokens", json{{"name", "deploy"}})));
  CHECK(h.store().list_api_tokens().size() == 1);
  CHECK(refused(h.send(verb::delete_, "/api/v1/tokens/ci")));
  CHECK(h.store().list_api_tokens().size() == 1);
  CHECK(refused(h.send(verb::post, "/api/v1/users",
                       json{{"username", "second"}, {"password", kPassword}})));
  CHECK_FALSE(h.store().find_user("second"));
  CHECK(refused(h.send(verb::post, "/api/v1/users/admin/password",
                       json{{"password", "a brand new password"}})));
  CHECK(cm::verify_password(kPassword, h.store().find_user("admin")->password_hash));
  CHECK(h.send(as_page(h, session, verb::get, "/api/v1/session")).result() == status::ok);
  // A login is a change too (a new session); a failed one changes nothing and is still refused.
  CHECK(refused(post_login(h, "admin", kPassword)));
  CHECK(post_login(h, "admin", "wrong password").result() == status::unauthorized);
  // Reads go on.
  CHECK(h.send(verb::get, "/api/v1/instances").result() == status::ok);
}

// A full disk must not take the admin API's reads down with it (a token's use is no write per
// request), writes answer 503 saying why, and everything works again once there is room, with
// nothing acknowledged lost and the token use written late rather than never.
TEST_CASE("a full disk: reads and token use go on, writes are 503, all recovers without restart") {
  TempDir dir;
  SmallFilesystem fs(dir.path());
  Harness h(fs.path());
  REQUIRE(h.send(verb::post, "/api/v1/instances", sample()).result() == status::created);
  const std::string scraper = h.add_token("scraper");
  h.api().flush_token_use();
  fs.fill();

  for (int i = 0; i < 3; ++i) {
    CHECK(h.send(verb::get, "/api/v1/instances").result() == status::ok);
    CHECK(h.send(verb::get, std::string("/api/v1/instances/") + kId).result() == status::ok);
    Request scrape = h.request(verb::get, "/metrics");
    scrape.set(cm::http::field::authorization, "Bearer " + scraper);
    CHECK(h.send(scrape).result() == status::ok);
  }
  const Response refused = h.send(verb::post, "/api/v1/instances", sample(kOtherId, "10.0.0.9"));
  check_error(refused, status::service_unavailable);
  CHECK(body_of(refused)["error"].get<std::string>().find("read-only") != std::string::npos);
  CHECK(h.send(verb::delete_, std::string("/api/v1/instances/") + kId).result() ==
        status::service_unavailable);
  const auto scraper_use = [&h] {
    for (const auto& t : h.store().list_api_tokens()) {
      if (t.name == "scraper") return t.last_used_at;
    }
    return std::string("missing");
  };
  h.api().flush_token_use();  // fails, logged, kept for later
  CHECK(scraper_use().empty());

  fs.free_space();
  h.api().flush_token_use();
  CHECK_FALSE(scraper_use().empty());
  CHECK(h.send(verb::post, "/api/v1/instances", sample(kOtherId, "10.0.0.9")).result() ==
        status::created);
  CHECK(h.list()["count"] == 2);
  CHECK(h.served("10.0.0.5"));
  CHECK(h.served("10.0.0.9"));
}
