// IMDSv2 session tokens over the wire (imds-reference §1.8): the token PUT, its TTL header,
// every refusal with the status real SDKs act on, and binding of a token to its instance.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>

#include "deployment.hpp"

using namespace cloudmeta::testing;
using nlohmann::json;

namespace {

constexpr char kVm[] = "127.0.0.23";
constexpr char kOtherVm[] = "127.0.0.24";
constexpr char kId[] = "i-0123456789abcdef0";
constexpr char kOtherId[] = "i-0fedcba9876543210";
constexpr char kTtlHeader[] = "X-aws-ec2-metadata-token-ttl-seconds";
constexpr char kTokenHeader[] = "X-aws-ec2-metadata-token";

HttpResponse put_token(Deployment& d, const std::string& source, Headers headers,
                       const std::string& target = "/latest/api/token") {
  return d.imds(source, "PUT", target, std::move(headers));
}

}  // namespace

TEST_CASE("imds wire: token PUT answers 200 with the TTL echoed and the token works") {
  Deployment d;
  d.start();
  d.create_instance(instance_record(kId, kVm));

  const HttpResponse put = put_token(d, kVm, {{kTtlHeader, "21600"}});
  CHECK(put.status == 200);
  CHECK(put.header(kTtlHeader) == "21600");
  CHECK(put.header("Server") == "EC2ws");
  const std::string token = put.body;
  CHECK_FALSE(token.empty());
  CHECK(token.find_first_of(" \r\n") == std::string::npos);  // usable as a header value

  const HttpResponse get =
      d.imds_get(kVm, "/latest/meta-data/instance-id", {{kTokenHeader, token}});
  CHECK(get.status == 200);
  CHECK(get.body == kId);
  // Authenticated GETs echo the remaining TTL (seen on AWS; Titus reproduces it).
  const auto remaining = get.header(kTtlHeader);
  REQUIRE(remaining.has_value());
  CHECK(std::stoi(*remaining) > 0);
  CHECK(std::stoi(*remaining) <= 21600);
  // A token is good on every version path.
  CHECK(d.imds_get(kVm, "/2009-04-04/meta-data/instance-id", {{kTokenHeader, token}}).status ==
        200);
  CHECK(d.stop() == 0);
}

TEST_CASE("imds wire: token header names are case-insensitive") {
  Deployment d;
  d.start();
  d.create_instance(instance_record(kId, kVm));

  // botocore and the JS SDK send lowercase names.
  const HttpResponse put = put_token(d, kVm, {{"x-aws-ec2-metadata-token-ttl-seconds", "300"}});
  CHECK(put.status == 200);
  CHECK(put.header(kTtlHeader) == "300");
  const HttpResponse get =
      d.imds_get(kVm, "/latest/meta-data/instance-id", {{"x-aws-ec2-metadata-token", put.body}});
  CHECK(get.status == 200);
  CHECK(get.body == kId);
  const HttpResponse shouting = put_token(d, kVm, {{"X-AWS-EC2-METADATA-TOKEN-TTL-SECONDS", "1"}});
  CHECK(shouting.status == 200);
  CHECK(shouting.header(kTtlHeader) == "1");
  CHECK(d.stop() == 0);
}

TEST_CASE("imds wire: token PUT without a valid TTL is 400") {
  Deployment d;
  d.start();
  d.create_instance(instance_record(kId, kVm));

  CHECK(put_token(d, kVm, {}).status == 400);
  for (const char* ttl : {"0", "21601", "abc", "-1", "", "60s", "1e3"}) {
    CHECK_MESSAGE(put_token(d, kVm, {{kTtlHeader, ttl}}).status == 400, "ttl '", ttl, "'");
  }
  // The bounds themselves are valid.
  CHECK(put_token(d, kVm, {{kTtlHeader, "1"}}).status == 200);
  CHECK(put_token(d, kVm, {{kTtlHeader, "21600"}}).status == 200);
  CHECK(d.stop() == 0);
}

