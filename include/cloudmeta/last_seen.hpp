// LastSeen: when each caller address last fetched metadata, and over which connection (the peer:
// the VM itself, or the trusted proxy that forwarded it). Written by the metadata threads on every
// answered request, read by the admin thread for the instance list. Kept in memory only: the hot
// path must never write to the database, and a restart forgetting "last seen" is harmless.
// Striped: each address hashes to one of kStripes mutex-guarded maps, so metadata threads rarely
// contend; a metadata connection notes its caller at most once per second (imds_session.cpp), so
// a keep-alive client costs a lock per second, not per request.
// Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "cloudmeta/ip_key.hpp"

namespace cloudmeta {

struct Sighting {
  std::int64_t at = 0;  // Unix seconds
  IpKey peer;           // the connection's address (differs from the caller behind a proxy)
};

// A caller's place in "last seen" order: when, then the address's bytes (the tie-breaker).
struct SeenPosition {
  std::int64_t at = 0;
  IpKey caller;
};

struct SeenEntry {
  IpKey caller;
  Sighting sighting;
};

class LastSeen {
 public:
  // Only callers that matched an instance are noted, so the table is bounded by the fleet size.
  void note(const IpKey& caller, const IpKey& peer, std::int64_t now);
  std::optional<Sighting> find(const IpKey& caller) const;
  // The first `n` callers in (at, caller) order, oldest first (newest first when descending),
  // that come strictly after `after`: the admin listing's sort=last_seen. One pass over the
  // table keeping the best n in a heap, so a million callers cost one walk and n entries of
  // memory, never a copy of the table; each stripe is locked only while it is walked.
  std::vector<SeenEntry> ordered(std::size_t n, bool descending,
                                 const std::optional<SeenPosition>& after) const;

 private:
  static constexpr std::size_t kStripes = 64;
  struct Stripe {
    mutable std::mutex mutex;
    std::unordered_map<IpKey, Sighting, IpKeyHash> by_caller;
  };
  Stripe& stripe(const IpKey& caller) const;

  mutable std::array<Stripe, kStripes> stripes_;
};

}  // namespace cloudmeta
