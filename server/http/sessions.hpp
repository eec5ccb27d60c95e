// The per-connection loops of the two surfaces. Each runs as a coroutine on the io_context that
// accepted the connection, holds its ConnectionLimiter slot until it ends (the slot also carries
// the caller's address, as accept() reported it), and never throws.
#pragma once

#include <atomic>
#include <cstdint>

#include "cloudmeta/admin_api.hpp"
#include "cloudmeta/asio.hpp"
#include "cloudmeta/caller_binding.hpp"
#include "cloudmeta/config.hpp"
#include "cloudmeta/identity_signing.hpp"
#include "cloudmeta/last_seen.hpp"
#include "cloudmeta/snapshot.hpp"
#include "cloudmeta/token_authority.hpp"
#include "http/address_learner.hpp"
#include "http/connection_limiter.hpp"
#include "http/deadline_sweeper.hpp"
#include "http/rate_limiter.hpp"

namespace cloudmeta::http_server {

struct ImdsContext {
  const Config& config;
  const SnapshotHolder& snapshots;
  const TokenAuthority& tokens;
  RateLimiter& rate_limiter;
  LastSeen* last_seen = nullptr;  // notes each caller that matched an instance (admin page)
  // CALLER_BINDING=mac|port: the kernel's tables; null under CALLER_BINDING=address.
  const NeighbourTable* neighbours = nullptr;
  // Under CALLER_BINDING=mac|port: learns the addresses of DHCP guests; null otherwise.
  AddressLearner* learner = nullptr;
  // Signs identity documents on their first pkcs7/signature/rsa2048 request; null: those paths
  // answer 404 (a harness without keys).
  IdentitySigner* signer = nullptr;
};

// `sweeper`: the deadlines of the metadata connections on this thread (one per I/O thread).
net::awaitable<void> serve_imds_connection(tcp::socket socket, const ImdsContext& context,
                                           ConnectionLimiter::Slot slot, DeadlineSweeper& sweeper);

net::awaitable<void> serve_admin_connection(tcp::socket socket, const Config& config,
                                            admin::AdminApi& api, ConnectionLimiter::Slot slot);

}  // namespace cloudmeta::http_server
