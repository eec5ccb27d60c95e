#include "cloudmeta/token_authority.hpp"

#include <doctest/doctest.h>

#include <set>
#include <thread>
#include <vector>

#include "imds/verified_token_memo.hpp"

using cloudmeta::IpKey;
using cloudmeta::TokenAuthority;
using cloudmeta::TokenCheck;
using cloudmeta::VerifiedTokenMemo;

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

// verify() remembers accepted tokens per thread (server/imds/verified_token_memo.hpp). A remembered
// token must get exactly the verdict the full check gives, whatever changed since.
TEST_CASE("a token verified once is remembered, and only for what it was verified for") {
  TokenAuthority auth(kKey);
  auto token = auth.issue(kVm, "i-0123456789abcdef0", 60, kNow);
  REQUIRE(auth.verify(token, kVm, "i-0123456789abcdef0", kNow).check == TokenCheck::kValid);

  const auto hits = VerifiedTokenMemo::hits_on_this_thread();
  auto again = auth.verify(token, kVm, "i-0123456789abcdef0", kNow + 20);
  CHECK(again.check == TokenCheck::kValid);
  CHECK(again.remaining_seconds == 40);
  CHECK(VerifiedTokenMemo::hits_on_this_thread() == hits + 1);

  // Everything the HMAC binds still refuses, with the remembered slot in place.
  CHECK(auth.verify(token, kOtherVm, "i-0123456789abcdef0", kNow).check ==
        TokenCheck::kBadSignature);
  CHECK(auth.verify(token, kVm, "i-0123456789abcdef1", kNow).check == TokenCheck::kBadSignature);
  CHECK(auth.verify(token, kVm, "i-0123456789abcdef", kNow).check == TokenCheck::kBadSignature);
  TokenAuthority other_key("another-secret-key-of-enough-length-000");
  CHECK(other_key.verify(token, kVm, "i-0123456789abcdef0", kNow).check ==
        TokenCheck::kBadSignature);
  // The expiry is checked against the clock at every use, remembered or not.
  CHECK(auth.verify(token, kVm, "i-0123456789abcdef0", kNow + 60).check == TokenCheck::kExpired);
  CHECK(auth.verify(token, kVm, "i-0123456789abcdef0", kNow + 59).check == TokenCheck::kValid);
  CHECK(VerifiedTokenMemo::hits_on_this_thread() == hits + 3);

  // A token differing in any one character is not the remembered one.
  for (std::size_t i = 0; i < token.size(); ++i) {
    auto t = token;
    t[i] = t[i] == 'A' ? 'B' : 'A';
    CAPTURE(i);
    CHECK(auth.verify(t, kVm, "i-0123456789abcdef0", kNow).check != TokenCheck::kValid);
  }
  CHECK(VerifiedTokenMemo::hits_on_this_thread() == hits + 3);
}

TEST_CASE("a rejected token is never remembered") {
  TokenAuthority auth(kKey);
  auto token = auth.issue(kVm, "i-12345678", 60, kNow);
  const auto hits = VerifiedTokenMemo::hits_on_this_thread();
  CHECK(auth.verify(token, kOtherVm, "i-12345678", kNow).check == TokenCheck::kBadSignature);
  CHECK(auth.verify(token, kOtherVm, "i-12345678", kNow).check == TokenCheck::kBadSignature);
  CHECK(auth.verify(token, kVm, "i-12345678", kNow + 61).check == TokenCheck::kExpired);
  CHECK(auth.verify(token, kVm, "i-12345678", kNow + 61).check == TokenCheck::kExpired);
  CHECK(VerifiedTokenMemo::hits_on_this_thread() == hits);
}

TEST_CASE("the memo holds many guests' tokens at once and evicts by slot, never wrongly") {
  TokenAuthority auth(kKey);
  std::vector<std::pair<IpKey, std::string>> guests;
  for (int i = 0; i < 3000; ++i) {
    auto ip = IpKey::from_v4({198, 18, static_cast<std::uint8_t>(i / 256),
                              static_cast<std::uint8_t>(i % 256)});
    guests.emplace_back(ip, auth.issue(ip, "i-12345678", 600, kNow));
    REQUIRE(auth.verify(guests.back().second, ip, "i-12345678", kNow).check == TokenCheck::kValid);
  }
  // More guests than slots: each slot remembers its last one (asked first here, newest first),
  // all still verify, none verifies for another.
  const auto hits = VerifiedTokenMemo::hits_on_this_thread();
  for (std::size_t i = guests.size(); i-- > 0;) {
    CHECK(auth.verify(guests[i].second, guests[i].first, "i-12345678", kNow).check ==
          TokenCheck::kValid);
    const auto& neighbour = guests[(i + 1) % guests.size()].first;
    CHECK(auth.verify(guests[i].second, neighbour, "i-12345678", kNow).check ==
          TokenCheck::kBadSignature);
  }
  const auto remembered = VerifiedTokenMemo::hits_on_this_thread() - hits;
  CHECK(remembered > VerifiedTokenMemo::kSlots / 2);  // ~95 % of slots are taken by 3,000
  CHECK(remembered <= VerifiedTokenMemo::kSlots);
}

TEST_CASE("each thread keeps its own memo") {
  TokenAuthority auth(kKey);
  auto token = auth.issue(kVm, "i-12345678", 60, kNow);
  REQUIRE(auth.verify(token, kVm, "i-12345678", kNow).check == TokenCheck::kValid);
  std::uint64_t hits_there = 99;
  TokenCheck there = TokenCheck::kMalformed;
  std::thread([&] {
    there = auth.verify(token, kVm, "i-12345678", kNow).check;  // full check: a miss there
    hits_there = VerifiedTokenMemo::hits_on_this_thread();
  }).join();
  CHECK(there == TokenCheck::kValid);
  CHECK(hits_there == 0);
}
