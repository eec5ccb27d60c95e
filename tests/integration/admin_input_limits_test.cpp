// Admin input that is deep or large never ends the server: JSON nested deeper than kMaxJsonDepth
// is refused with 400 before anything recurses over it, on every route that takes JSON and in
// `cloudmeta import`; YAML in the cloud-config check is bounded the same way. Each case then
// checks that the same process still serves metadata.
#include <doctest/doctest.h>

#include <fstream>
#include <string>

#include "deployment.hpp"

using namespace cloudmeta::testing;
using nlohmann::json;

namespace {

constexpr char kId[] = "i-0123456789abcdef6";
constexpr char kIp[] = "127.0.0.66";

// The body from the issue: {"extra": {"extra": ... 1 ... }} with `levels` objects (~1 MB at
// 100,000 levels, under the default ADMIN_BODY_LIMIT of 1 MiB).
std::string nested_objects(std::size_t levels) {
  std::string out;
  out.reserve(levels * 10 + 1);
  for (std::size_t i = 0; i < levels; ++i) out += R"({"extra":)";
  out += '1';
  out.append(levels, '}');
  return out;
}

// A record whose `extra` holds `levels` nested arrays: a valid object at the top, deep inside.
std::string record_with_deep_extra(const std::string& id, const std::string& ip,
                                   std::size_t levels) {
  std::string out = R"({"instance_id": ")" + id + R"(", "ip": ")" + ip + R"(", "extra": )";
  out.append(levels, '[');
  out.append(levels, ']');
  return out + "}";
}

void check_refused_for_depth(const HttpResponse& r) {
  CHECK(r.status == 400);
  CHECK(r.header("Content-Type") == "application/json");
  const json body = json::parse(r.body, nullptr, false);
  REQUIRE(body.is_object());
  REQUIRE(body["error"].is_string());
  CHECK_MESSAGE(body["error"].get<std::string>().find("nested deeper than 64 levels") !=
                    std::string::npos,
                body["error"]);
}

void check_still_serving(Deployment& d) {
  REQUIRE(d.server().running());
  CHECK(d.imds_get(kIp, "/latest/meta-data/instance-id").body == kId);
}

json check_cloud_config(Deployment& d, const std::string& user_data) {
  const HttpResponse r =
      d.admin("POST", "/api/v1/cloud-config/check", json{{"user_data", user_data}}.dump());
  REQUIRE(r.status == 200);
  return json::parse(r.body);
}

}  // namespace

TEST_CASE("admin limits: a 100,000-deep PATCH gets 400 and the server keeps serving") {
  Deployment d;
  d.start();
  d.create_instance(instance_record(kId, kIp));

  const std::string body = nested_objects(100'000);
  REQUIRE(body.size() < 1024 * 1024);
  check_refused_for_depth(d.admin("PATCH", std::string("/api/v1/instances/") + kId, body));
  check_still_serving(d);
  CHECK(d.admin("GET", std::string("/api/v1/instances/") + kId).status == 200);
  CHECK(d.stop() == 0);
}

TEST_CASE("admin limits: deep JSON is refused by POST, PUT, PATCH and every JSON route") {
  Deployment d;
  d.start();
  d.create_instance(instance_record(kId, kIp));
  const std::string item = std::string("/api/v1/instances/") + kId;

  const std::string deep_record = record_with_deep_extra("i-0123456789abcdef7", "127.0.0.67", 100'000);
  check_refused_for_depth(d.admin("POST", "/api/v1/instances", deep_record));
  check_refused_for_depth(d.admin("PUT", "/api/v1/instances/i-0123456789abcdef7", deep_record));
  check_refused_for_depth(d.admin("PATCH", item, nested_objects(65)));
  check_refused_for_depth(d.admin("POST", "/api/v1/cloud-config/check", nested_objects(100'000)));
  check_refused_for_depth(d.admin("POST", "/api/v1/tokens", nested_objects(100'000)));
  check_refused_for_depth(d.admin("POST", "/api/v1/users", nested_objects(100'000)));

  // The limit is 64 levels: a patch 64 deep is parsed (and then refused by the record's own rule
  // for extra, 8 levels), one 65 deep is not parsed at all.
  const HttpResponse at_limit = d.admin("PATCH", item, nested_objects(64));
  CHECK(at_limit.status == 400);
  CHECK(json::parse(at_limit.body)["error"].get<std::string>().find("nested deeper than 64") ==
        std::string::npos);

  CHECK(d.admin("GET", "/api/v1/instances").status == 200);
  check_still_serving(d);
  CHECK(d.stop() == 0);
}

TEST_CASE("admin limits: the cloud-config check bounds YAML nesting, flow and block") {
  Deployment d;
  d.start();
  d.create_instance(instance_record(kId, kIp));
  const std::string header = "#cloud-config\n";
  const std::size_t room = 16384 - header.size() - 16;

  std::string flow_sequences = header + "a: ";
  flow_sequences.append(room / 2, '[');
  flow_sequences.append(room / 2, ']');
  std::string flow_maps = header + "a: ";
  for (std::size_t i = 0; i < room / 5; ++i) flow_maps += "{a: ";
  flow_maps += "1";
  flow_maps.append(room / 5, '}');
  std::string block_sequences = header + "a:\n ";
  for (std::size_t i = 0; i < room / 2 - 4; ++i) block_sequences += "- ";
  block_sequences += "x\n";
  std::string block_maps = header;  // 100 levels of indented keys: ~5 KiB
  for (std::size_t level = 0; level < 100; ++level) block_maps += std::string(level, ' ') + "a:\n";
  block_maps += std::string(100, ' ') + "1\n";

  for (const std::string* text : {&flow_sequences, &flow_maps, &block_sequences, &block_maps}) {
    REQUIRE(text->size() <= 16384);
    const json answer = check_cloud_config(d, *text);
    CHECK(answer["cloud_config"] == true);
    CHECK(answer["valid"] == false);
    CHECK_MESSAGE(answer["error"].get<std::string>().find("nested deeper than 64 levels") !=
                      std::string::npos,
                  answer["error"]);
    CHECK(answer["line"].get<int>() >= 2);
  }

  // Nesting within the limit is still checked as YAML.
  std::string shallow = header;
  for (std::size_t level = 0; level < 60; ++level) shallow += std::string(level, ' ') + "a:\n";
  shallow += std::string(60, ' ') + "1\n";
  CHECK(check_cloud_config(d, shallow)["valid"] == true);
  CHECK(check_cloud_config(d, header + "a: [1, {b: [2]}]\n")["valid"] == true);
  CHECK(check_cloud_config(d, header + "a: [1, {b: [2]}\n")["valid"] == false);
  check_still_serving(d);
  CHECK(d.stop() == 0);
}

TEST_CASE("admin limits: import refuses a line nested too deep, naming the line and the limit") {
  Deployment d;
  const auto input = d.dir() / "deep.jsonl";
  {
    std::ofstream out(input);
    out << instance_record(kId, kIp).dump() << "\n";
    out << record_with_deep_extra("i-0123456789abcdef7", "127.0.0.67", 100'000) << "\n";
  }
  const CommandResult r = d.cli({"import", "--input", input.string()});
  CHECK(r.exit_code == 1);
  CHECK_MESSAGE(r.err.find("line 2: invalid JSON: nested deeper than 64 levels") !=
                    std::string::npos,
                r.err);
  // Nothing was imported: the first line is not served either.
  d.start();
  CHECK(d.admin("GET", std::string("/api/v1/instances/") + kId).status == 404);
  CHECK(d.stop() == 0);
}
