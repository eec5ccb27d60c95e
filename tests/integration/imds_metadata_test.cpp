// The metadata surface as a VM sees it: the real binary, a record seeded through the admin API,
// and requests from the VM's own source address (AWS identifies the caller by the TCP peer).
#include <doctest/doctest.h>
#include <sodium.h>

#include <algorithm>
#include <string>
#include <vector>

#include "deployment.hpp"

using namespace cloudmeta::testing;
using nlohmann::json;

namespace {

constexpr char kVm[] = "127.0.0.23";
constexpr char kStranger[] = "127.0.0.99";
constexpr char kId[] = "i-0123456789abcdef0";

bool has_line(const std::string& body, const std::string& line) {
  const auto lines = split_lines(body);
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}

std::string base64(const std::string& bytes) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

// Every byte value, NUL and CR/LF included, repeated to `size` bytes.
std::string binary_bytes(std::size_t size) {
  std::string bytes(size, '\0');
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>((i * 7 + i / 256) % 256);
  return bytes;
}

}  // namespace

TEST_CASE("imds wire: GET / lists versions ending with latest") {
  Deployment d;
  d.start();
  d.create_instance(instance_record(kId, kVm));

  const HttpResponse r = d.imds_get(kVm, "/");
  CHECK(r.status == 200);
  const auto lines = split_lines(r.body);
  REQUIRE_FALSE(lines.empty());
  CHECK(lines.back() == "latest");
  // cloud-init probes these builds (imds-reference §1.2).
  for (const char* version : {"2009-04-04", "2016-09-02", "2018-09-24", "2021-03-23"}) {
    CHECK_MESSAGE(has_line(r.body, version), version);
  }
  CHECK(r.header("Server") == "EC2ws");
  CHECK(r.header("Content-Type") == "text/plain");
  CHECK(d.stop() == 0);
}

TEST_CASE("imds wire: listings and leaves with AWS path rules") {
  Deployment d;
  d.start();
  d.create_instance(instance_record(kId, kVm));

  const HttpResponse root = d.imds_get(kVm, "/latest/");
  CHECK(root.status == 200);
  CHECK(has_line(root.body, "meta-data"));
  CHECK(has_line(root.body, "dynamic"));
  CHECK(root.body.find('/') == std::string::npos);  // the version root lists names bare

  const HttpResponse md = d.imds_get(kVm, "/latest/meta-data/");
  CHECK(md.status == 200);
  CHECK(has_line(md.body, "instance-id"));
  CHECK(has_line(md.body, "placement/"));
  CHECK(has_line(md.body, "hostname"));

  const HttpResponse id = d.imds_get(kVm, "/latest/meta-data/instance-id");
  CHECK(id.status == 200);
  CHECK(id.body == kId);
  CHECK(id.header("Content-Type") == "text/plain");
  CHECK(id.header("Content-Length") == std::to_string(std::string(kId).size()));
  CHECK(id.header("Server") == "EC2ws");

  // botocore reads the region from a leaf with a trailing slash (imds-reference §4.2).
  const HttpResponse az = d.imds_get(kVm, "/latest/meta-data/placement/availability-zone/");
  CHECK(az.status == 200);
  CHECK(az.body == "us-east-1a");

  // Duplicate slashes as ec2-metadata and the JS SDK send them.
  CHECK(d.imds_get(kVm, "//latest/meta-data/instance-id").body == kId);
  CHECK(d.imds_get(kVm, "/latest//meta-data//instance-id").body == kId);
  CHECK(d.imds_get(kVm, "/latest/meta-data/placement//availability-zone").body == "us-east-1a");

  // A directory without its trailing slash still lists.
  const HttpResponse placement = d.imds_get(kVm, "/latest/meta-data/placement");
  CHECK(placement.status == 200);
  CHECK(has_line(placement.body, "availability-zone"));

  // Older builds serve the same tree; unknown builds and paths are 404.
  CHECK(d.imds_get(kVm, "/2009-04-04/meta-data/instance-id").body == kId);
  CHECK(d.imds_get(kVm, "/1999-01-01/meta-data/instance-id").status == 404);
  const HttpResponse missing = d.imds_get(kVm, "/latest/meta-data/no-such-thing");
  CHECK(missing.status == 404);
  CHECK(missing.header("Server") == "EC2ws");
  CHECK(d.stop() == 0);
}

