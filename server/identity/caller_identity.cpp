#include "cloudmeta/caller_identity.hpp"

#include <algorithm>

namespace cloudmeta {
namespace {

bool is_trusted(const IpKey& ip, const std::vector<Cidr>& trusted) {
  return std::any_of(trusted.begin(), trusted.end(), [&](const Cidr& c) { return c.contains(ip); });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

CallerIdentity identify_caller(const IpKey& peer, std::optional<std::string_view> x_forwarded_for,
                               std::optional<std::string_view> x_real_ip,
                               const std::vector<Cidr>& trusted_proxies) {
  if (trusted_proxies.empty() || !is_trusted(peer, trusted_proxies)) {
    return {peer, x_forwarded_for.has_value()};
  }
  if (x_forwarded_for) {
    // Walk from the right: each hop appends the address it received from.
    std::string_view list = *x_forwarded_for;
    while (!list.empty()) {
      auto comma = list.rfind(',');
      auto item = trim(comma == std::string_view::npos ? list : list.substr(comma + 1));
      list = comma == std::string_view::npos ? std::string_view() : list.substr(0, comma);
      auto ip = IpKey::parse(item);
      if (!ip) break;
      if (!is_trusted(*ip, trusted_proxies)) return {*ip, false};
    }
  }
  if (x_real_ip) {
    if (auto ip = IpKey::parse(trim(*x_real_ip))) return {*ip, false};
  }
  return {peer, false};
}

}  // namespace cloudmeta
