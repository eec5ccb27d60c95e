#include "cloudmeta/ip_key.hpp"

#include <arpa/inet.h>

#include <charconv>

namespace cloudmeta {
namespace {

constexpr std::array<std::uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool has_v4_mapped_prefix(const std::array<std::uint8_t, 16>& b) {
  for (std::size_t i = 0; i < kV4MappedPrefix.size(); ++i) {
    if (b[i] != kV4MappedPrefix[i]) return false;
  }
  return true;
}

}  // namespace

IpKey IpKey::from_v4(std::array<std::uint8_t, 4> v4) {
  IpKey k;
  std::copy(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), k.bytes_.begin());
  std::copy(v4.begin(), v4.end(), k.bytes_.begin() + 12);
  return k;
}

IpKey IpKey::from_v6(const std::array<std::uint8_t, 16>& v6) {
  IpKey k;
  k.bytes_ = v6;  // a v4-mapped address already has the folded form
  return k;
}

std::optional<IpKey> IpKey::parse(std::string_view text) {
  // inet_pton needs a terminated string; addresses are short, so a stack buffer suffices.
  char buf[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof buf) return std::nullopt;
  text.copy(buf, text.size());
  buf[text.size()] = '\0';
  std::array<std::uint8_t, 4> v4;
  if (inet_pton(AF_INET, buf, v4.data()) == 1) return from_v4(v4);
  std::array<std::uint8_t, 16> v6;
  if (inet_pton(AF_INET6, buf, v6.data()) == 1) return from_v6(v6);
  return std::nullopt;
}

bool IpKey::is_v4() const { return has_v4_mapped_prefix(bytes_); }

std::string IpKey::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  const char* out = is_v4() ? inet_ntop(AF_INET, bytes_.data() + 12, buf, sizeof buf)
                            : inet_ntop(AF_INET6, bytes_.data(), buf, sizeof buf);
  return out ? std::string(out) : std::string();
}

std::optional<Cidr> Cidr::parse(std::string_view text) {
  auto slash = text.find('/');
  auto ip = IpKey::parse(text.substr(0, slash));
  if (!ip) return std::nullopt;
  const int max_prefix = ip->is_v4() ? 32 : 128;
  int prefix = max_prefix;
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty() || prefix < 0 ||
        prefix > max_prefix) {
      return std::nullopt;
    }
  }
  Cidr c;
  c.base_ = *ip;
  c.prefix_ = ip->is_v4() ? prefix + 96 : prefix;
  return c;
}

bool Cidr::contains(const IpKey& ip) const {
  const auto& a = base_.bytes();
  const auto& b = ip.bytes();
  int bits = prefix_;
  for (std::size_t i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
    const std::uint8_t mask = bits >= 8 ? 0xff : static_cast<std::uint8_t>(0xff << (8 - bits));
    if ((a[i] & mask) != (b[i] & mask)) return false;
  }
  return true;
}

std::optional<std::vector<Cidr>> parse_cidr_list(std::string_view text) {
  std::vector<Cidr> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find_first_of(", \t\n", pos);
    if (end == std::string_view::npos) end = text.size();
    auto item = text.substr(pos, end - pos);
    if (!item.empty()) {
      auto cidr = Cidr::parse(item);
      if (!cidr) return std::nullopt;
      out.push_back(*cidr);
    }
    pos = end + 1;
  }
  return out;
}

}  // namespace cloudmeta