TEST_CASE("imds wire: JSON leaves are served as text/plain") {
  Deployment d;
  d.start();
  d.create_instance(instance_record(kId, kVm));

  const HttpResponse doc = d.imds_get(kVm, "/latest/dynamic/instance-identity/document");
  CHECK(doc.status == 200);
  CHECK(doc.header("Content-Type") == "text/plain");
  const json parsed = json::parse(doc.body, nullptr, false);
  REQUIRE_FALSE(parsed.is_discarded());
  CHECK(parsed["instanceId"] == kId);
  CHECK(parsed["region"] == "us-east-1");
  CHECK(d.stop() == 0);
}

TEST_CASE("imds wire: user-data bytes pass through unchanged as octet-stream") {
  Deployment d;
  d.start();
  json record = instance_record(kId, kVm);
  const std::string bytes = binary_bytes(1000);
  record["user_data_base64"] = base64(bytes);
  d.create_instance(record);

  const HttpResponse ud = d.imds_get(kVm, "/latest/user-data");
  CHECK(ud.status == 200);
  CHECK(ud.header("Content-Type") == "application/octet-stream");
  CHECK(ud.header("Content-Length") == "1000");
  CHECK(ud.body == bytes);
  CHECK(has_line(d.imds_get(kVm, "/latest/").body, "user-data"));
  CHECK(d.stop() == 0);
}

TEST_CASE("imds wire: user-data of exactly 16384 bytes, the AWS limit") {
  Deployment d;
  d.start();
  json record = instance_record(kId, kVm);
  const std::string bytes = binary_bytes(16384);
  record["user_data_base64"] = base64(bytes);
  d.create_instance(record);

  const HttpResponse ud = d.imds_get(kVm, "/2021-03-23/user-data");
  CHECK(ud.status == 200);
  CHECK(ud.header("Content-Length") == "16384");
  CHECK(ud.body.size() == 16384);
  CHECK(ud.body == bytes);
  CHECK(d.stop() == 0);
}

TEST_CASE("imds wire: no user-data is 404") {
  Deployment d;
  d.start();
  d.create_instance(instance_record(kId, kVm));
  CHECK(d.imds_get(kVm, "/latest/user-data").status == 404);
  CHECK(d.stop() == 0);
}

TEST_CASE("imds wire: HEAD sends the headers of GET and no body") {
  Deployment d;
  d.start();
  d.create_instance(instance_record(kId, kVm));

  HttpConnection connection(d.server().metadata_port(), kVm);
  connection.send(to_wire({"HEAD", "/latest/meta-data/instance-id", {{"Connection", "close"}}}));
  const HttpResponse head = connection.read_response(true);
  CHECK(head.status == 200);
  CHECK(head.header("Content-Length") == std::to_string(std::string(kId).size()));
  CHECK(head.header("Content-Type") == "text/plain");
  CHECK(head.header("Server") == "EC2ws");
  // Whatever arrives after the head up to the close would be a body.
  const auto rest = connection.read_until_closed();
  REQUIRE(rest.has_value());
  CHECK(rest->empty());
  CHECK(d.stop() == 0);
}

