// Who is asking: the TCP peer, unless the peer is a trusted proxy (TRUSTED_PROXIES) that says
// on whose behalf it asks, in the one header TRUSTED_PROXY_HEADER names. AWS itself has no such
// notion: off by default, documented as beyond AWS.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

#include "cloudmeta/config.hpp"
#include "cloudmeta/ip_key.hpp"

namespace cloudmeta {

// What a request says about the way it came, as the session reads it from the header fields.
struct ForwardingFields {
  // The TRUSTED_PROXY_HEADER field, every line joined in order ("a, b": RFC 9110 5.3 makes
  // repeated lines one comma-separated list), if the request has it.
  std::optional<std::string_view> proxy_list;
  // The request carries X-Forwarded-For, whichever header TRUSTED_PROXY_HEADER names.
  bool x_forwarded_for = false;
};

struct CallerIdentity {
  IpKey caller;
  // The caller's own request carried X-Forwarded-For: AWS refuses token PUTs then, so a token
  // cannot be fetched by something behind a proxy the instance runs.
  bool forwarded = false;
};

// Addresses of a proxy list examined at most, from the right. A chain of trusted proxies longer
// than this is not followed further (the caller is then the last address reached), so a list of
// thousands of entries costs what a list of this many does.
inline constexpr std::size_t kMaxProxyHops = 16;

// As nginx's realip module with `real_ip_recursive on`: from a trusted peer, the list is walked
// from the right (each hop appends the address it was called from), trusted proxies are
// skipped, and the first untrusted address is the caller. An entry that is not an address, or a
// list that runs out (or past kMaxProxyHops) while every address is trusted, stops the walk at
// the last address reached, which a trusted hop vouched for. From an untrusted peer, or without
// TRUSTED_PROXIES, the peer is the caller and the headers name nobody.
CallerIdentity identify_caller(const IpKey& peer, const ForwardingFields& fields,
                               const std::vector<Cidr>& trusted_proxies, ProxyHeader header);

}  // namespace cloudmeta
