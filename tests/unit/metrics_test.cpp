// /metrics without sockets: the text exposition (escaping, histogram buckets, HELP/TYPE), the
// per-thread shard's bookkeeping, and the route classes and token-rejection reasons that
// imds::respond reports for it.
#include "cloudmeta/metrics.hpp"

#include <doctest/doctest.h>

#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cloudmeta/config.hpp"
#include "cloudmeta/imds.hpp"
#include "cloudmeta/snapshot.hpp"

using namespace cloudmeta;
using namespace std::chrono_literals;

namespace {

constexpr std::int64_t kNow = 1'800'000'000;
const IpKey kVm = *IpKey::parse("198.18.0.10");
const IpKey kStranger = *IpKey::parse("198.18.0.99");

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool has_line(const std::string& text, const std::string& line) {
  for (const auto& l : lines_of(text)) {
    if (l == line) return true;
  }
  return false;
}

struct Fixture {
  explicit Fixture(HttpTokens http_tokens = HttpTokens::kOptional)
      : tokens("unit-test-secret-key-0123456789abcdef") {
    InstanceRecord r;
    r.instance_id = "i-0123456789abcdef0";
    r.ip = "198.18.0.10";
    r.user_data = std::string("#cloud-config\n");
    r.iam.role = "web";
    r.iam.access_key_id = "ASIAEXAMPLE";
    r.iam.secret_access_key = "secret";
    r.iam.token = "session";
    r.iam.expiration = "2099-01-01T00:00:00Z";
    r.metadata_options.http_tokens = http_tokens;
    r.created_at = r.updated_at = "2026-11-22T10:00:00Z";
    snapshot = Snapshot::build({r}, 1);
  }

  imds::Response call(std::string_view target, imds::Method method = imds::Method::kGet,
                      std::optional<std::string_view> token = std::nullopt, IpKey caller = kVm) {
    imds::Request req;
    req.method = method;
    req.target = target;
    req.token = token;
    req.ttl = "60";
    req.caller = caller;
    return imds::respond(req, *snapshot, tokens, kNow);
  }

  std::shared_ptr<const Snapshot> snapshot;
  TokenAuthority tokens;
};

}  // namespace

TEST_CASE("metrics: label values escape backslash, double quote and line feed only") {
  CHECK(metrics::escape_label_value("plain-1.2.3") == "plain-1.2.3");
  CHECK(metrics::escape_label_value("a\\b\"c\nd") == "a\\\\b\\\"c\\nd");
  CHECK(metrics::escape_label_value("tab\there") == "tab\there");
  metrics::Sample s;
  s.version = "1.0 \"beta\"\n\\";
  CHECK(has_line(metrics::render(s), R"(cloudmeta_build_info{version="1.0 \"beta\"\n\\"} 1)"));
}

TEST_CASE("metrics: histogram buckets are cumulative, +Inf equals _count, sum is in seconds") {
  metrics::Sample s;
  s.latency[0] = 1;                           // <= 25 us
  s.latency[1] = 2;                           // <= 50 us
  s.latency[5] = 4;                           // <= 1 ms
  s.latency[metrics::kLatencyBuckets - 1] = 3;  // > 50 ms
  s.latency_sum_ns = 1'500'000'000;
  const std::string text = metrics::render(s);
  const std::string name = "cloudmeta_metadata_request_duration_seconds";
  CHECK(has_line(text, name + R"(_bucket{le="2.5e-05"} 1)"));
  CHECK(has_line(text, name + R"(_bucket{le="5e-05"} 3)"));
  CHECK(has_line(text, name + R"(_bucket{le="0.0001"} 3)"));
  CHECK(has_line(text, name + R"(_bucket{le="0.00025"} 3)"));
  CHECK(has_line(text, name + R"(_bucket{le="0.0005"} 3)"));
  CHECK(has_line(text, name + R"(_bucket{le="0.001"} 7)"));
  CHECK(has_line(text, name + R"(_bucket{le="0.0025"} 7)"));
  CHECK(has_line(text, name + R"(_bucket{le="0.05"} 7)"));
  CHECK(has_line(text, name + R"(_bucket{le="+Inf"} 10)"));
  CHECK(has_line(text, name + "_count 10"));
  CHECK(has_line(text, name + "_sum 1.5"));
  CHECK(has_line(text, "# TYPE " + name + " histogram"));
  // Buckets in increasing order of le, as the format requires.
  std::vector<std::string> order;
  for (const auto& l : lines_of(text)) {
    if (l.rfind(name + "_bucket", 0) == 0) order.push_back(l.substr(l.find("le=")));
  }
  REQUIRE(order.size() == metrics::kLatencyBuckets);
  CHECK(order.front().rfind("le=\"2.5e-05\"", 0) == 0);
  CHECK(order.back().rfind("le=\"+Inf\"", 0) == 0);
}

