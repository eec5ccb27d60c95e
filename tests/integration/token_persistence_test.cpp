// IMDSv2 tokens are derived from SECRET_KEY, not from process memory (architecture §3.2): they
// survive a restart, and every host sharing the key accepts them.
#include <doctest/doctest.h>

#include <string>

#include "deployment.hpp"

using namespace cloudmeta::testing;

namespace {

constexpr char kVm[] = "127.0.0.31";
constexpr char kId[] = "i-0a1b2c3d4e5f60718";
constexpr char kTokenHeader[] = "X-aws-ec2-metadata-token";
constexpr char kSharedKey[] = "integration-shared-secret-key-0123456789abcdef";

int get_with_token(Deployment& d, const std::string& token) {
  return d.imds_get(kVm, "/latest/meta-data/instance-id", {{kTokenHeader, token}}).status;
}

}  // namespace

TEST_CASE("imds wire: a token survives a restart with a generated SECRET_KEY") {
  Deployment d;  // no SECRET_KEY: generated on first start and kept in the database
  d.start();
  d.create_instance(instance_record(kId, kVm));
  const std::string token = d.imds_token(kVm);
  CHECK(get_with_token(d, token) == 200);
  CHECK(d.stop() == 0);

  d.start();
  CHECK(get_with_token(d, token) == 200);
  CHECK(d.imds_get(kVm, "/latest/meta-data/instance-id").body == kId);  // records persisted too
  CHECK(d.stop() == 0);
}

TEST_CASE("imds wire: servers sharing SECRET_KEY accept each other's tokens") {
  Deployment a(Environment{{"SECRET_KEY", kSharedKey}});
  Deployment b(Environment{{"SECRET_KEY", kSharedKey}});
  Deployment stranger(Environment{{"SECRET_KEY", std::string(kSharedKey) + "-other"}});
  for (Deployment* d : {&a, &b, &stranger}) {
    d->start();
    d->create_instance(instance_record(kId, kVm));
  }

  const std::string from_a = a.imds_token(kVm);
  const std::string from_b = b.imds_token(kVm);
  CHECK(get_with_token(b, from_a) == 200);
  CHECK(get_with_token(a, from_b) == 200);
  CHECK(get_with_token(stranger, from_a) == 401);

  for (Deployment* d : {&a, &b, &stranger}) CHECK(d->stop() == 0);
}
