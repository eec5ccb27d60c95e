// Every AWS-like default render() uses. Hash-derived expectations were computed independently
// (Python hashlib/base64) from the rule documented in metadata_defaults.hpp.
#include "metadata/metadata_defaults.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace defaults = cloudmeta::defaults;
using cloudmeta::InstanceRecord;

namespace {

InstanceRecord minimal(std::string ip = "10.0.0.1") {
  InstanceRecord r;
  r.instance_id = "i-0123456789abcdef0";
  r.ip = std::move(ip);
  return r;
}

}  // namespace

TEST_CASE("derived ids: prefix + 17 hex digits of SHA-256(prefix + seed)") {
  CHECK(defaults::derived_id("r-", "i-0123456789abcdef0") == "r-e56aff8caa5075afb");
  CHECK(defaults::derived_id("eni-", "i-0123456789abcdef0") == "eni-07b7c6a3c689d3d5a");
  CHECK(defaults::derived_id("vpc-", "000000000000/us-east-1") == "vpc-cd56226fb646c725f");
  // Same seed, different kind: unrelated ids.
  CHECK(defaults::derived_id("r-", "x").substr(2) != defaults::derived_id("sg-", "x").substr(3));
}

TEST_CASE("mac: 0e + first five bytes of SHA-256(instance_id)") {
  CHECK(defaults::mac_address("i-0123456789abcdef0") == "0e:57:df:73:29:1f");
  CHECK(defaults::mac_address("i-0123456789abcdef1") != "0e:57:df:73:29:1f");
}

TEST_CASE("region and availability zone") {
  struct Case {
    std::string az, region;
  };
  for (const Case& c : std::vector<Case>{{"", "us-east-1"},
                                         {"eu-west-2c", "eu-west-2"},
                                         {"us-gov-west-1a", "us-gov-west-1"},
                                         {"x", "us-east-1"}}) {
    CAPTURE(c.az);
    CHECK(defaults::region(c.az) == c.region);
  }
  CHECK(defaults::availability_zone("ap-south-1") == "ap-south-1a");
}

TEST_CASE("availability zone id in AWS's abbreviation") {
  struct Case {
    std::string region, az, id;
  };
  for (const Case& c : std::vector<Case>{
           {"us-east-1", "us-east-1a", "use1-az1"},
           {"us-east-1", "us-east-1d", "use1-az4"},
           {"us-west-2", "us-west-2b", "usw2-az2"},
           {"ap-northeast-1", "ap-northeast-1c", "apne1-az3"},
           {"ap-southeast-2", "ap-southeast-2a", "apse2-az1"},
           {"eu-central-1", "eu-central-1a", "euc1-az1"},
           {"cn-northwest-1", "cn-northwest-1b", "cnnw1-az2"},
           {"us-gov-west-1", "us-gov-west-1a", "usgw1-az1"},
           {"local-1", "local-1a", "local1-az1"},          // not AWS's shape: letters and digits
           {"us-east-1", "us-east-1-bos-1a", "use1-az1"},  // not <region><letter>: zone 1
           {"us-east-1", "eu-west-1c", "use1-az1"},
       }) {
    CAPTURE(c.az);
    CHECK(defaults::availability_zone_id(c.region, c.az) == c.id);
  }
}

TEST_CASE("partition and service domain from the region") {
  struct Case {
    std::string region, partition, domain;
  };
  for (const Case& c : std::vector<Case>{
           {"us-east-1", "aws", "amazonaws.com"},
           {"eu-west-1", "aws", "amazonaws.com"},
           {"cn-north-1", "aws-cn", "amazonaws.com.cn"},
           {"us-gov-east-1", "aws-us-gov", "amazonaws.com"},
       }) {
    CAPTURE(c.region);
    CHECK(defaults::partition(c.region) == c.partition);
    CHECK(defaults::service_domain(c.region) == c.domain);
  }
}

TEST_CASE("private DNS names") {
  CHECK(defaults::ip_based_hostname("10.0.0.1", "us-east-1") == "ip-10-0-0-1.ec2.internal");
  CHECK(defaults::ip_based_hostname("172.31.5.20", "eu-west-1") ==
        "ip-172-31-5-20.eu-west-1.compute.internal");
  CHECK(defaults::resource_based_hostname("i-0123456789abcdef0", "us-east-1") ==
        "i-0123456789abcdef0.ec2.internal");
  CHECK(defaults::resource_based_hostname("i-0123456789abcdef0", "eu-west-1") ==
        "i-0123456789abcdef0.eu-west-1.compute.internal");
}

