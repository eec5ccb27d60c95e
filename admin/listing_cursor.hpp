// The opaque `cursor` of GET /api/v1/instances: where the next page starts, and for which query,
// as base64url of a small JSON object. It holds only what the listing already showed (a sort
// key, an instance id, an address, a time), so a client that edits one gains nothing but a
// listing that starts elsewhere; one made for another sort, order or filter is refused (400), as
// is text that is not a cursor. Admin thread; no state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "cloudmeta/instance_listing.hpp"
#include "cloudmeta/ip_key.hpp"

namespace cloudmeta::admin {

struct ListingCursor {
  // kSorted: a stored sort column (position). kSeen: sort=last_seen among the instances seen
  // (seen_at, seen_ip). kUnseen: sort=last_seen, then the instances never seen (position's id).
  enum class Phase { kSorted, kSeen, kUnseen };
  Phase phase = Phase::kSorted;
  InstancePosition position;
  std::int64_t seen_at = 0;
  IpKey seen_ip;
};

// `query` names the sort, order and filters (instance_query.cpp's fingerprint): a cursor is
// good only for the query it came from.
std::string encode_cursor(const ListingCursor& cursor, const std::string& query);
// Throws ApiError 400 (field "cursor") for anything encode_cursor did not make for `query`.
ListingCursor decode_cursor(const std::string& text, const std::string& query);

}  // namespace cloudmeta::admin
