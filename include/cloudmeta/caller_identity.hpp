// Who is asking: the TCP peer, unless the peer is a trusted proxy (TRUSTED_PROXIES) that says
// on whose behalf it asks. AWS itself has no such notion: off by default, documented as beyond AWS.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "cloudmeta/ip_key.hpp"

namespace cloudmeta {

struct CallerIdentity {
  IpKey caller;
  // X-Forwarded-For was sent and not consumed by a trusted proxy: AWS refuses token PUTs then.
  bool forwarded = false;
};

// x_forwarded_for / x_real_ip: the header values, if present. From a trusted peer the rightmost
// X-Forwarded-For entry that is not itself a trusted proxy wins, else X-Real-IP; an unparsable
// value from a trusted peer leaves the caller as the peer.
CallerIdentity identify_caller(const IpKey& peer, std::optional<std::string_view> x_forwarded_for,
                               std::optional<std::string_view> x_real_ip,
                               const std::vector<Cidr>& trusted_proxies);

}  // namespace cloudmeta