TEST_CASE("ipv4_network") {
  struct Case {
    std::string ip;
    int prefix;
    std::string net;
  };
  for (const Case& c : std::vector<Case>{{"10.1.2.3", 24, "10.1.2.0/24"},
                                         {"10.1.2.3", 16, "10.1.0.0/16"},
                                         {"198.19.255.77", 20, "198.19.240.0/20"},
                                         {"10.1.2.3", 32, "10.1.2.3/32"},
                                         {"10.1.2.3", 0, "0.0.0.0/0"},
                                         {"fd00::1", 24, ""},
                                         {"", 24, ""},
                                         {"10.1.2.3", 33, ""}}) {
    CAPTURE(c.ip);
    CAPTURE(c.prefix);
    CHECK(defaults::ipv4_network(c.ip, c.prefix) == c.net);
  }
}

TEST_CASE("instance profile id: AIPA + 17 base32 characters") {
  CHECK(defaults::instance_profile_id("000000000000", "web") == "AIPAHZ5E7OFLOBB6A5NKH");
  CHECK(defaults::instance_profile_id("000000000000", "db") != "AIPAHZ5E7OFLOBB6A5NKH");
}

TEST_CASE("aws_timestamp normalises RFC 3339 UTC") {
  struct Case {
    std::string in;
    std::optional<std::string> out;
  };
  for (const Case& c : std::vector<Case>{
           {"2024-05-01T10:20:30Z", "2024-05-01T10:20:30Z"},
           {"2024-05-01T10:20:30.123456Z", "2024-05-01T10:20:30Z"},
           {"2024-05-01t10:20:30+00:00", "2024-05-01T10:20:30Z"},
           {"", std::nullopt},
           {"2024-05-01", std::nullopt},
           {"2024-05-01 10:20:30", std::nullopt},
           {"yesterday at noon!!", std::nullopt},
       }) {
    CAPTURE(c.in);
    CHECK(defaults::aws_timestamp(c.in) == c.out);
  }
}

TEST_CASE("resolve: a minimal IPv4 record gets every default") {
  const defaults::Effective e = defaults::resolve(minimal());
  CHECK(e.region == "us-east-1");
  CHECK(e.availability_zone == "us-east-1a");
  CHECK(e.availability_zone_id == "use1-az1");
  CHECK(e.account_id == "000000000000");
  CHECK(e.ami_id == "ami-00000000000000000");
  CHECK(e.ami_manifest_path == "(unknown)");
  CHECK(e.instance_type == "t3.micro");
  CHECK(e.instance_life_cycle == "on-demand");
  CHECK(e.instance_action == "none");
  CHECK(e.architecture == "x86_64");
  CHECK(e.reservation_id == "r-e56aff8caa5075afb");
  CHECK(e.local_ipv4 == "10.0.0.1");
  CHECK(e.ipv6s.empty());
  CHECK(e.hostname == "ip-10-0-0-1.ec2.internal");
  CHECK(e.local_hostname == "ip-10-0-0-1.ec2.internal");
  CHECK(e.mac == "0e:57:df:73:29:1f");
  CHECK(e.interface_id == "eni-07b7c6a3c689d3d5a");
  CHECK(e.vpc_id == "vpc-cd56226fb646c725f");
  CHECK(e.subnet_ipv4_cidr_block == "10.0.0.0/24");
  CHECK(e.vpc_ipv4_cidr_block == "10.0.0.0/16");
  CHECK(e.subnet_id == "subnet-c4a13b10feb9a7749");
  CHECK(e.security_groups == std::vector<std::string>{"default"});
  CHECK(e.security_group_ids == std::vector<std::string>{"sg-ee8b0ea1fa12f6d58"});
}

