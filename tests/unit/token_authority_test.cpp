#include "cloudmeta/token_authority.hpp"

#include <doctest/doctest.h>

#include <set>

using cloudmeta::IpKey;
using cloudmeta::TokenAuthority;
using cloudmeta::TokenCheck;

namespace {
const std::string kKey = "0123456789abcdef0123456789abcdef-test-key";
const IpKey kVm = *IpKey::parse("198.18.0.10");
const IpKey kOtherVm = *IpKey::parse("198.18.0.11");
constexpr std::int64_t kNow = 1'800'000'000;
}  // namespace

TEST_CASE("a token verifies for the caller and instance it was issued to") {
  TokenAuthority auth(kKey);
  auto token = auth.issue(kVm, "i-0123456789abcdef0", 21600, kNow);
  CHECK(token.size() == TokenAuthority::kTokenLength);
  auto v = auth.verify(token, kVm, "i-0123456789abcdef0", kNow + 10);
  CHECK(v.check == TokenCheck::kValid);
  CHECK(v.remaining_seconds == 21590);
}

TEST_CASE("tokens are URL-safe header values and unique") {
  TokenAuthority auth(kKey);
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    auto t = auth.issue(kVm, "i-12345678", 60, kNow);
    for (char c : t) CHECK((std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'));
    seen.insert(t);
  }
  CHECK(seen.size() == 100);
}

TEST_CASE("a token is refused from another address or for another instance") {
  TokenAuthority auth(kKey);
  auto token = auth.issue(kVm, "i-12345678", 60, kNow);
  CHECK(auth.verify(token, kOtherVm, "i-12345678", kNow).check == TokenCheck::kBadSignature);
  CHECK(auth.verify(token, kVm, "i-87654321", kNow).check == TokenCheck::kBadSignature);
}

TEST_CASE("a token expires exactly at its TTL") {
  TokenAuthority auth(kKey);
  auto token = auth.issue(kVm, "i-12345678", 1, kNow);
  CHECK(auth.verify(token, kVm, "i-12345678", kNow).check == TokenCheck::kValid);
  CHECK(auth.verify(token, kVm, "i-12345678", kNow + 1).check == TokenCheck::kExpired);
  CHECK(auth.verify(token, kVm, "i-12345678", kNow + 100000).check == TokenCheck::kExpired);
}

TEST_CASE("tokens survive a restart (same key) and fail with another key") {
  auto token = TokenAuthority(kKey).issue(kVm, "i-12345678", 600, kNow);
  CHECK(TokenAuthority(kKey).verify(token, kVm, "i-12345678", kNow).check == TokenCheck::kValid);
  TokenAuthority other("another-secret-key-of-enough-length-000");
  CHECK(other.verify(token, kVm, "i-12345678", kNow).check == TokenCheck::kBadSignature);
}

TEST_CASE("tampered, truncated or garbage tokens are refused without throwing") {
  TokenAuthority auth(kKey);
  auto token = auth.issue(kVm, "i-12345678", 600, kNow);
  for (std::size_t i = 0; i < token.size(); ++i) {
    auto t = token;
    t[i] = t[i] == 'A' ? 'B' : 'A';
    CAPTURE(i);
    CHECK(auth.verify(t, kVm, "i-12345678", kNow).check != TokenCheck::kValid);
  }
  CHECK(auth.verify("", kVm, "i-12345678", kNow).check == TokenCheck::kMalformed);
  CHECK(auth.verify(token.substr(1), kVm, "i-12345678", kNow).check == TokenCheck::kMalformed);
  CHECK(auth.verify(token + "A", kVm, "i-12345678", kNow).check == TokenCheck::kMalformed);
  CHECK(auth.verify(std::string(66, '*'), kVm, "i-12345678", kNow).check == TokenCheck::kMalformed);
  CHECK(auth.verify(std::string(4096, 'A'), kVm, "i-12345678", kNow).check == TokenCheck::kMalformed);
}
