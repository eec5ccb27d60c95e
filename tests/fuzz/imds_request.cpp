// Bytes from a guest's connection -> the metadata surface's request path, as
// server/http/imds_session.cpp runs it minus the socket: the reader with the server's limits
// (Beast's request_parser, fields in the connection's arena), read_imds_headers,
// identify_caller (with a trusted proxy), imds::respond over a snapshot of three instances, and
// format_imds_head. Keep-alive: the bytes may hold several requests, read in chunks of
// ImdsRequestRead::room(). The first input byte picks the TCP peer (a registered instance, a
// stranger, or the trusted proxy) and TRUSTED_PROXY_HEADER (X-Forwarded-For or X-Real-IP); a token field whose value is "@token" is replaced with a
// token the harness issued for the caller, so the fuzzer reaches the valid-token paths.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cloudmeta/caller_identity.hpp"
#include "cloudmeta/config.hpp"
#include "cloudmeta/imds.hpp"
#include "cloudmeta/snapshot.hpp"
#include "http/deadline_sweeper.hpp"
#include "http/imds_headers.hpp"
#include "http/imds_reader.hpp"
#include "http/imds_response_head.hpp"
#include "http/session_scratch.hpp"

using namespace cloudmeta;
using namespace cloudmeta::http_server;

namespace {

constexpr std::int64_t kNow = 1'800'000'000;

InstanceRecord record(const char* id, const char* ip, HttpTokens tokens) {
  InstanceRecord r;
  r.instance_id = id;
  r.ip = ip;
  r.region = "eu-west-1";
  r.availability_zone = "eu-west-1b";
  r.user_data = std::string("#cloud-config\nhostname: vm\n");
  r.public_keys = {{"alice", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERIT"
                             "FBUWFxgZGhscHR4f alice@host"}};
  r.iam.role = "web";
  r.iam.access_key_id = "ASIAFUZZ000000000000";
  r.iam.secret_access_key = "secret/of/the/fuzz/instance/0000000000000";
  r.iam.token = "session-token";
  r.iam.expiration = "2099-01-01T00:00:00Z";
  r.metadata_options.http_tokens = tokens;
  r.created_at = r.updated_at = "2026-11-22T10:00:00Z";
  return r;
}

struct World {
  World()
      : snapshot(Snapshot::build({record("i-0123456789abcdef0", "198.18.0.10", HttpTokens::kOptional),
                                  record("i-0123456789abcdef1", "198.18.0.11", HttpTokens::kRequired),
                                  record("i-0123456789abcdef2", "fd00:ec2::12", HttpTokens::kOptional)},
                                 1)),
        tokens("fuzz-secret-key-0123456789abcdef0123456789"),
        sweeper(std::make_shared<DeadlineSweeper>(io.get_executor())) {
    for (const char* peer : {"198.18.0.10", "198.18.0.11", "fd00:ec2::12", "198.18.0.99",
                             "127.0.0.1"}) {
      peers.push_back(*IpKey::parse(peer));
    }
    trusted_proxies.push_back(*Cidr::parse("127.0.0.0/8"));
  }

  net::io_context io;
  std::shared_ptr<const Snapshot> snapshot;
  TokenAuthority tokens;
  std::shared_ptr<DeadlineSweeper> sweeper;
  Limits limits;  // the server's defaults
  std::vector<IpKey> peers;
  std::vector<Cidr> trusted_proxies;
};

// One request, as the session answers it; false when the connection would close.
bool answer(World& world, const ImdsParser& parser, const IpKey& peer, ProxyHeader proxy_header,
            SessionScratch& scratch) {
  const auto& req = parser.get();
  const ImdsHeaders headers = read_imds_headers(req, proxy_header, scratch.proxy_list);
  const auto identity =
      identify_caller(peer, headers.forwarding, world.trusted_proxies, proxy_header);
  imds::Request view = imds_request_view(req, headers, identity);
  std::string issued;
  if (view.token == "@token") {
    const RenderedInstance* instance = world.snapshot->find(identity.caller);
    issued = world.tokens.issue(identity.caller, instance ? instance->instance_id() : "i-none",
                                60, kNow);
    view.token = issued;
  }
  const imds::Response response = imds::respond(view, *world.snapshot, world.tokens, kNow);
  if (response.status < 200 || response.status > 599) std::abort();
  const bool keep_alive = http_server::keep_alive(req.version(), headers.connection);
  std::string& head = scratch.head;
  format_imds_head(response, keep_alive, head);
  if (head.compare(0, 9, "HTTP/1.1 ") != 0 || head.find("\r\n\r\n") != head.size() - 4) {
    std::abort();
  }
  if (view.method != imds::Method::kHead) head += response.payload();
  return keep_alive;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static World world;
  if (size == 0) return 0;
  const IpKey& peer = world.peers[data[0] % world.peers.size()];
  const ProxyHeader proxy_header = (data[0] / world.peers.size()) % 2 == 0
                                       ? ProxyHeader::kXForwardedFor
                                       : ProxyHeader::kXRealIp;
  const char* bytes = reinterpret_cast<const char*>(data) + 1;
  std::size_t left = size - 1;

  tcp::socket socket(world.io);
  ImdsConnection connection(std::move(socket), world.sweeper);
  ScratchLease scratch(world.limits.header_limit + world.limits.body_limit);
  beast::flat_buffer& buffer = scratch->buffer;
  bool first = true;
  for (;;) {
    ImdsParser parser(std::piecewise_construct, std::make_tuple(),
                      std::make_tuple(FieldsAllocator<char>(scratch->arena)));
    ImdsRequestRead read(connection, parser, world.limits, first);
    first = false;
    std::optional<ReadResult> result;
    while (!(result = read.advance(buffer))) {
      if (left == 0) {
        result = read.on_read_error(net::error::eof);
        break;
      }
      const auto room = buffer.prepare(ImdsRequestRead::room(buffer));
      const std::size_t n = std::min(left, room.size());
      std::memcpy(room.data(), bytes, n);
      buffer.commit(n);
      bytes += n;
      left -= n;
    }
    if (result != ReadResult::kRequest) break;
    if (!answer(world, parser, peer, proxy_header, *scratch)) break;
  }
  buffer.consume(buffer.size());
  return 0;
}
