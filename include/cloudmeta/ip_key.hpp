// IpKey: a caller's address as 16 bytes (IPv4 folded into its v4-mapped IPv6 form, so that
// 10.0.0.1 and ::ffff:10.0.0.1 are one caller), hashable and cheap to copy. Cidr matches
// TRUSTED_PROXIES entries. Thread-safe values; no allocation except to_string().
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cloudmeta {

class IpKey {
 public:
  IpKey() = default;
  static IpKey from_v4(std::array<std::uint8_t, 4> v4);
  static IpKey from_v6(const std::array<std::uint8_t, 16>& v6);  // folds v4-mapped
  static std::optional<IpKey> parse(std::string_view text);       // v4 or v6 literal

  bool is_v4() const;
  std::string to_string() const;  // canonical text: dotted quad or RFC 5952
  const std::array<std::uint8_t, 16>& bytes() const { return bytes_; }

  friend bool operator==(const IpKey& a, const IpKey& b) { return a.bytes_ == b.bytes_; }

 private:
  std::array<std::uint8_t, 16> bytes_{};
};

struct IpKeyHash {
  std::size_t operator()(const IpKey& k) const noexcept {
    std::uint64_t a, b;
    std::memcpy(&a, k.bytes().data(), 8);
    std::memcpy(&b, k.bytes().data() + 8, 8);
    return static_cast<std::size_t>((a * 0x9E3779B97F4A7C15ull) ^ (b + 0x632BE59BD9B4E019ull + (a >> 7)));
  }
};

class Cidr {
 public:
  static std::optional<Cidr> parse(std::string_view text);  // "10.0.0.0/8", "fd00::/8", "1.2.3.4"
  bool contains(const IpKey& ip) const;

 private:
  IpKey base_;
  int prefix_ = 128;  // in the 128-bit (v4-mapped) space
};

// Parses a comma- or space-separated list; returns nullopt naming nothing if any entry is bad.
std::optional<std::vector<Cidr>> parse_cidr_list(std::string_view text);

}  // namespace cloudmeta
