// The AWS-fidelity table of the metadata surface, without sockets: request -> status/body/headers.
#include "cloudmeta/imds.hpp"

#include <doctest/doctest.h>

#include "cloudmeta/snapshot.hpp"

using namespace cloudmeta;

namespace {

constexpr std::int64_t kNow = 1'800'000'000;
const IpKey kVm = *IpKey::parse("198.18.0.10");
const IpKey kStranger = *IpKey::parse("198.18.0.99");

InstanceRecord base_record() {
  InstanceRecord r;
  r.instance_id = "i-0123456789abcdef0";
  r.ip = "198.18.0.10";
  r.region = "eu-west-1";
  r.availability_zone = "eu-west-1b";
  r.user_data = std::string("#cloud-config\nhostname: vm1\n");
  r.created_at = r.updated_at = "2026-11-22T10:00:00Z";
  return r;
}

struct Fixture {
  explicit Fixture(InstanceRecord record = base_record())
      : snapshot(Snapshot::build({record}, 1)), tokens("unit-test-secret-key-0123456789abcdef") {}

  imds::Response get(std::string_view target, std::optional<std::string_view> token = std::nullopt,
                     IpKey caller = kVm, imds::Method method = imds::Method::kGet) {
    imds::Request req;
    req.method = method;
    req.target = target;
    req.token = token;
    req.caller = caller;
    return imds::respond(req, *snapshot, tokens, kNow);
  }
  imds::Response put_token(std::optional<std::string_view> ttl, std::string_view target = "/latest/api/token",
                           bool forwarded = false, IpKey caller = kVm) {
    imds::Request req;
    req.method = imds::Method::kPut;
    req.target = target;
    req.ttl = ttl;
    req.forwarded = forwarded;
    req.caller = caller;
    return imds::respond(req, *snapshot, tokens, kNow);
  }

  std::shared_ptr<const Snapshot> snapshot;
  TokenAuthority tokens;
};

}  // namespace

TEST_CASE("GET / lists the versions, oldest first, latest last, no trailing newline") {
  Fixture f;
  auto r = f.get("/");
  CHECK(r.status == 200);
  const std::string body(r.payload());
  CHECK(body.rfind("1.0\n", 0) == 0);
  CHECK(body.size() >= 7);
  CHECK(body.substr(body.size() - 7) == "\nlatest");
  for (auto v : {"2009-04-04", "2016-09-02", "2018-09-24", "2021-03-23"}) {
    CHECK(body.find(std::string("\n") + v + "\n") != std::string::npos);
  }
}

TEST_CASE("every listed version serves the tree, unknown versions are 404") {
  Fixture f;
  for (auto v : {"1.0", "2009-04-04", "2016-09-02", "2018-09-24", "2021-03-23", "latest"}) {
    CAPTURE(v);
    auto r = f.get(std::string("/") + v + "/meta-data/instance-id");
    CHECK(r.status == 200);
    CHECK(r.payload() == "i-0123456789abcdef0");
  }
  CHECK(f.get("/2099-01-01/meta-data/instance-id").status == 404);
  CHECK(f.get("/nonsense/").status == 404);
}

TEST_CASE("the version root lists dynamic, meta-data and user-data") {
  Fixture f;
  for (auto t : {"/latest/", "/latest", "//latest//"}) {
    CAPTURE(t);
    auto r = f.get(t);
    CHECK(r.status == 200);
    CHECK(r.payload() == "dynamic\nmeta-data\nuser-data");
  }
}

TEST_CASE("path rules: directories with or without slash, leaves with a slash, repeated slashes") {
  Fixture f;
  auto listing = f.get("/latest/meta-data/").payload();
  CHECK(f.get("/latest/meta-data").payload() == listing);
  CHECK(listing.find("placement/") != std::string_view::npos);
  CHECK(listing.find("instance-id\n") != std::string_view::npos);
  CHECK(f.get("/latest/meta-data/placement/availability-zone/").payload() == "eu-west-1b");
  CHECK(f.get("//latest//meta-data//placement//availability-zone").payload() == "eu-west-1b");
  CHECK(f.get("/latest/meta-data/instance-id?x=1").payload() == "i-0123456789abcdef0");
  CHECK(f.get("/latest/meta-data/no-such-thing").status == 404);
  CHECK(f.get("/latest/meta-data/instance-id/extra").status == 404);
}