TEST_CASE("metrics: every family has HELP then TYPE before its samples, counters end in _total") {
  metrics::Sample s;
  s.connections.push_back({"metadata", {3, 10, 1, 2}});
  s.requests[1][0] = 5;
  const std::string text = metrics::render(s);
  std::string family, type;
  bool saw_help = false;
  int families = 0;
  for (const auto& l : lines_of(text)) {
    CAPTURE(l);
    if (l.rfind("# HELP ", 0) == 0) {
      family = l.substr(7, l.find(' ', 7) - 7);
      saw_help = true;
      type.clear();
      ++families;
      continue;
    }
    if (l.rfind("# TYPE ", 0) == 0) {
      REQUIRE(saw_help);
      CHECK(l.substr(7, family.size()) == family);
      type = l.substr(8 + family.size());
      if (type == "counter") CHECK(family.substr(family.size() - 6) == "_total");
      if (type == "gauge") CHECK(family.find("_total") == std::string::npos);
      saw_help = false;
      continue;
    }
    REQUIRE_FALSE(type.empty());
    CHECK(l.rfind(family, 0) == 0);
  }
  CHECK(families == 25);  // every family of metrics::render, none dropped
  CHECK(has_line(text, R"(cloudmeta_identity_signatures_total{result="dropped"} 0)"));
  CHECK(has_line(text, R"(cloudmeta_metadata_requests_total{route="token",status="200"} 5)"));
  CHECK(has_line(text, R"(cloudmeta_metadata_requests_total{route="root",status="404"} 0)"));
  CHECK(text.find("status=\"other\"") == std::string::npos);  // only when something was
  CHECK(has_line(text, R"(cloudmeta_connections_open{surface="metadata"} 3)"));
  CHECK(has_line(text, R"(cloudmeta_connections_accepted_total{surface="metadata"} 10)"));
  CHECK(has_line(text,
                 R"(cloudmeta_connections_refused_total{surface="metadata",reason="max_connections"} 1)"));
  CHECK(has_line(
      text,
      R"(cloudmeta_connections_refused_total{surface="metadata",reason="max_connections_per_source"} 2)"));
  CHECK(text.back() == '\n');
}

