#include "cloudmeta/caller_identity.hpp"

#include <algorithm>

namespace cloudmeta {
namespace {

bool is_trusted(const IpKey& ip, const std::vector<Cidr>& trusted) {
  return std::any_of(trusted.begin(), trusted.end(), [&](const Cidr& c) { return c.contains(ip); });
}

bool is_list_space(char c) { return c == ' ' || c == '\t' || c == ','; }

// Drops empty elements and blanks at the right end (RFC 9110 5.6.1: "a, , b" is "a, b").
std::string_view trim_right(std::string_view list) {
  while (!list.empty() && is_list_space(list.back())) list.remove_suffix(1);
  return list;
}

// The list's last element; `list` keeps what lies before it.
std::string_view pop_last(std::string_view& list) {
  list = trim_right(list);
  const auto start = list.find_last_of(", \t");
  const std::string_view item = start == std::string_view::npos ? list : list.substr(start + 1);
  list.remove_suffix(item.size());
  list = trim_right(list);
  return item;
}

}  // namespace

CallerIdentity identify_caller(const IpKey& peer, const ForwardingFields& fields,
                               const std::vector<Cidr>& trusted_proxies, ProxyHeader header) {
  if (trusted_proxies.empty() || !is_trusted(peer, trusted_proxies)) {
    return {peer, fields.x_forwarded_for};
  }
  IpKey caller = peer;
  std::string_view rest = fields.proxy_list.value_or(std::string_view());
  rest = trim_right(rest);
  for (std::size_t hops = 0; !rest.empty() && hops < kMaxProxyHops; ++hops) {
    const auto ip = IpKey::parse(pop_last(rest));
    if (!ip) break;
    caller = *ip;
    if (!is_trusted(caller, trusted_proxies)) break;
  }
  // With X-Forwarded-For, what the trusted proxies appended has been walked: anything left is
  // what the caller sent itself. With X-Real-IP, the proxy passes the caller's own
  // X-Forwarded-For through untouched.
  const bool forwarded =
      header == ProxyHeader::kXForwardedFor ? !rest.empty() : fields.x_forwarded_for;
  return {caller, forwarded};
}

}  // namespace cloudmeta