TEST_CASE("meta-data is text/plain, user-data application/octet-stream and byte-exact") {
  Fixture f;
  auto md = f.get("/latest/meta-data/instance-id");
  CHECK(md.content_type == ContentType::kTextPlain);
  CHECK_FALSE(md.html);
  auto ud = f.get("/latest/user-data");
  CHECK(ud.status == 200);
  CHECK(ud.content_type == ContentType::kOctetStream);
  CHECK(ud.payload() == "#cloud-config\nhostname: vm1\n");

  auto record = base_record();
  record.user_data.reset();
  Fixture without(record);
  CHECK(without.get("/latest/user-data").status == 404);
}

TEST_CASE("an unknown caller gets 404 everywhere, including the token PUT") {
  Fixture f;
  for (auto t : {"/", "/latest/", "/latest/meta-data/instance-id", "/latest/user-data"}) {
    CAPTURE(t);
    auto r = f.get(t, std::nullopt, kStranger);
    CHECK(r.status == 404);
    CHECK(r.outcome == imds::Outcome::kUnknownCaller);
    CHECK(r.html);
  }
  CHECK(f.put_token("60", "/latest/api/token", false, kStranger).status == 404);
}

TEST_CASE("token PUT: 200, token body, TTL echoed, hop limit from the record") {
  auto record = base_record();
  record.metadata_options.http_put_response_hop_limit = 3;
  Fixture f(record);
  auto r = f.put_token("21600");
  CHECK(r.status == 200);
  CHECK(r.outcome == imds::Outcome::kTokenIssued);
  CHECK(r.payload().size() == TokenAuthority::kTokenLength);
  REQUIRE(r.ttl);
  CHECK(*r.ttl == 21600);
  CHECK(r.hop_limit == 3);
  CHECK(f.put_token("1").status == 200);
}

TEST_CASE("token PUT with a missing, non-numeric or out-of-range TTL is 400") {
  Fixture f;
  for (std::optional<std::string_view> ttl :
       {std::optional<std::string_view>(), std::optional<std::string_view>("0"),
        std::optional<std::string_view>("21601"), std::optional<std::string_view>("-1"),
        std::optional<std::string_view>("abc"), std::optional<std::string_view>(""),
        std::optional<std::string_view>("60s"), std::optional<std::string_view>(" 60"),
        std::optional<std::string_view>("99999999999")}) {
    CAPTURE(ttl.value_or("<none>"));
    CHECK(f.put_token(ttl).status == 400);
  }
}

TEST_CASE("token PUT carrying X-Forwarded-For is 403, a versioned token path is 403") {
  Fixture f;
  CHECK(f.put_token("60", "/latest/api/token", true).status == 403);
  CHECK(f.put_token("60", "/2021-03-23/api/token").status == 403);
  CHECK(f.put_token("60", "/2009-04-04/api/token").status == 403);
}

TEST_CASE("other methods on the token path are 405 with Allow: OPTIONS, PUT") {
  Fixture f;
  for (auto m : {imds::Method::kGet, imds::Method::kHead, imds::Method::kOther}) {
    auto r = f.get("/latest/api/token", std::nullopt, kVm, m);
    CHECK(r.status == 405);
    CHECK(r.allow == "OPTIONS, PUT");
  }
  auto r = f.get("/latest/meta-data/", std::nullopt, kVm, imds::Method::kPut);
  CHECK(r.status == 405);
  CHECK(r.allow == "GET, HEAD");
}

TEST_CASE("a valid token is accepted on any version and its remaining TTL echoed") {
  Fixture f;
  auto token = std::string(f.put_token("600").payload());
  auto r = f.get("/2009-04-04/meta-data/instance-id", token);
  CHECK(r.status == 200);
  REQUIRE(r.ttl);
  CHECK(*r.ttl == 600);
  CHECK(f.get("/latest/meta-data/instance-id").ttl == std::nullopt);
}

TEST_CASE("an invalid, foreign or tampered token is 401 even when tokens are optional") {
  Fixture f;
  CHECK(f.get("/latest/meta-data/instance-id", "not-a-token").status == 401);
  CHECK(f.get("/latest/meta-data/instance-id", "").status == 401);
  auto token = std::string(f.put_token("600").payload());
  token[10] = token[10] == 'x' ? 'y' : 'x';
  CHECK(f.get("/latest/meta-data/instance-id", token).status == 401);

  // Issued for another instance at another address.
  auto other = base_record();
  other.instance_id = "i-00000000000000001";
  other.ip = "198.18.0.11";
  auto two = Snapshot::build({base_record(), other}, 1);
  imds::Request put;
  put.method = imds::Method::kPut;
  put.target = "/latest/api/token";
  put.ttl = "600";
  put.caller = *IpKey::parse("198.18.0.11");
  auto foreign = imds::respond(put, *two, f.tokens, kNow);
  REQUIRE(foreign.status == 200);
  imds::Request get;
  get.target = "/latest/meta-data/instance-id";
  get.token = foreign.payload();
  get.caller = kVm;
  CHECK(imds::respond(get, *two, f.tokens, kNow).status == 401);
}