TEST_CASE("imds wire: token PUT through a proxy or on a versioned path is 403") {
  Deployment d;
  d.start();
  d.create_instance(instance_record(kId, kVm));

  const HttpResponse proxied =
      put_token(d, kVm, {{kTtlHeader, "60"}, {"X-Forwarded-For", "198.18.0.5"}});
  CHECK(proxied.status == 403);
  const HttpResponse versioned = put_token(d, kVm, {{kTtlHeader, "60"}}, "/2021-03-23/api/token");
  CHECK(versioned.status == 403);
  CHECK(d.stop() == 0);
}

TEST_CASE("imds wire: other methods on the token path are 405 with Allow") {
  Deployment d;
  d.start();
  d.create_instance(instance_record(kId, kVm));

  for (const char* method : {"GET", "POST", "DELETE"}) {
    const HttpResponse r = d.imds(kVm, method, "/latest/api/token", {{kTtlHeader, "60"}});
    CHECK_MESSAGE(r.status == 405, method);
    CHECK(r.header("Allow") == "OPTIONS, PUT");
  }
  CHECK(d.stop() == 0);
}

TEST_CASE("imds wire: a token is refused from another instance and when tampered") {
  Deployment d;
  d.start();
  d.create_instance(instance_record(kId, kVm));
  d.create_instance(instance_record(kOtherId, kOtherVm));

  const std::string token = d.imds_token(kVm);
  CHECK(d.imds_get(kVm, "/latest/meta-data/instance-id", {{kTokenHeader, token}}).status == 200);
  // AWS: "rejected if used on another instance".
  CHECK(d.imds_get(kOtherVm, "/latest/meta-data/instance-id", {{kTokenHeader, token}}).status ==
        401);

  std::string tampered = token;
  tampered[tampered.size() / 2] = tampered[tampered.size() / 2] == 'A' ? 'B' : 'A';
  CHECK(d.imds_get(kVm, "/latest/meta-data/instance-id", {{kTokenHeader, tampered}}).status == 401);
  CHECK(d.imds_get(kVm, "/latest/meta-data/instance-id", {{kTokenHeader, token + "A"}}).status ==
        401);
  CHECK(d.imds_get(kVm, "/latest/meta-data/instance-id", {{kTokenHeader, "garbage"}}).status ==
        401);
  // A token sent under optional http_tokens must still be valid; without one, v1 works.
  CHECK(d.imds_get(kVm, "/latest/meta-data/instance-id").status == 200);
  CHECK(d.stop() == 0);
}

TEST_CASE("imds wire: a token stops working once its TTL has passed") {
  Deployment d;
  d.start();
  d.create_instance(instance_record(kId, kVm));

  const std::string token = d.imds_token(kVm, "1");
  int status = 200;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (status == 200 && std::chrono::steady_clock::now() < deadline) {
    status = d.imds_get(kVm, "/latest/meta-data/instance-id", {{kTokenHeader, token}}).status;
    if (status == 200) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(status == 401);
  CHECK(d.stop() == 0);
}

TEST_CASE("imds wire: http_tokens required refuses requests without a token") {
  Deployment d;
  d.start();
  json record = instance_record(kId, kVm);
  record["metadata_options"] = {{"http_tokens", "required"}};
  d.create_instance(record);

  CHECK(d.imds_get(kVm, "/latest/meta-data/instance-id").status == 401);
  CHECK(d.imds(kVm, "HEAD", "/latest/meta-data/instance-id").status == 401);
  const std::string token = d.imds_token(kVm);
  const HttpResponse get =
      d.imds_get(kVm, "/latest/meta-data/instance-id", {{kTokenHeader, token}});
  CHECK(get.status == 200);
  CHECK(get.body == kId);
  CHECK(d.stop() == 0);
}

TEST_CASE("imds wire: http_endpoint disabled answers 403 to everything") {
  Deployment d;
  d.start();
  json record = instance_record(kId, kVm);
  record["metadata_options"] = {{"http_endpoint", "disabled"}};
  d.create_instance(record);

  CHECK(d.imds_get(kVm, "/latest/meta-data/instance-id").status == 403);
  CHECK(d.imds_get(kVm, "/").status == 403);
  // cloud-init reads a 403 on the token PUT as "IMDS turned off".
  CHECK(put_token(d, kVm, {{kTtlHeader, "21600"}}).status == 403);
  CHECK(d.stop() == 0);
}
