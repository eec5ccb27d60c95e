#include "metadata/metadata_defaults.hpp"

#include <sodium.h>

#include <array>
#include <charconv>
#include <cstdint>

#include "cloudmeta/ip_key.hpp"

namespace cloudmeta::defaults {
namespace {

using Digest = std::array<unsigned char, crypto_hash_sha256_BYTES>;

// crypto_hash_sha256 needs no sodium_init(): it uses no randomness and no CPU dispatch state.
Digest sha256(std::string_view a, std::string_view b = {}) {
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  crypto_hash_sha256_update(&state, reinterpret_cast<const unsigned char*>(a.data()), a.size());
  crypto_hash_sha256_update(&state, reinterpret_cast<const unsigned char*>(b.data()), b.size());
  Digest digest;
  crypto_hash_sha256_final(&state, digest.data());
  return digest;
}

constexpr char kHex[] = "0123456789abcdef";
constexpr std::size_t kIdHexDigits = 17;  // i-, r-, eni-, vpc-, ... ids since 2016

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_lower(char c) { return c >= 'a' && c <= 'z'; }

// Abbreviations AWS uses in zone ids (use1, apne1, euc1, cnnw1).
std::string_view direction_abbreviation(std::string_view word) {
  struct Pair {
    std::string_view word, abbr;
  };
  static constexpr Pair kDirections[] = {
      {"east", "e"},       {"west", "w"},          {"north", "n"},         {"south", "s"},
      {"central", "c"},    {"northeast", "ne"},    {"northwest", "nw"},    {"southeast", "se"},
      {"southwest", "sw"}, {"northcentral", "nc"}, {"southcentral", "sc"},
  };
  for (const auto& d : kDirections) {
    if (d.word == word) return d.abbr;
  }
  return {};
}

// "us-gov-west-1" -> "usgw1"; empty when the region does not have AWS's shape.
std::string aws_region_abbreviation(std::string_view region) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const auto dash = region.find('-', start);
    parts.push_back(region.substr(start, dash - start));
    if (dash == std::string_view::npos) break;
    start = dash + 1;
  }
  if (parts.size() < 3) return {};
  const auto number = parts.back();
  const auto direction = direction_abbreviation(parts[parts.size() - 2]);
  if (number.empty() || direction.empty()) return {};
  for (char c : number) {
    if (!is_digit(c)) return {};
  }
  std::string out(parts.front());
  // Middle words ("gov", "iso") contribute their initial, as in usgw1 / usge1.
  for (std::size_t i = 1; i + 2 < parts.size(); ++i) {
    if (parts[i].empty()) return {};
    out += parts[i].front();
  }
  out += direction;
  out += number;
  return out;
}

std::string dashed(std::string_view ipv4) {
  std::string out(ipv4);
  for (char& c : out) {
    if (c == '.') c = '-';
  }
  return out;
}

std::string private_dns_suffix(std::string_view region) {
  // AWS keeps the pre-VPC "ec2.internal" domain for us-east-1 only.
  if (region == "us-east-1") return ".ec2.internal";
  std::string out = ".";
  out += region;
  out += ".compute.internal";
  return out;
}

std::optional<int> cidr_prefix(std::string_view cidr) {
  const auto slash = cidr.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  int value = 0;
  const auto* first = cidr.data() + slash + 1;
  const auto* last = cidr.data() + cidr.size();
  auto [ptr, ec] = std::from_chars(first, last, value);
  if (ec != std::errc() || ptr != last) return std::nullopt;
  return value;
}

}  // namespace

std::string derived_id(std::string_view prefix, std::string_view seed) {
  const Digest digest = sha256(prefix, seed);
  std::string out(prefix);
  out.reserve(prefix.size() + kIdHexDigits);
  for (std::size_t i = 0; i < kIdHexDigits; ++i) {
    const unsigned char byte = digest[i / 2];
    out += kHex[i % 2 == 0 ? byte >> 4 : byte & 0x0f];
  }
  return out;
}

