#include "cloudmeta/ip_key.hpp"

#include <doctest/doctest.h>

using cloudmeta::Cidr;
using cloudmeta::IpKey;

TEST_CASE("IpKey folds IPv4-mapped IPv6 into IPv4") {
  auto a = IpKey::parse("10.0.0.1");
  auto b = IpKey::parse("::ffff:10.0.0.1");
  REQUIRE(a);
  REQUIRE(b);
  CHECK(*a == *b);
  CHECK(a->is_v4());
  CHECK(b->to_string() == "10.0.0.1");
}

TEST_CASE("IpKey canonicalises IPv6 text") {
  auto a = IpKey::parse("FD00:EC2:0:0::254");
  REQUIRE(a);
  CHECK_FALSE(a->is_v4());
  CHECK(a->to_string() == "fd00:ec2::254");
}

TEST_CASE("IpKey refuses what is not an address") {
  for (const char* bad : {"", "10.0.0", "10.0.0.256", "host", "10.0.0.1 ", "::g", "1.2.3.4/8",
                          "0123456789012345678901234567890123456789012345678"}) {
    CAPTURE(bad);
    CHECK_FALSE(IpKey::parse(bad));
  }
}

TEST_CASE("Cidr matches v4 and v6 prefixes") {
  auto net = Cidr::parse("198.18.0.0/15");
  REQUIRE(net);
  CHECK(net->contains(*IpKey::parse("198.19.255.1")));
  CHECK(net->contains(*IpKey::parse("::ffff:198.18.0.9")));
  CHECK_FALSE(net->contains(*IpKey::parse("198.20.0.1")));
  CHECK_FALSE(net->contains(*IpKey::parse("fd00::1")));

  auto host = Cidr::parse("127.0.0.2");
  REQUIRE(host);
  CHECK(host->contains(*IpKey::parse("127.0.0.2")));
  CHECK_FALSE(host->contains(*IpKey::parse("127.0.0.3")));

  auto v6 = Cidr::parse("fd00:ec2::/32");
  REQUIRE(v6);
  CHECK(v6->contains(*IpKey::parse("fd00:ec2::254")));
  CHECK_FALSE(v6->contains(*IpKey::parse("fd00:ec3::254")));

  auto all = Cidr::parse("0.0.0.0/0");
  REQUIRE(all);
  CHECK(all->contains(*IpKey::parse("8.8.8.8")));
  CHECK_FALSE(all->contains(*IpKey::parse("::1")));
}

TEST_CASE("Cidr refuses bad prefixes") {
  for (const char* bad : {"10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "fd00::/129", "x/8", "10.0.0.0/8a"}) {
    CAPTURE(bad);
    CHECK_FALSE(Cidr::parse(bad));
  }
}

TEST_CASE("parse_cidr_list accepts commas and spaces, refuses any bad entry") {
  auto list = cloudmeta::parse_cidr_list("10.0.0.0/8, 192.168.1.1 fd00::/8");
  REQUIRE(list);
  CHECK(list->size() == 3);
  CHECK(cloudmeta::parse_cidr_list("")->empty());
  CHECK_FALSE(cloudmeta::parse_cidr_list("10.0.0.0/8,nope"));
}
