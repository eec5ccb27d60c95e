// cloudmeta_hotpath: the metadata surface's per-request work in one process, without sockets:
// Beast parses the request bytes, identify_caller, the rate limiter, imds::respond, the metrics
// shard's record and format_imds_head, as serve_imds_connection does them. Global operator new is replaced by a
// counting one, so this proves (and keeps proving, in CI) that a request allocates nothing in
// steady state.
//
//   cloudmeta_hotpath                     allocation check; exits 1 if a GET allocates
//   cloudmeta_hotpath loop KIND N         N requests of KIND (v1, v2, put, signed), for callgrind
//   cloudmeta_hotpath sign N              N signings of an identity document (pkcs7, signature
//                                         and rsa2048): CPU time per document, the cost of a
//                                         guest's first request for a signature
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <cstring>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "cloudmeta/asio.hpp"
#include "cloudmeta/caller_identity.hpp"
#include "cloudmeta/config.hpp"
#include "cloudmeta/identity_signing.hpp"
#include "cloudmeta/imds.hpp"
#include "cloudmeta/metrics.hpp"
#include "cloudmeta/snapshot.hpp"
#include "cloudmeta/token_authority.hpp"
#include "http/fields_arena.hpp"
#include "http/imds_headers.hpp"
#include "http/imds_response_head.hpp"
#include "http/rate_limiter.hpp"

namespace {

std::size_t g_allocations = 0;  // single-threaded harness: a plain counter is exact

void* counted_alloc(std::size_t n) {
  ++g_allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}

}  // namespace

