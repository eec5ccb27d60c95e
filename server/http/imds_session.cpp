#include <chrono>
#include <ctime>
#include <netinet/in.h>

#include "cloudmeta/caller_identity.hpp"
#include "cloudmeta/identity_signing.hpp"
#include "cloudmeta/imds.hpp"
#include "cloudmeta/log.hpp"
#include "cloudmeta/metrics.hpp"
#include "cloudmeta/imds_error_pages.hpp"
#include "http/imds_headers.hpp"
#include "http/imds_reader.hpp"
#include "http/imds_response_head.hpp"
#include "http/peer_binding.hpp"
#include "http/session_scratch.hpp"
#include "http/snapshot_cache.hpp"
#include "http/sessions.hpp"

namespace cloudmeta::http_server {
namespace {

// AWS sets the IP TTL / IPv6 hop limit of the token PUT response to HttpPutResponseHopLimit, so a
// token cannot travel further than the instance (e.g. into a container one hop behind). The
// setting stays for the rest of the connection: a client the response cannot reach cannot use
// the connection anyway, and restoring it early would let a retransmission escape the limit.
void apply_hop_limit(tcp::socket& socket, int hops) {
  const int fd = socket.native_handle();
  ::setsockopt(fd, IPPROTO_IP, IP_TTL, &hops, sizeof hops);
  ::setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &hops, sizeof hops);
}

// One-shot reply for a request the parser refused, then the connection closes.
net::awaitable<void> reply_and_close(ImdsConnection& connection, int status, std::string& head) {
  imds::Response r;
  r.status = status;
  r.html = true;
  r.body = imds::error_page(status);
  format_imds_head(r, false, head);
  head += r.body;
  beast::error_code ec;
  connection.expires_after(std::chrono::seconds(5));
  co_await net::async_write(connection.socket(), net::buffer(head),
                            net::redirect_error(net::use_awaitable, ec));
}

// The rate limiter's verdict, then imds::respond; a throttled request keeps its route class.
imds::Response answer(const imds::Request& view, const Snapshot& snapshot,
                      const ImdsContext& context, std::int64_t now) {
  if (!context.rate_limiter.enabled() || context.rate_limiter.allow(view.caller)) {
    return imds::respond(view, snapshot, context.tokens, now);
  }
  imds::Response r = imds::throttled();
  r.route = imds::route_of(view.target);
  return r;
}

// A DHCP guest (docs/hypervisor.md, "DHCP guests"): the peer's address is not the one its
// record holds (none, or the one its MAC had before), but the kernel resolves it to the MAC of a
// learnable record. Once per connection, and only for a peer that is its own caller.
bool should_learn(const Snapshot& snapshot, const IpKey& peer, const LinkPeer& seen) {
  const SnapshotEntry* known = snapshot.entry(peer);
  if (known) {
    // Served already, unless the address is held by a record with another MAC (a learned
    // address whose lease passed to this guest; Fleet::learn decides whether it may move).
    const RenderedInstance* instance = known->rendered();
    if (!instance || instance->binding().mac == seen.mac) return false;
  }
  return snapshot.learnable_instance(seen.mac) != nullptr;
}

// A signature of the identity document not made yet (cloudmeta/identity_signing.hpp): this
// connection waits for the signing thread, the thread's other connections go on. `snapshot`
// keeps the rendering alive meanwhile.
net::awaitable<void> sign_first(imds::Response& response, std::shared_ptr<const Snapshot> snapshot,
                                const ImdsContext& context) {
  const RenderedInstance* instance = response.instance;
  const SignedLeaf leaf = response.unsigned_leaf;
  const imds::Route route = response.route;
  if (!context.signer) {
    response = imds::not_found(instance);
    response.route = route;
    co_return;
  }
  bool signed_ = false;
  auto pending =
      context.signer->submit(std::move(snapshot), *instance, co_await net::this_coro::executor);
  if (pending) signed_ = co_await IdentitySigner::await(std::move(pending));
  metrics::registry().count_identity_signing(!pending  ? metrics::SigningResult::kDropped
                                             : signed_ ? metrics::SigningResult::kSigned
                                                       : metrics::SigningResult::kFailed);
  if (signed_) {
    response.body = instance->signatures()->of(leaf);
    response.unsigned_leaf = SignedLeaf::kNone;
  } else {
    response = imds::unavailable(instance);
    response.route = route;
  }
}

void log_request(const IpKey& caller, const imds::Response& r, http::verb method,
                 std::string_view target, std::chrono::nanoseconds elapsed) {
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count();
  const std::string address = caller.to_string();
  std::string_view instance = r.instance ? std::string_view(r.instance->instance_id()) : "-";
  if (r.outcome == imds::Outcome::kUnknownCaller) instance = "unknown";
  log_info("request", {{"surface", "metadata"}, {"address", address}, {"instance", instance},
                       {"method", std::string_view(http::to_string(method))}, {"path", target},
                       {"status", r.status}, {"us", static_cast<std::int64_t>(micros)}});
}

}  // namespace

