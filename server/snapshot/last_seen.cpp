#include "cloudmeta/last_seen.hpp"

#include <algorithm>

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

namespace {

// Whether a comes before b in ascending (at, caller bytes) order.
bool earlier(std::int64_t a_at, const IpKey& a, std::int64_t b_at, const IpKey& b) {
  if (a_at != b_at) return a_at < b_at;
  return a.bytes() < b.bytes();
}

}  // namespace

std::vector<SeenEntry> LastSeen::ordered(std::size_t n, bool descending,
                                         const std::optional<SeenPosition>& after) const {
  // "before" in the requested order.
  const auto before = [descending](const SeenEntry& a, const SeenEntry& b) {
    return descending ? earlier(b.sighting.at, b.caller, a.sighting.at, a.caller)
                      : earlier(a.sighting.at, a.caller, b.sighting.at, b.caller);
  };
  std::vector<SeenEntry> heap;  // the best n so far; its front is the last of them
  if (n == 0) return heap;
  heap.reserve(n + 1);
  for (Stripe& s : stripes_) {
    const std::lock_guard lock(s.mutex);
    for (const auto& [caller, sighting] : s.by_caller) {
      if (after) {
        const bool past = descending ? earlier(sighting.at, caller, after->at, after->caller)
                                     : earlier(after->at, after->caller, sighting.at, caller);
        if (!past) continue;
      }
      SeenEntry entry{caller, sighting};
      if (heap.size() == n) {
        if (!before(entry, heap.front())) continue;
        std::pop_heap(heap.begin(), heap.end(), before);
        heap.back() = entry;
      } else {
        heap.push_back(entry);
      }
      std::push_heap(heap.begin(), heap.end(), before);
    }
  }
  std::sort_heap(heap.begin(), heap.end(), before);
  return heap;
}

}  // namespace cloudmeta