TEST_CASE("an expired token is 401") {
  Fixture f;
  auto token = f.tokens.issue(kVm, "i-0123456789abcdef0", 1, kNow - 5);
  CHECK(f.get("/latest/meta-data/instance-id", token).status == 401);
}

TEST_CASE("http_tokens=required: 401 without a token, 200 with one") {
  auto record = base_record();
  record.metadata_options.http_tokens = HttpTokens::kRequired;
  Fixture f(record);
  CHECK(f.get("/latest/meta-data/instance-id").status == 401);
  CHECK(f.get("/").status == 401);
  auto token = std::string(f.put_token("60").payload());
  CHECK(f.get("/latest/meta-data/instance-id", token).status == 200);
}

TEST_CASE("http_endpoint=disabled: 403 on everything, token PUT included") {
  auto record = base_record();
  record.metadata_options.http_endpoint_enabled = false;
  Fixture f(record);
  CHECK(f.get("/latest/meta-data/instance-id").status == 403);
  CHECK(f.get("/").status == 403);
  CHECK(f.get("/latest/user-data").status == 403);
  CHECK(f.put_token("60").status == 403);
}

TEST_CASE("HEAD answers like GET (the HTTP layer drops the body)") {
  Fixture f;
  auto r = f.get("/latest/meta-data/instance-id", std::nullopt, kVm, imds::Method::kHead);
  CHECK(r.status == 200);
  CHECK(r.payload() == "i-0123456789abcdef0");
}

TEST_CASE("split_target collapses slashes and keeps the trailing-slash note") {
  std::string scratch;
  auto t = imds::split_target("//latest//meta-data///placement/", scratch);
  CHECK(t.version == "latest");
  CHECK(t.path == "meta-data/placement");
  CHECK(t.trailing_slash);
  t = imds::split_target("/", scratch);
  CHECK(t.version.empty());
  CHECK(t.path.empty());
  t = imds::split_target("/latest/user-data?x=/y", scratch);
  CHECK(t.version == "latest");
  CHECK(t.path == "user-data");
}

TEST_CASE("split_target: a plain target and its doubled-slash form split alike") {
  // Plain targets are split in place, the others through the scratch copy: both must agree.
  for (const std::string plain :
       {"/latest", "/latest/", "/latest/meta-data", "/latest/meta-data/",
        "/latest/meta-data/instance-id", "/2021-07-15/meta-data/placement/availability-zone/",
        "/latest/api/token", "/latest/dynamic/instance-identity/document?x=1", "/x/y/z/",
        "latest/meta-data"}) {
    CAPTURE(plain);
    std::string doubled;
    for (char c : plain) doubled += c == '/' ? std::string("//") : std::string(1, c);
    std::string scratch_a, scratch_b;
    const auto a = imds::split_target(plain, scratch_a);
    const auto b = imds::split_target(doubled, scratch_b);
    CHECK(a.version == b.version);
    CHECK(a.path == b.path);
    CHECK(a.trailing_slash == b.trailing_slash);
  }
  std::string scratch;
  const auto t = imds::split_target("/latest/meta-data/instance-id", scratch);
  CHECK(t.version == "latest");
  CHECK(t.path == "meta-data/instance-id");
  CHECK_FALSE(t.trailing_slash);
}

TEST_CASE("split_target: the path ends at '?' or '#', and slashes after it do not count") {
  std::string scratch;
  for (const std::string target :
       {"/latest/meta-data/instance-id?a=//b", "/latest/meta-data/instance-id#x//y",
        "/latest/meta-data/instance-id?#", "/latest/meta-data/instance-id?/"}) {
    CAPTURE(target);
    const auto t = imds::split_target(target, scratch);
    CHECK(t.version == "latest");
    CHECK(t.path == "meta-data/instance-id");
    CHECK_FALSE(t.trailing_slash);
  }
  const auto doubled = imds::split_target("/latest//meta-data/?x", scratch);
  CHECK(doubled.version == "latest");
  CHECK(doubled.path == "meta-data");
  CHECK(doubled.trailing_slash);
  const auto only_query = imds::split_target("?/latest/meta-data", scratch);
  CHECK(only_query.version.empty());
  CHECK(only_query.path.empty());
}
