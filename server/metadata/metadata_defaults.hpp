// AWS-like defaults for the fields an InstanceRecord leaves empty, so that a record holding only
// instance_id and ip still renders a tree that cloud-init, botocore and the SDKs accept. Every
// default is a pure function of the record (no clock, no randomness), so a record renders to the
// same bytes on every host and after every restart; docs/metadata.md lists them.
// Private to server/metadata/ (metadata_tree.cpp, identity_document.cpp). Thread-safe; throws nothing
// except std::bad_alloc.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cloudmeta/instance_record.hpp"

namespace cloudmeta::defaults {

// Constants for fields with nothing to derive them from. The AMI and account are all-zero
// placeholders of the right shape (17 hex digits, 12 decimal digits) so they are recognisably
// not real AWS resources while still passing clients' format checks.
inline constexpr std::string_view kRegion = "us-east-1";
inline constexpr std::string_view kAccountId = "000000000000";
inline constexpr std::string_view kAmiId = "ami-00000000000000000";
inline constexpr std::string_view kAmiManifestPath = "(unknown)";  // AWS's value for EBS AMIs
inline constexpr std::string_view kInstanceType = "t3.micro";
inline constexpr std::string_view kArchitecture = "x86_64";
inline constexpr std::string_view kInstanceLifeCycle = "on-demand";
inline constexpr std::string_view kInstanceAction = "none";
inline constexpr std::string_view kRootDevice = "/dev/xvda";  // Nitro/Xen HVM root volume name
inline constexpr std::string_view kSecurityGroup = "default";

// "<prefix>" + the first 17 hex digits of SHA-256(prefix + seed): the shape of current AWS
// resource ids (r-, eni-, vpc-, subnet-, sg-). Hashing the prefix in keeps ids of different
// kinds derived from the same seed unrelated.
std::string derived_id(std::string_view prefix, std::string_view seed);

// "0e:" + the first 5 bytes of SHA-256(instance_id), lowercase. 0x0e is a locally administered
// unicast first octet, as on real ENIs (AWS MACs look like 0e:49:61:0f:c3:11).
std::string mac_address(std::string_view instance_id);

// Region: the availability zone minus its trailing letter (how botocore and cloud-init read
// it), else us-east-1.
std::string region(std::string_view availability_zone);

// Availability zone: <region> + "a".
std::string availability_zone(std::string_view region);

// AWS zone-id style: "use1-az1" for us-east-1a, "apne1-az2" for ap-northeast-1b, "usgw1-az1"
// for us-gov-west-1a. Real AWS shuffles zone letters per account; we map a->1, b->2, ... so the
// id is stable; a zone that is not <region><letter> counts as zone 1. A region without the
// usual <area>-<direction>-<n> shape keeps its letters and digits ("local1-az1").
std::string availability_zone_id(std::string_view region, std::string_view availability_zone);

// services/partition: aws-cn for cn-*, aws-us-gov for us-gov-*, else aws.
std::string_view partition(std::string_view region);
// services/domain: amazonaws.com.cn in the China partition, else amazonaws.com.
std::string_view service_domain(std::string_view region);

// AWS IP-based private DNS name: ip-10-0-0-1.ec2.internal in us-east-1,
// ip-10-0-0-1.<region>.compute.internal elsewhere.
std::string ip_based_hostname(std::string_view ipv4, std::string_view region);
// AWS resource-based name, the only kind an IPv6-only instance has:
// <instance-id>.ec2.internal in us-east-1, <instance-id>.<region>.compute.internal elsewhere.
std::string resource_based_hostname(std::string_view instance_id, std::string_view region);

// The network of `prefix_len` bits containing an IPv4 address: ("10.1.2.3", 24) ->
// "10.1.2.0/24". Empty if `ipv4` is not an IPv4 literal.
std::string ipv4_network(std::string_view ipv4, int prefix_len);

// "AIPA" + 17 characters of base32 (A-Z, 2-7) of SHA-256(account + ":" + role): the shape of
// an IAM instance-profile unique id.
std::string instance_profile_id(std::string_view account_id, std::string_view role);

// RFC 3339 UTC ("2024-05-01T10:20:30.123Z", "2024-05-01T10:20:30+00:00") -> the
// YYYY-MM-DDTHH:MM:SSZ form AWS prints; nullopt for an empty or unparsable value (AWS prints
// null rather than an invented time).
std::optional<std::string> aws_timestamp(std::string_view rfc3339);

// Every value render() prints, with the record's own value where set and the default
// otherwise. Fields that AWS omits (404) rather than defaults stay empty.
struct Effective {
  std::string region;
  std::string availability_zone;
  std::string availability_zone_id;
  std::string account_id;
  std::string ami_id;
  std::string ami_manifest_path;
  std::string instance_type;
  std::string instance_life_cycle;
  std::string instance_action;
  std::string architecture;
  std::string reservation_id;

  std::string local_ipv4;          // empty on an IPv6-only record
  std::vector<std::string> ipv6s;  // record.ipv6s, else [ip] when ip is IPv6
  std::string hostname;
  std::string local_hostname;
  std::string mac;

  std::string interface_id;
  std::string vpc_id;
  std::string vpc_ipv4_cidr_block;     // empty without an IPv4
  std::string subnet_ipv4_cidr_block;  // empty without an IPv4
  std::string subnet_id;
  std::vector<std::string> security_groups;
  std::vector<std::string> security_group_ids;
};

// Resolves every default for a validated record. Order matters and is fixed: region from the
// AZ, hostnames from the region, VPC from account+region, subnet from VPC+CIDR, groups from VPC.
Effective resolve(const InstanceRecord& record);

}  // namespace cloudmeta::defaults
