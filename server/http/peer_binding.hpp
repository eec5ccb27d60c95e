// CALLER_BINDING for one metadata connection: what the kernel saw of the TCP peer, looked up
// once when the connection's first request arrives, and the verdict for each request's caller.
#pragma once

#include <optional>

#include "cloudmeta/asio.hpp"
#include "cloudmeta/caller_binding.hpp"
#include "cloudmeta/snapshot.hpp"

namespace cloudmeta::http_server {

class PeerBinding {
 public:
  // `table` null: CALLER_BINDING=address, nothing is looked up and nothing refused.
  PeerBinding(const NeighbourTable* table, CallerBinding mode) : table_(table), mode_(mode) {}

  bool enabled() const { return table_ != nullptr; }
  bool resolved() const { return resolved_; }
  // What resolve() found: the peer's MAC and bridge port, or nullopt (no neighbour entry).
  const std::optional<LinkPeer>& seen() const { return seen_; }

  // Looks the peer up. The kernel made the neighbour entry (and moved the MAC's forwarding
  // entry) before the handshake could finish, but its notice may reach the table's thread a
  // moment after accept(): on a miss, or while the table is not settled, this waits up to
  // kMissWait on a timer (the thread serves its other connections meanwhile), except for
  // loopback peers, which have no neighbour entry.
  net::awaitable<void> resolve(const IpKey& peer);

  // kNone when `caller` matches no instance (it is answered as unknown anyway) or its record's
  // binding holds; the peer must be the caller itself (a caller named by a trusted proxy cannot
  // be verified). A refusal is logged as binding_mismatch, once per source address and second
  // on each thread.
  BindingRefusal verdict(const Snapshot& snapshot, const IpKey& caller, const IpKey& peer) const;

 private:
  const NeighbourTable* table_;
  CallerBinding mode_;
  bool resolved_ = false;
  std::optional<LinkPeer> seen_;
};

// A snapshot with no instance: a refused caller is answered by imds::respond from it, exactly as
// an unknown caller is.
const Snapshot& empty_snapshot();

}  // namespace cloudmeta::http_server