TEST_CASE("imds wire: a caller with no record gets 404 everywhere") {
  Deployment d;
  d.start();
  d.create_instance(instance_record(kId, kVm));

  for (const char* target : {"/", "/latest/", "/latest/meta-data/", "/latest/meta-data/instance-id",
                             "/latest/user-data"}) {
    const HttpResponse r = d.imds_get(kStranger, target);
    CHECK_MESSAGE(r.status == 404, target);
    CHECK(r.header("Server") == "EC2ws");
  }
  const HttpResponse put = d.imds(kStranger, "PUT", "/latest/api/token",
                                  {{"X-aws-ec2-metadata-token-ttl-seconds", "60"}});
  CHECK(put.status == 404);
  // The seeded VM is still answered.
  CHECK(d.imds_get(kVm, "/latest/meta-data/instance-id").body == kId);
  CHECK(d.stop() == 0);
}

TEST_CASE("imds wire: X-Forwarded-For names the caller only from TRUSTED_PROXIES") {
  Deployment d(Environment{{"TRUSTED_PROXIES", "127.0.0.2"}});
  d.start();
  d.create_instance(instance_record(kId, kVm));

  const Headers forwarded_for_vm = {{"X-Forwarded-For", kVm}};
  CHECK(d.imds_get("127.0.0.2", "/latest/meta-data/instance-id", forwarded_for_vm).body == kId);
  // From any other peer the header is ignored: the TCP source is the caller, as on AWS.
  CHECK(d.imds_get("127.0.0.3", "/latest/meta-data/instance-id", forwarded_for_vm).status == 404);
  CHECK(d.imds_get(kVm, "/latest/meta-data/instance-id", {{"X-Forwarded-For", kStranger}}).body ==
        kId);
  // The trusted proxy's own line comes last (HAProxy adds one below the caller's): it decides,
  // whatever the caller wrote in the lines above it.
  const Headers forged_then_proxied = {{"X-Forwarded-For", kVm}, {"X-Forwarded-For", kStranger}};
  CHECK(d.imds_get("127.0.0.2", "/latest/meta-data/instance-id", forged_then_proxied).status ==
        404);
  // X-Real-IP is not the header TRUSTED_PROXY_HEADER names: it names nobody.
  CHECK(d.imds_get("127.0.0.2", "/latest/meta-data/instance-id", {{"X-Real-IP", kVm}}).status ==
        404);
  // A token for the caller the proxy names, unless the caller sent X-Forwarded-For itself.
  const auto put = [&](const std::string& list) {
    return d.imds("127.0.0.2", "PUT", "/latest/api/token",
                  {{"X-aws-ec2-metadata-token-ttl-seconds", "60"}, {"X-Forwarded-For", list}});
  };
  CHECK(put(kVm).status == 200);
  CHECK(put(std::string("127.0.0.200, ") + kVm).status == 403);
  CHECK(d.stop() == 0);
}

TEST_CASE("imds wire: TRUSTED_PROXY_HEADER=x-real-ip reads X-Real-IP alone") {
  Deployment d(Environment{{"TRUSTED_PROXIES", "127.0.0.2"}, {"TRUSTED_PROXY_HEADER", "x-real-ip"}});
  d.start();
  d.create_instance(instance_record(kId, kVm));
  const char* const path = "/latest/meta-data/instance-id";
  CHECK(d.imds_get("127.0.0.2", path, {{"X-Real-IP", kVm}}).body == kId);
  CHECK(d.imds_get("127.0.0.2", path, {{"X-Forwarded-For", kVm}}).status == 404);
  CHECK(d.imds_get("127.0.0.2", path, {{"X-Forwarded-For", kVm}, {"X-Real-IP", kStranger}})
            .status == 404);
  // The caller's own X-Forwarded-For, passed through by the proxy: no token, as on AWS.
  const Headers ttl = {{"X-aws-ec2-metadata-token-ttl-seconds", "60"}, {"X-Real-IP", kVm}};
  CHECK(d.imds("127.0.0.2", "PUT", "/latest/api/token", ttl).status == 200);
  Headers forwarded = ttl;
  forwarded.push_back({"X-Forwarded-For", "127.0.0.200"});
  CHECK(d.imds("127.0.0.2", "PUT", "/latest/api/token", forwarded).status == 403);
  CHECK(d.stop() == 0);
}