std::string mac_address(std::string_view instance_id) {
  const Digest digest = sha256(instance_id);
  std::string out = "0e";
  for (std::size_t i = 0; i < 5; ++i) {
    out += ':';
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0x0f];
  }
  return out;
}

std::string region(std::string_view availability_zone) {
  if (availability_zone.size() < 2) return std::string(kRegion);
  return std::string(availability_zone.substr(0, availability_zone.size() - 1));
}

std::string availability_zone(std::string_view region) {
  std::string out(region);
  out += 'a';
  return out;
}

std::string availability_zone_id(std::string_view region, std::string_view availability_zone) {
  std::string out = aws_region_abbreviation(region);
  if (out.empty()) {
    for (char c : region) {
      if (is_lower(c) || is_digit(c)) out += c;
    }
  }
  int zone_number = 1;
  if (availability_zone.size() == region.size() + 1 && availability_zone.starts_with(region) &&
      is_lower(availability_zone.back())) {
    zone_number = availability_zone.back() - 'a' + 1;
  }
  out += "-az";
  out += std::to_string(zone_number);
  return out;
}

std::string_view partition(std::string_view region) {
  if (region.starts_with("cn-")) return "aws-cn";
  if (region.starts_with("us-gov-")) return "aws-us-gov";
  return "aws";
}

std::string_view service_domain(std::string_view region) {
  return partition(region) == "aws-cn" ? "amazonaws.com.cn" : "amazonaws.com";
}

std::string ip_based_hostname(std::string_view ipv4, std::string_view region) {
  return "ip-" + dashed(ipv4) + private_dns_suffix(region);
}

std::string resource_based_hostname(std::string_view instance_id, std::string_view region) {
  return std::string(instance_id) + private_dns_suffix(region);
}

std::string ipv4_network(std::string_view ipv4, int prefix_len) {
  const auto ip = IpKey::parse(ipv4);
  if (!ip || !ip->is_v4() || prefix_len < 0 || prefix_len > 32) return {};
  const auto& b = ip->bytes();  // v4-mapped: the address is in the last four bytes
  std::uint32_t addr = (std::uint32_t{b[12]} << 24) | (std::uint32_t{b[13]} << 16) |
                       (std::uint32_t{b[14]} << 8) | std::uint32_t{b[15]};
  const std::uint32_t mask = prefix_len == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix_len);
  addr &= mask;
  std::string out;
  for (int shift = 24; shift >= 0; shift -= 8) {
    out += std::to_string((addr >> shift) & 0xff);
    out += shift == 0 ? '/' : '.';
  }
  out += std::to_string(prefix_len);
  return out;
}

std::string instance_profile_id(std::string_view account_id, std::string_view role) {
  static constexpr char kBase32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string seed(account_id);
  seed += ':';
  seed += role;
  const Digest digest = sha256(seed);
  std::string out = "AIPA";
  // 17 characters x 5 bits = 85 bits, read big-endian from the digest.
  for (std::size_t i = 0; i < 17; ++i) {
    const std::size_t bit = i * 5;
    const unsigned two_bytes = (unsigned{digest[bit / 8]} << 8) | digest[bit / 8 + 1];
    out += kBase32[(two_bytes >> (11 - bit % 8)) & 0x1f];
  }
  return out;
}

std::optional<std::string> aws_timestamp(std::string_view rfc3339) {
  // YYYY-MM-DDTHH:MM:SS: digits everywhere except the separators at fixed positions.
  static constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:dd";
  if (rfc3339.size() < kShape.size()) return std::nullopt;
  for (std::size_t i = 0; i < kShape.size(); ++i) {
    const char c = rfc3339[i];
    const bool ok = kShape[i] == 'd' ? is_digit(c) : (c == kShape[i] || (i == 10 && c == 't'));
    if (!ok) return std::nullopt;
  }
  std::string out(rfc3339.substr(0, kShape.size()));
  out[10] = 'T';
  out += 'Z';
  return out;
}

