#include "cloudmeta/last_seen.hpp"

namespace cloudmeta {

LastSeen::Stripe& LastSeen::stripe(const IpKey& caller) const {
  return stripes_[IpKeyHash{}(caller) % kStripes];
}

void LastSeen::note(const IpKey& caller, const IpKey& peer, std::int64_t now) {
  Stripe& s = stripe(caller);
  const std::lock_guard lock(s.mutex);
  Sighting& sighting = s.by_caller[caller];
  sighting.at = now;
  sighting.peer = peer;
}

std::optional<Sighting> LastSeen::find(const IpKey& caller) const {
  Stripe& s = stripe(caller);
  const std::lock_guard lock(s.mutex);
  const auto it = s.by_caller.find(caller);
  if (it == s.by_caller.end()) return std::nullopt;
  return it->second;
}

}  // namespace cloudmeta