TEST_CASE("resolve: record values win over defaults") {
  InstanceRecord r = minimal();
  r.region = "eu-west-1";
  r.availability_zone = "eu-west-1b";
  r.availability_zone_id = "euw1-az3";
  r.account_id = "123456789012";
  r.ami_id = "ami-1";
  r.ami_manifest_path = "bucket/image.manifest.xml";
  r.instance_type = "m5.large";
  r.instance_life_cycle = "spot";
  r.instance_action = "shutdown";
  r.architecture = "arm64";
  r.reservation_id = "r-1";
  r.local_ipv4 = "10.9.8.7";
  r.mac = "02:00:00:00:00:01";
  r.interface_id = "eni-1";
  r.vpc_id = "vpc-1";
  r.subnet_id = "subnet-1";
  r.subnet_ipv4_cidr_block = "10.9.8.0/25";
  r.vpc_ipv4_cidr_block = "10.0.0.0/8";
  r.security_groups = {"web", "ssh"};
  r.security_group_ids = {"sg-1", "sg-2"};
  r.ipv6s = {"2001:db8::1"};
  const defaults::Effective e = defaults::resolve(r);
  CHECK(e.region == "eu-west-1");
  CHECK(e.availability_zone == "eu-west-1b");
  CHECK(e.availability_zone_id == "euw1-az3");
  CHECK(e.account_id == "123456789012");
  CHECK(e.ami_id == "ami-1");
  CHECK(e.ami_manifest_path == "bucket/image.manifest.xml");
  CHECK(e.instance_type == "m5.large");
  CHECK(e.instance_life_cycle == "spot");
  CHECK(e.instance_action == "shutdown");
  CHECK(e.architecture == "arm64");
  CHECK(e.reservation_id == "r-1");
  CHECK(e.local_ipv4 == "10.9.8.7");
  CHECK(e.hostname == "ip-10-9-8-7.eu-west-1.compute.internal");  // from local_ipv4, not ip
  CHECK(e.mac == "02:00:00:00:00:01");
  CHECK(e.interface_id == "eni-1");
  CHECK(e.vpc_id == "vpc-1");
  CHECK(e.subnet_id == "subnet-1");
  CHECK(e.subnet_ipv4_cidr_block == "10.9.8.0/25");
  CHECK(e.vpc_ipv4_cidr_block == "10.0.0.0/8");
  CHECK(e.security_groups == std::vector<std::string>{"web", "ssh"});
  CHECK(e.security_group_ids == std::vector<std::string>{"sg-1", "sg-2"});
  CHECK(e.ipv6s == std::vector<std::string>{"2001:db8::1"});
}

TEST_CASE("resolve: region and zone follow each other") {
  InstanceRecord r = minimal();
  r.availability_zone = "ap-northeast-1c";
  defaults::Effective e = defaults::resolve(r);
  CHECK(e.region == "ap-northeast-1");
  CHECK(e.availability_zone_id == "apne1-az3");
  CHECK(e.hostname == "ip-10-0-0-1.ap-northeast-1.compute.internal");

  r.availability_zone.clear();
  r.region = "sa-east-1";
  e = defaults::resolve(r);
  CHECK(e.availability_zone == "sa-east-1a");
  CHECK(e.availability_zone_id == "sae1-az1");
  // The default VPC id depends on account and region.
  CHECK(e.vpc_id == defaults::derived_id("vpc-", "000000000000/sa-east-1"));
}

TEST_CASE("resolve: hostname and local-hostname copy each other") {
  struct Case {
    std::string hostname, local_hostname, want_hostname, want_local;
  };
  for (const Case& c : std::vector<Case>{
           {"a.example", "", "a.example", "a.example"},
           {"", "b.example", "b.example", "b.example"},
           {"a.example", "b.example", "a.example", "b.example"},
           {"", "", "ip-10-0-0-1.ec2.internal", "ip-10-0-0-1.ec2.internal"},
       }) {
    InstanceRecord r = minimal();
    r.hostname = c.hostname;
    r.local_hostname = c.local_hostname;
    CAPTURE(c.hostname);
    CAPTURE(c.local_hostname);
    const defaults::Effective e = defaults::resolve(r);
    CHECK(e.hostname == c.want_hostname);
    CHECK(e.local_hostname == c.want_local);
  }
}

TEST_CASE("resolve: an IPv6-only record") {
  InstanceRecord r = minimal("fd00:ec2::10");
  r.region = "eu-west-1";
  defaults::Effective e = defaults::resolve(r);
  CHECK(e.local_ipv4.empty());
  CHECK(e.ipv6s == std::vector<std::string>{"fd00:ec2::10"});
  CHECK(e.hostname == "i-0123456789abcdef0.eu-west-1.compute.internal");
  CHECK(e.subnet_ipv4_cidr_block.empty());
  CHECK(e.vpc_ipv4_cidr_block.empty());
  CHECK(e.subnet_id == defaults::derived_id("subnet-", e.vpc_id + "/"));

  r.ipv6s = {"2001:db8::5", "2001:db8::6"};  // explicit list wins over the caller address
  e = defaults::resolve(r);
  CHECK(e.ipv6s == std::vector<std::string>{"2001:db8::5", "2001:db8::6"});
}

TEST_CASE("resolve: the default VPC contains a wider given subnet") {
  InstanceRecord r = minimal("10.20.30.40");
  r.subnet_ipv4_cidr_block = "10.16.0.0/12";
  CHECK(defaults::resolve(r).vpc_ipv4_cidr_block == "10.16.0.0/12");
  r.subnet_ipv4_cidr_block = "10.20.16.0/20";
  CHECK(defaults::resolve(r).vpc_ipv4_cidr_block == "10.20.0.0/16");
}