Effective resolve(const InstanceRecord& r) {
  Effective e;
  if (!r.region.empty()) {
    e.region = r.region;
  } else {
    e.region = region(r.availability_zone);
  }
  e.availability_zone =
      r.availability_zone.empty() ? availability_zone(e.region) : r.availability_zone;
  e.availability_zone_id = r.availability_zone_id.empty()
                               ? availability_zone_id(e.region, e.availability_zone)
                               : r.availability_zone_id;
  e.account_id = r.account_id.empty() ? std::string(kAccountId) : r.account_id;
  e.ami_id = r.ami_id.empty() ? std::string(kAmiId) : r.ami_id;
  e.ami_manifest_path =
      r.ami_manifest_path.empty() ? std::string(kAmiManifestPath) : r.ami_manifest_path;
  e.instance_type = r.instance_type.empty() ? std::string(kInstanceType) : r.instance_type;
  e.instance_life_cycle =
      r.instance_life_cycle.empty() ? std::string(kInstanceLifeCycle) : r.instance_life_cycle;
  e.instance_action = r.instance_action.empty() ? std::string(kInstanceAction) : r.instance_action;
  e.architecture = r.architecture.empty() ? std::string(kArchitecture) : r.architecture;
  e.reservation_id = r.reservation_id.empty() ? derived_id("r-", r.instance_id) : r.reservation_id;

  const auto caller = IpKey::parse(r.ip);
  const bool caller_is_v4 = caller && caller->is_v4();
  if (!r.local_ipv4.empty()) {
    e.local_ipv4 = r.local_ipv4;
  } else if (caller_is_v4) {
    e.local_ipv4 = r.ip;
  }
  if (!r.ipv6s.empty()) {
    e.ipv6s = r.ipv6s;
  } else if (caller && !caller_is_v4) {
    e.ipv6s.push_back(r.ip);  // the caller's own address is the instance's IPv6
  }

  // One name set and the other empty: AWS serves the same private DNS name under both.
  e.hostname = r.hostname.empty() ? r.local_hostname : r.hostname;
  e.local_hostname = r.local_hostname.empty() ? r.hostname : r.local_hostname;
  if (e.hostname.empty()) {
    e.hostname = e.local_ipv4.empty() ? resource_based_hostname(r.instance_id, e.region)
                                      : ip_based_hostname(e.local_ipv4, e.region);
    e.local_hostname = e.hostname;
  }
  e.mac = r.mac.empty() ? mac_address(r.instance_id) : r.mac;

  e.interface_id = r.interface_id.empty() ? derived_id("eni-", r.instance_id) : r.interface_id;
  e.vpc_id = r.vpc_id.empty() ? derived_id("vpc-", e.account_id + "/" + e.region) : r.vpc_id;
  e.subnet_ipv4_cidr_block =
      r.subnet_ipv4_cidr_block.empty() ? ipv4_network(e.local_ipv4, 24) : r.subnet_ipv4_cidr_block;
  if (!r.vpc_ipv4_cidr_block.empty()) {
    e.vpc_ipv4_cidr_block = r.vpc_ipv4_cidr_block;
  } else {
    // A /16 as in the default VPC, widened when a given subnet is larger, so it contains it.
    const int subnet_prefix = cidr_prefix(e.subnet_ipv4_cidr_block).value_or(24);
    e.vpc_ipv4_cidr_block = ipv4_network(e.local_ipv4, subnet_prefix < 16 ? subnet_prefix : 16);
  }
  e.subnet_id = r.subnet_id.empty()
                    ? derived_id("subnet-", e.vpc_id + "/" + e.subnet_ipv4_cidr_block)
                    : r.subnet_id;
  if (r.security_groups.empty()) {
    e.security_groups.emplace_back(kSecurityGroup);
  } else {
    e.security_groups = r.security_groups;
  }
  if (r.security_group_ids.empty()) {
    e.security_group_ids.push_back(derived_id("sg-", e.vpc_id));
  } else {
    e.security_group_ids = r.security_group_ids;
  }
  return e;
}

}  // namespace cloudmeta::defaults
