#include "cloudmeta/caller_identity.hpp"

#include <doctest/doctest.h>

using cloudmeta::Cidr;
using cloudmeta::identify_caller;
using cloudmeta::IpKey;

namespace {
IpKey ip(const char* s) { return *IpKey::parse(s); }
}  // namespace

TEST_CASE("without trusted proxies the peer is the caller and XFF marks the request forwarded") {
  auto id = identify_caller(ip("198.18.0.5"), "10.9.9.9", "10.8.8.8", {});
  CHECK(id.caller == ip("198.18.0.5"));
  CHECK(id.forwarded);
  CHECK_FALSE(identify_caller(ip("198.18.0.5"), std::nullopt, "10.8.8.8", {}).forwarded);
}

TEST_CASE("an untrusted peer cannot speak for another VM") {
  std::vector<Cidr> trusted = {*Cidr::parse("127.0.0.0/8")};
  auto id = identify_caller(ip("198.18.0.5"), "198.18.0.6", "198.18.0.6", trusted);
  CHECK(id.caller == ip("198.18.0.5"));
  CHECK(id.forwarded);
}

TEST_CASE("a trusted proxy's X-Forwarded-For names the caller: rightmost untrusted entry") {
  std::vector<Cidr> trusted = {*Cidr::parse("127.0.0.0/8"), *Cidr::parse("10.0.0.0/8")};
  auto id = identify_caller(ip("127.0.0.1"), "6.6.6.6, 198.18.0.7, 10.1.1.1", std::nullopt, trusted);
  CHECK(id.caller == ip("198.18.0.7"));
  CHECK_FALSE(id.forwarded);
}

TEST_CASE("a trusted proxy's X-Real-IP is used when there is no X-Forwarded-For") {
  std::vector<Cidr> trusted = {*Cidr::parse("127.0.0.1")};
  CHECK(identify_caller(ip("127.0.0.1"), std::nullopt, " 198.18.0.8 ", trusted).caller ==
        ip("198.18.0.8"));
  CHECK(identify_caller(ip("127.0.0.1"), std::nullopt, "garbage", trusted).caller ==
        ip("127.0.0.1"));
}
