#include "http/peer_binding.hpp"

#include <chrono>
#include <ctime>

#include "cloudmeta/log.hpp"

namespace cloudmeta::http_server {
namespace {

constexpr auto kMissWait = std::chrono::milliseconds(100);
constexpr auto kMissPoll = std::chrono::milliseconds(5);

bool is_loopback(const IpKey& key) {
  const auto& b = key.bytes();
  if (key.is_v4()) return b[12] == 127;
  for (std::size_t i = 0; i < 15; ++i) {
    if (b[i] != 0) return false;
  }
  return b[15] == 1;
}

// One line per source and second per thread: a guest hammering with a neighbour's address
// must not flood the log.
bool log_due(const IpKey& peer) {
  thread_local IpKey last_peer;
  thread_local std::time_t last_second = -1;
  const std::time_t now = std::time(nullptr);
  if (now == last_second && peer == last_peer) return false;
  last_peer = peer;
  last_second = now;
  return true;
}

}  // namespace

net::awaitable<void> PeerBinding::resolve(const IpKey& peer) {
  resolved_ = true;
  if (is_loopback(peer)) {
    seen_ = table_->lookup(peer);
    co_return;
  }
  // Settled before the lookup: then the lookup sees every change the peer's frames made, such as
  // its MAC learned on another port a moment ago, which a stale view would still bind to the
  // old port (and serve a guest that forged a neighbour's address and MAC).
  bool settled = table_->settled();
  seen_ = table_->lookup(peer);
  if (seen_ && settled) co_return;
  net::steady_timer timer(co_await net::this_coro::executor);
  const auto until = std::chrono::steady_clock::now() + kMissWait;
  while (!(seen_ && settled) && std::chrono::steady_clock::now() < until) {
    timer.expires_after(kMissPoll);
    boost::system::error_code ec;
    co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    settled = table_->settled();
    seen_ = table_->lookup(peer);
  }
}

BindingRefusal PeerBinding::verdict(const Snapshot& snapshot, const IpKey& caller,
                                    const IpKey& peer) const {
  const RenderedInstance* instance = snapshot.find(caller);
  if (!instance) return BindingRefusal::kNone;
  const std::optional<LinkPeer> none;
  const BindingRefusal refusal =
      check_binding(mode_, instance->binding(), caller == peer ? seen_ : none);
  if (refusal != BindingRefusal::kNone && log_due(peer)) {
    const LinkBinding& expected = instance->binding();
    const bool seen = caller == peer && seen_;
    log_warn("binding_mismatch",
             {{"address", caller.to_string()},
              {"peer", peer.to_string()},
              {"instance", std::string_view(instance->instance_id())},
              {"reason", binding_refusal_name(refusal)},
              {"expected_mac", std::string_view(expected.mac)},
              {"seen_mac", seen ? std::string_view(seen_->mac) : std::string_view("-")},
              {"expected_port", std::string_view(expected.interface)},
              {"seen_port", seen ? std::string_view(seen_->port) : std::string_view("-")}});
  }
  return refusal;
}

const Snapshot& empty_snapshot() {
  static const Snapshot empty;
  return empty;
}

}  // namespace cloudmeta::http_server