net::awaitable<void> serve_imds_connection(tcp::socket socket, const ImdsContext& context,
                                           ConnectionLimiter::Slot slot,  // held until the end
                                           DeadlineSweeper& sweeper) {
  beast::error_code ec;
  const IpKey peer = slot.source();  // from accept() itself: no getpeername() per connection
  const Limits& limits = context.config.imds_limits;
  metrics::ImdsShard& counters = metrics::registry().imds_shard();

  ImdsConnection connection(std::move(socket), sweeper.shared_from_this());
  // The first request's clock starts now (until its first byte, the read timeout applies).
  connection.expires_after(limits.read_timeout);
  ScratchLease scratch(limits.header_limit + limits.body_limit);
  beast::flat_buffer& buffer = scratch->buffer;
  std::string& head = scratch->head;
  bool first = true;
  std::int64_t noted_at = -1;  // when this connection last noted its caller in LastSeen
  IpKey noted_caller;
  PeerBinding binding(context.neighbours, context.config.caller_binding);

  // Shutting down: answer what is in flight, then close rather than wait for another request.
  while (first || !sweeper.draining()) {
    ImdsParser parser(std::piecewise_construct, std::make_tuple(),
                      std::make_tuple(FieldsAllocator<char>(scratch->arena)));
    ImdsRequestRead read(connection, parser, limits, first);
    std::optional<ReadResult> result;
    while (!(result = read.advance(buffer))) {
      const auto room = buffer.prepare(ImdsRequestRead::room(buffer));
      const std::size_t n = co_await connection.socket().async_read_some(
          room, net::redirect_error(net::use_awaitable, ec));
      if (ec) {
        result = read.on_read_error(ec);
        break;
      }
      buffer.commit(n);
    }
    first = false;
    if (result == ReadResult::kClosed) break;
    if (result != ReadResult::kRequest) {
      const int status = result == ReadResult::kHeaderTooLarge ? 431
                         : result == ReadResult::kBodyTooLarge ? 413 : 400;
      log_info("request_refused", {{"surface", "metadata"}, {"address", peer.to_string()},
                                   {"status", status}});
      counters.record_refusal(status);
      co_await reply_and_close(connection, status, head);
      break;
    }
    // The clock reading taken when the request's first byte set its deadline.
    const auto start = connection.last_now();
    const bool logging = log_enabled(LogLevel::kInfo);
    const auto& req = parser.get();
    const ImdsHeaders headers =
        read_imds_headers(req, context.config.trusted_proxy_header, scratch->proxy_list);
    const auto identity = identify_caller(peer, headers.forwarding, context.config.trusted_proxies,
                                          context.config.trusted_proxy_header);
    const imds::Request view = imds_request_view(req, headers, identity);
    // Before the snapshot is taken: the lookup may wait, and the stretch below must not.
    if (binding.enabled() && !binding.resolved()) {
      co_await binding.resolve(peer);
      if (context.learner && binding.seen() && identity.caller == peer) {
        const auto& before = current_snapshot(context.snapshots);
        if (should_learn(*before, peer, *binding.seen())) {
          const AddressLearner::Request request{
              peer, *before->learnable_instance(binding.seen()->mac), *binding.seen()};
          std::shared_ptr<AddressLearner::Pending> pending =
              context.learner->submit(request, co_await net::this_coro::executor);
          if (pending) co_await AddressLearner::await(pending);
        }
      }
    }

    // The body is copied behind the head before the write, so the snapshot need not outlive
    // this synchronous stretch; only the access log, written after the write, keeps it.
    const auto& snapshot = current_snapshot(context.snapshots);
    const std::shared_ptr<const Snapshot> held_for_log = logging ? snapshot : nullptr;
    const auto now = static_cast<std::int64_t>(std::time(nullptr));
    const BindingRefusal refusal = binding.enabled()
                                       ? binding.verdict(*snapshot, identity.caller, peer)
                                       : BindingRefusal::kNone;
    if (refusal != BindingRefusal::kNone) counters.record_binding_refusal(refusal);
    imds::Response response =
        answer(view, refusal == BindingRefusal::kNone ? *snapshot : empty_snapshot(), context, now);
    // The rendering stays alive through the wait, and until its body is copied below.
    std::shared_ptr<const Snapshot> signed_from;
    if (response.unsigned_leaf != SignedLeaf::kNone) [[unlikely]] {
      signed_from = snapshot;
      co_await sign_first(response, signed_from, context);
    }
    // "Last seen" has a resolution of one second: a connection notes its caller once per second
    // at most, so a keep-alive client's requests skip the table's lock (5.5 % of a GET's
    // instructions when every request noted it).
    if (response.instance && context.last_seen &&
        (now != noted_at || !(identity.caller == noted_caller))) {
      context.last_seen->note(identity.caller, peer, now);
      noted_at = now;
      noted_caller = identity.caller;
    }

    const bool keep_alive = http_server::keep_alive(req.version(), headers.connection) &&
                            !sweeper.draining();
    format_imds_head(response, keep_alive, head);
    if (view.method != imds::Method::kHead) head += response.payload();
    if (response.hop_limit > 0) apply_hop_limit(connection.socket(), response.hop_limit);
    connection.expires_after(limits.read_timeout);
    const auto elapsed = connection.last_now() - start;
    counters.record(response, elapsed);
    co_await net::async_write(connection.socket(), net::buffer(head),
                              net::redirect_error(net::use_awaitable, ec));
    if (logging) log_request(identity.caller, response, req.method(), req.target(), elapsed);
    if (ec || !keep_alive) break;
  }
  // close() alone sends the FIN: a shutdown() first would cost a system call per connection and
  // protect nothing (unread bytes turn the close into a reset either way).
  connection.socket().close(ec);
}

}  // namespace cloudmeta::http_server