TEST_CASE("metrics: a shard counts route x status, outcomes, rejections and latency buckets") {
  metrics::ImdsShard shard;
  imds::Response ok;
  ok.route = imds::Route::kMetaData;
  shard.record(ok, 25us);  // a bound belongs to its own bucket (le: less or equal)
  imds::Response rejected;
  rejected.status = 401;
  rejected.outcome = imds::Outcome::kUnauthorized;
  rejected.route = imds::Route::kCredentials;
  rejected.token_rejection = imds::TokenRejection::kExpired;
  shard.record(rejected, 25001ns);
  imds::Response odd;
  odd.status = 500;
  shard.record(odd, 1s);
  shard.record_refusal(431);
  shard.record_refusal(413);
  shard.record_refusal(400);
  shard.record_refusal(400);

  const auto route = [](imds::Route r) { return static_cast<std::size_t>(r); };
  CHECK(shard.requests[route(imds::Route::kMetaData)][0].value() == 1);
  CHECK(shard.requests[route(imds::Route::kCredentials)][metrics::status_slot(401)].value() == 1);
  CHECK(shard.requests[route(imds::Route::kOther)][metrics::kStatuses.size()].value() == 1);
  CHECK(shard.outcomes[static_cast<std::size_t>(imds::Outcome::kUnauthorized)].value() == 1);
  CHECK(shard.token_rejections[static_cast<std::size_t>(imds::TokenRejection::kExpired)]
            .value() == 1);
  CHECK(shard.latency[0].value() == 1);
  CHECK(shard.latency[1].value() == 1);
  CHECK(shard.latency[metrics::kLatencyBuckets - 1].value() == 1);
  CHECK(shard.latency_sum_ns.value() == 25'000 + 25'001 + 1'000'000'000);
  CHECK(shard.refused[0].value() == 2);
  CHECK(shard.refused[1].value() == 1);
  CHECK(shard.refused[2].value() == 1);
  CHECK(alignof(metrics::ImdsShard) == 64);
}

TEST_CASE("metrics: the registry sums every thread's shard and shows watched connections") {
  metrics::Registry registry;
  imds::Response issued;
  issued.outcome = imds::Outcome::kTokenIssued;
  issued.route = imds::Route::kToken;
  metrics::ImdsShard& mine = registry.imds_shard();
  CHECK(&mine == &registry.imds_shard());  // registered once per thread
  mine.record(issued, 1us);
  std::thread([&registry, &issued, &mine] {
    metrics::ImdsShard& theirs = registry.imds_shard();
    CHECK(&theirs != &mine);
    theirs.record(issued, 1us);
    theirs.record(issued, 1us);
  }).join();
  {
    const auto watch = registry.watch_connections("admin", [] {
      return metrics::ConnectionStats{1, 2, 3, 4};
    });
    const metrics::Sample s = registry.sample();
    CHECK(s.outcomes[static_cast<std::size_t>(imds::Outcome::kTokenIssued)] == 3);
    CHECK(s.requests[static_cast<std::size_t>(imds::Route::kToken)][0] == 3);
    REQUIRE(s.connections.size() == 1);
    CHECK(s.connections[0].name == "admin");
    CHECK(s.connections[0].stats.refused_max_connections_per_source == 4);
    CHECK(has_line(metrics::render(s), "cloudmeta_tokens_issued_total 3"));
  }
  CHECK(registry.sample().connections.empty());  // the watch ended with its handle
  registry.count_store_error(StoreError::Kind::kUnavailable);
  registry.count_refresh_failure();
  const std::string text = metrics::render(registry.sample());
  CHECK(has_line(text, R"(cloudmeta_store_errors_total{kind="unavailable"} 1)"));
  CHECK(has_line(text, R"(cloudmeta_store_errors_total{kind="conflict"} 0)"));
  CHECK(has_line(text, "cloudmeta_snapshot_refresh_failures_total 1"));
}

TEST_CASE("metrics: imds::respond reports the route class, never the raw path") {
  Fixture f;
  CHECK(f.call("/").route == imds::Route::kRoot);
  CHECK(f.call("/latest/").route == imds::Route::kRoot);
  CHECK(f.call("/latest/meta-data/instance-id").route == imds::Route::kMetaData);
  CHECK(f.call("/latest/meta-data").route == imds::Route::kMetaData);
  CHECK(f.call("/latest/meta-data-x").route == imds::Route::kOther);
  CHECK(f.call("/latest/meta-data/iam/security-credentials/web").route ==
        imds::Route::kCredentials);
  CHECK(f.call("/latest/meta-data/iam/security-credentials/").route ==
        imds::Route::kCredentials);
  CHECK(f.call("/latest/meta-data/iam/info").route == imds::Route::kMetaData);
  CHECK(f.call("/latest/user-data").route == imds::Route::kUserData);
  CHECK(f.call("/latest/dynamic/instance-identity/document").route == imds::Route::kDynamic);
  CHECK(f.call("/latest/api/token", imds::Method::kPut).route == imds::Route::kToken);
  CHECK(f.call("/latest/api/token", imds::Method::kPut).outcome == imds::Outcome::kTokenIssued);
  CHECK(f.call("/latest/nothing-here").route == imds::Route::kOther);
  // Unknown callers and refusals keep the class of what they asked for.
  CHECK(f.call("/latest/user-data", imds::Method::kGet, std::nullopt, kStranger).route ==
        imds::Route::kUserData);
  CHECK(imds::route_of("//latest//dynamic/x?y=1") == imds::Route::kDynamic);
  CHECK(imds::route_of("/latest/api/token") == imds::Route::kToken);
}

TEST_CASE("metrics: imds::respond says why a token was refused") {
  Fixture optional;
  const std::string good =
      optional.tokens.issue(kVm, "i-0123456789abcdef0", 60, kNow);
  const auto reason = [&](std::optional<std::string_view> token, Fixture& f) {
    const imds::Response r = f.call("/latest/meta-data/", imds::Method::kGet, token);
    return r.token_rejection;
  };
  CHECK(reason(good, optional) == imds::TokenRejection::kNone);
  CHECK(reason(std::nullopt, optional) == imds::TokenRejection::kNone);
  CHECK(reason("not-a-token", optional) == imds::TokenRejection::kMalformed);
  const std::string old = optional.tokens.issue(kVm, "i-0123456789abcdef0", 1, kNow - 10);
  CHECK(reason(old, optional) == imds::TokenRejection::kExpired);
  const std::string elsewhere = optional.tokens.issue(kStranger, "i-0123456789abcdef0", 60, kNow);
  CHECK(reason(elsewhere, optional) == imds::TokenRejection::kBadSignature);
  const std::string other_instance = optional.tokens.issue(kVm, "i-0fedcba9876543210", 60, kNow);
  CHECK(reason(other_instance, optional) == imds::TokenRejection::kBadSignature);
  Fixture required(HttpTokens::kRequired);
  const imds::Response missing = required.call("/latest/meta-data/");
  CHECK(missing.status == 401);
  CHECK(missing.token_rejection == imds::TokenRejection::kMissing);
}

TEST_CASE("metrics: METRICS_PUBLIC is off by default and takes true/false or 1/0") {
  const auto config = [](std::optional<std::string> value) {
    return Config::from_env([value](std::string_view name) -> std::optional<std::string> {
      if (name == "METRICS_PUBLIC") return value;
      return std::nullopt;
    });
  };
  CHECK_FALSE(config(std::nullopt).metrics_public);
  CHECK(config("true").metrics_public);
  CHECK(config("TRUE").metrics_public);
  CHECK(config("1").metrics_public);
  CHECK_FALSE(config("false").metrics_public);
  CHECK_FALSE(config("0").metrics_public);
  CHECK_THROWS_AS(config("yes"), ConfigError);
  CHECK(config("true").describe().find("METRICS_PUBLIC=true") != std::string::npos);
  CHECK(environment_help().find("METRICS_PUBLIC") != std::string::npos);
}

TEST_CASE("metrics: address learning is counted by result") {
  metrics::Sample s;
  s.address_learning[static_cast<std::size_t>(metrics::LearnResult::kLearned)] = 3;
  s.address_learning[static_cast<std::size_t>(metrics::LearnResult::kDropped)] = 2;
  const std::string text = metrics::render(s);
  CHECK(has_line(text, R"(cloudmeta_address_learning_total{result="learned"} 3)"));
  CHECK(has_line(text, R"(cloudmeta_address_learning_total{result="dropped"} 2)"));
  CHECK(has_line(text, R"(cloudmeta_address_learning_total{result="refused"} 0)"));
  CHECK(has_line(text, R"(cloudmeta_address_learning_total{result="rate_limited"} 0)"));
  CHECK(has_line(text, R"(cloudmeta_address_learning_total{result="failed"} 0)"));
}
