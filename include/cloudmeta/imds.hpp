// The metadata surface as one pure function: request view + snapshot + token authority + clock
// -> response. No sockets, no database, no exceptions, so nearly every AWS-fidelity rule is tested
// as a table (tests/unit/imds_test.cpp). Every status choice cites docs/metadata.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cloudmeta/ip_key.hpp"
#include "cloudmeta/metadata_tree.hpp"
#include "cloudmeta/snapshot.hpp"
#include "cloudmeta/token_authority.hpp"

namespace cloudmeta::imds {

// AWS header names; matched case-insensitively by the HTTP layer.
inline constexpr std::string_view kTokenHeader = "X-aws-ec2-metadata-token";
inline constexpr std::string_view kTtlHeader = "X-aws-ec2-metadata-token-ttl-seconds";
inline constexpr std::string_view kServerName = "EC2ws";

enum class Method : std::uint8_t { kGet, kHead, kPut, kOther };

struct Request {
  Method method = Method::kGet;
  std::string_view target;               // raw request-target, query string included
  std::optional<std::string_view> token;  // X-aws-ec2-metadata-token
  std::optional<std::string_view> ttl;    // X-aws-ec2-metadata-token-ttl-seconds
  bool forwarded = false;  // X-Forwarded-For present and not consumed by a trusted proxy
  IpKey caller;
};

enum class Outcome : std::uint8_t {
  kOk,
  kTokenIssued,
  kNotFound,        // path or caller unknown
  kUnknownCaller,   // 404 too, logged distinctly
  kBadRequest,      // token PUT without a valid TTL
  kUnauthorized,    // token missing (required) / invalid / expired / other instance
  kForbidden,       // endpoint disabled, XFF on PUT, versioned token path
  kMethodNotAllowed,
  kThrottled,       // 429: the caller exceeded its request rate
  kUnavailable,     // 503: an identity signature could not be made in time
};

// What a request asked for, as a small fixed set (metrics label it by this, never by the raw
// path, so the number of series stays bounded whatever guests send).
enum class Route : std::uint8_t {
  kRoot,         // "/" (the versions) and "/<version>/" (the categories)
  kToken,        // api/token
  kMetaData,     // meta-data/... except the credentials below
  kCredentials,  // meta-data/iam/security-credentials/...
  kUserData,     // user-data
  kDynamic,      // dynamic/... (the identity document)
  kOther,        // anything else
};
inline constexpr std::size_t kRouteCount = 7;

// Why a request was refused for its token (401). A token for another instance or address, or
// signed with another SECRET_KEY, fails the HMAC: it is a bad signature, as a forged one is.
enum class TokenRejection : std::uint8_t { kNone, kMissing, kMalformed, kBadSignature, kExpired };
inline constexpr std::size_t kTokenRejectionCount = 5;

struct Response {
  int status = 200;
  Outcome outcome = Outcome::kOk;
  Route route = Route::kOther;
  TokenRejection token_rejection = TokenRejection::kNone;
  std::string_view body;   // points into the snapshot or a static error page
  std::string owned_body;  // the new token, when one is issued; then it is the payload
  std::string_view payload() const { return owned_body.empty() ? body : owned_body; }
  ContentType content_type = ContentType::kTextPlain;
  bool html = false;                 // error pages are text/html, as AWS's
  std::optional<std::int64_t> ttl;   // echo of the token TTL (PUT) or remaining TTL (GET)
  int hop_limit = 0;                 // >0: IP TTL / hop limit for this response (token PUT)
  std::string_view allow;            // 405: the Allow header ("OPTIONS, PUT" on the token path)
  const RenderedInstance* instance = nullptr;  // for the access log
  // A signature of the identity document that is not signed yet: the caller signs it
  // (cloudmeta/identity_signing.hpp) and answers with signed_body(), or with unavailable().
  SignedLeaf unsigned_leaf = SignedLeaf::kNone;
};

Response respond(const Request& request, const Snapshot& snapshot,
                 const TokenAuthority& tokens, std::int64_t now_unix);

// 429, as AWS answers a throttled instance.
Response throttled();

// 404 for a known caller (a path it has not).
Response not_found(const RenderedInstance* instance);

// 503: a signature could not be made in time (docs/metadata.md, "Signed identity").
Response unavailable(const RenderedInstance* instance);

// The Route of a request-target (respond() sets Response::route itself; this is for requests
// answered without it, such as throttled ones).
Route route_of(std::string_view target);

// Splits a request-target into (version, path below the version): collapses repeated slashes,
// drops the query string, notes a trailing slash. "//latest//meta-data/" -> {"latest",
// "meta-data", true}. The views point into `target`, or into `scratch` when slashes had to be
// collapsed (reused per thread to avoid allocation).
struct Target {
  std::string_view version;
  std::string_view path;
  bool trailing_slash = false;
};
Target split_target(std::string_view target, std::string& scratch);

// The versions GET / lists, oldest first, `latest` last.
const std::string& version_listing();
bool is_known_version(std::string_view version);

}  // namespace cloudmeta::imds