void* operator new(std::size_t n) { return counted_alloc(n); }
void* operator new[](std::size_t n) { return counted_alloc(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  ++g_allocations;
  return std::malloc(n ? n : 1);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace cloudmeta::bench {
namespace {

namespace http_server = cloudmeta::http_server;

// kSigned: a GET of dynamic/instance-identity/pkcs7 once it is signed (served like any leaf).
enum class Kind { kV1, kV2, kPut, kSigned };
constexpr std::string_view kIdentityDocument = "dynamic/instance-identity/document";

struct World {
  Config config;
  std::shared_ptr<const Snapshot> snapshot;
  TokenAuthority tokens{"hotpath-bench-secret"};
  http_server::RateLimiter rate_limiter{0, 0};  // the default: rate limiting off
  IpKey caller;
  std::string proxy_list;  // the session's per-connection buffer for a joined proxy header
  // Taken once per connection by the session; its latency comes from clock readings the
  // connection's deadline already takes, so the harness passes a typical one.
  metrics::ImdsShard* shard = &metrics::registry().imds_shard();
};

std::unique_ptr<World> make_world(unsigned instances) {
  auto world = std::make_unique<World>();
  std::vector<InstanceRecord> records(instances);
  for (unsigned i = 0; i < instances; ++i) {
    char id[32];
    std::snprintf(id, sizeof id, "i-%017x", i + 1);
    records[i].instance_id = id;
    records[i].ip = "10." + std::to_string((i >> 16) & 255) + "." + std::to_string((i >> 8) & 255) +
                    "." + std::to_string(i & 255);
  }
  world->snapshot = Snapshot::build(records, 1);
  world->caller = *IpKey::parse(records[instances / 2].ip);
  return world;
}

// Signs the caller's identity document, as the signing thread does on the first request.
void sign_caller(const World& w) {
  static const std::shared_ptr<const SigningKeys> keys = SigningKeys::generate();
  const RenderedInstance* instance = w.snapshot->find(w.caller);
  instance->set_signatures(std::make_unique<IdentitySignatures>(sign_identity_document(
      instance->find(kIdentityDocument)->body, *keys, instance->document_time())));
}

// What botocore sends (its User-Agent shortened): three or four header fields, like most clients.
std::string request_bytes(Kind kind, const World& world) {
  std::string r;
  if (kind == Kind::kPut) {
    r = "PUT /latest/api/token HTTP/1.1\r\nHost: 169.254.169.254\r\n"
        "User-Agent: Botocore/1.29\r\nAccept-Encoding: identity\r\n"
        "X-aws-ec2-metadata-token-ttl-seconds: 21600\r\n\r\n";
    return r;
  }
  r = kind == Kind::kSigned
          ? "GET /latest/dynamic/instance-identity/pkcs7 HTTP/1.1\r\nHost: 169.254.169.254\r\n"
            "User-Agent: Botocore/1.29\r\nAccept-Encoding: identity\r\n"
          : "GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: 169.254.169.254\r\n"
            "User-Agent: Botocore/1.29\r\nAccept-Encoding: identity\r\n";
  if (kind == Kind::kV2) {
    const IpKey& c = world.caller;
    const auto* instance = world.snapshot->find(c);
    r += "X-aws-ec2-metadata-token: " +
         world.tokens.issue(c, instance->instance_id(), 21600, std::time(nullptr)) + "\r\n";
  }
  r += "\r\n";
  return r;
}

// One request as serve_imds_connection handles it between the socket reads and writes.
template <class Parser>
std::size_t one_request(World& w, Parser& parser, const std::string& bytes, std::string& head) {
  parser.eager(true);
  beast::error_code ec;
  parser.put(net::buffer(bytes), ec);
  if (ec || !parser.is_done()) {
    std::fprintf(stderr, "parse failed: %s\n", ec.message().c_str());
    std::exit(2);
  }
  const auto& req = parser.get();
  const auto headers =
      http_server::read_imds_headers(req, w.config.trusted_proxy_header, w.proxy_list);
  const auto identity = identify_caller(w.caller, headers.forwarding, w.config.trusted_proxies,
                                        w.config.trusted_proxy_header);
  const imds::Request view = http_server::imds_request_view(req, headers, identity);
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  const imds::Response response = w.rate_limiter.allow(identity.caller)
                                      ? imds::respond(view, *w.snapshot, w.tokens, now)
                                      : imds::throttled();
  if (response.status != 200 || response.unsigned_leaf != SignedLeaf::kNone) {
    std::fprintf(stderr, "unexpected status %d (or an unsigned leaf)\n", response.status);
    std::exit(2);
  }
  w.shard->record(response, std::chrono::microseconds(8));
  http_server::format_imds_head(response, http_server::keep_alive(req.version(), headers.connection),
                                head);
  return head.size() + response.payload().size();
}

using DefaultParser = http::request_parser<http::string_body>;
using ArenaParser = http::request_parser<http::string_body, http_server::FieldsAllocator<char>>;

// Requests of `kind` with a fresh parser each (as the session does); returns allocations per
// request after `warmup` requests.
template <bool kArena>
double allocations_per_request(World& w, Kind kind, int warmup, int measured) {
  const std::string bytes = request_bytes(kind, w);
  http_server::FieldsArena arena;
  std::string head;
  head.reserve(512);
  std::size_t sink = 0;
  std::size_t before = 0;
  for (int i = 0; i < warmup + measured; ++i) {
    if (i == warmup) before = g_allocations;
    if constexpr (kArena) {
      ArenaParser parser(std::piecewise_construct, std::make_tuple(),
                         std::make_tuple(http_server::FieldsAllocator<char>(arena)));
      sink += one_request(w, parser, bytes, head);
    } else {
      DefaultParser parser;
      sink += one_request(w, parser, bytes, head);
    }
  }
  if (sink == 0) std::exit(2);
  return static_cast<double>(g_allocations - before) / measured;
}

int check() {
  auto world = make_world(1000);
  sign_caller(*world);
  bool ok = true;
  std::printf("heap allocations per request, steady state (1000 instances):\n");
  std::printf("  %-26s %14s %14s\n", "request", "Beast default", "fields arena");
  for (auto [kind, name] : {std::pair{Kind::kV1, "GET (IMDSv1)"},
                            std::pair{Kind::kV2, "GET with token (IMDSv2)"},
                            std::pair{Kind::kPut, "token PUT"},
                            std::pair{Kind::kSigned, "GET pkcs7 (signed)"}}) {
    const double plain = allocations_per_request<false>(*world, kind, 100, 10000);
    const double arena = allocations_per_request<true>(*world, kind, 100, 10000);
    std::printf("  %-26s %14.2f %14.2f\n", name, plain, arena);
    // A token PUT returns a new 66-byte token in a std::string: one allocation, by design.
    const double allowed = kind == Kind::kPut ? 1 : 0;
    if (arena > allowed) ok = false;
  }
  std::printf(ok ? "hot path: no allocation per GET\n"
                 : "hot path: FAILED, a GET allocates in steady state\n");
  return ok ? 0 : 1;
}

int loop(Kind kind, long n) {
  auto world = make_world(1000);
  if (kind == Kind::kSigned) sign_caller(*world);
  const std::string bytes = request_bytes(kind, *world);
  http_server::FieldsArena arena;
  std::string head;
  head.reserve(512);
  std::size_t sink = 0;
  for (long i = 0; i < n; ++i) {
    ArenaParser parser(std::piecewise_construct, std::make_tuple(),
                       std::make_tuple(http_server::FieldsAllocator<char>(arena)));
    sink += one_request(*world, parser, bytes, head);
  }
  std::printf("%zu\n", sink);
  return 0;
}

// CPU time (this process's) per signing of one instance's identity document.
int sign(long n) {
  auto world = make_world(1);
  const auto keys = SigningKeys::generate();
  const RenderedInstance* instance = world->snapshot->find(world->caller);
  const std::string& document = instance->find(kIdentityDocument)->body;
  std::size_t sink = 0;
  const std::clock_t start = std::clock();
  for (long i = 0; i < n; ++i) {
    sink += sign_identity_document(document, *keys, instance->document_time()).pkcs7.size();
  }
  const double seconds = static_cast<double>(std::clock() - start) / CLOCKS_PER_SEC;
  std::printf("%ld documents signed (pkcs7, signature, rsa2048): %.1f us of CPU each (%zu)\n", n,
              seconds * 1e6 / static_cast<double>(n), sink);
  return 0;
}

}  // namespace
}  // namespace cloudmeta::bench

int main(int argc, char** argv) {
  using namespace cloudmeta::bench;
  if (argc == 4 && std::strcmp(argv[1], "loop") == 0) {
    const std::string kind = argv[2];
    return loop(kind == "v2"       ? Kind::kV2
                : kind == "put"    ? Kind::kPut
                : kind == "signed" ? Kind::kSigned
                                   : Kind::kV1,
                std::atol(argv[3]));
  }
  if (argc == 3 && std::strcmp(argv[1], "sign") == 0) return sign(std::atol(argv[2]));
  if (argc != 1) {
    std::fprintf(stderr, "usage: cloudmeta_hotpath [loop v1|v2|put|signed N | sign N]\n");
    return 2;
  }
  return check();
}
