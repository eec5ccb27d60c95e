// When each API token was last used, kept in memory and written to the store coalesced: a
// token-authenticated request (a /metrics scrape, a read) must not be a write, which would fail
// on a read-only or full disk and cost a commit per request. flush() writes what changed since
// the last flush, in one transaction; the admin thread calls it every kFlushInterval and at
// shutdown, so a token's row is written at most once per interval. Admin thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "cloudmeta/store.hpp"

namespace cloudmeta::admin {

class TokenUse {
 public:
  static constexpr std::chrono::seconds kFlushInterval{60};

  void used(std::int64_t token_id);  // now
  // Writes the uses not yet written. A failure is logged and the uses kept for the next flush:
  // nothing is lost, and the request that used the token never learns of it. Never throws.
  void flush(Store& store) noexcept;
  // The last use noted but not yet written (RFC 3339 UTC), for listings.
  std::optional<std::string> unwritten(std::int64_t token_id) const;
  std::size_t pending() const { return pending_.size(); }

 private:
  std::map<std::int64_t, std::string> pending_;  // token id -> last use
};

}  // namespace cloudmeta::admin
