// AWS behaviour cited as docs/metadata.md §n (which mirrors shared/imds-reference.md).
#include "cloudmeta/imds.hpp"

#include <algorithm>
#include <array>
#include <charconv>

#include "cloudmeta/imds_error_pages.hpp"

namespace cloudmeta::imds {
namespace {

// Every build AWS documents, oldest first (instancedata-data-retrieval.html, and the versions the
// category table names). All serve the same tree: AWS gates a few categories by version, real
// clients never depend on that, and cloud-init probes 2021-03-23, 2018-09-24, 2016-09-02, 2009-04-04.
constexpr std::array<std::string_view, 33> kVersions = {
    "1.0",        "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10", "2007-12-15",
    "2008-02-01", "2008-09-01", "2009-04-04", "2011-01-01", "2011-05-01", "2012-01-12",
    "2014-02-25", "2014-11-05", "2015-10-20", "2016-04-19", "2016-06-30", "2016-09-02",
    "2016-11-15", "2016-11-30", "2018-03-28", "2018-05-23", "2018-08-17", "2018-09-24",
    "2018-11-29", "2019-10-01", "2020-08-24", "2020-10-27", "2020-11-01", "2021-01-03",
    "2021-03-23", "2021-07-15", "latest"};

constexpr std::string_view kTokenPath = "api/token";
constexpr std::string_view kAllowTokenPath = "OPTIONS, PUT";
constexpr std::string_view kAllowTree = "GET, HEAD";

Response error(int status, Outcome outcome, const RenderedInstance* instance = nullptr) {
  Response r;
  r.status = status;
  r.outcome = outcome;
  r.body = error_page(status);
  r.html = true;
  r.instance = instance;
  return r;
}

// AWS accepts 1..21600 written as plain decimal; anything else is "Missing or Invalid Parameters".
std::optional<int> parse_ttl(std::optional<std::string_view> header) {
  if (!header || header->empty() || header->size() > 5) return std::nullopt;
  int ttl = 0;
  auto [end, ec] = std::from_chars(header->data(), header->data() + header->size(), ttl);
  if (ec != std::errc() || end != header->data() + header->size()) return std::nullopt;
  if (ttl < kMinTokenTtl || ttl > kMaxTokenTtl) return std::nullopt;
  return ttl;
}

// A path below the version begins with this segment (the whole path, or followed by '/').
bool under(std::string_view path, std::string_view segment) {
  return path.substr(0, segment.size()) == segment &&
         (path.size() == segment.size() || path[segment.size()] == '/');
}

Route route_of_path(std::string_view path) {
  if (path.empty()) return Route::kRoot;
  if (under(path, "meta-data")) {
    const std::string_view below = path.substr(std::min(path.size(), std::size_t{10}));
    return under(below, "iam/security-credentials") ? Route::kCredentials : Route::kMetaData;
  }
  if (path == kTokenPath) return Route::kToken;
  if (under(path, "user-data")) return Route::kUserData;
  if (under(path, "dynamic")) return Route::kDynamic;
  return Route::kOther;
}

TokenRejection rejection_for(TokenCheck check) {
  switch (check) {
    case TokenCheck::kMalformed: return TokenRejection::kMalformed;
    case TokenCheck::kBadSignature: return TokenRejection::kBadSignature;
    case TokenCheck::kExpired: return TokenRejection::kExpired;
    case TokenCheck::kValid: break;
  }
  return TokenRejection::kNone;
}

Response issue_token(const Request& req, std::string_view version, const Snapshot& snapshot,
                     const TokenAuthority& tokens, std::int64_t now) {
  // A versioned token path is refused outright (AWS: 403), before anything else.
  if (version != "latest") return error(403, Outcome::kForbidden);
  if (req.method != Method::kPut) {
    Response r = error(405, Outcome::kMethodNotAllowed);
    r.allow = kAllowTokenPath;
    return r;
  }
  // AWS refuses token PUTs that went through a proxy (the X-Forwarded-For rule), so a token can
  // never be obtained by something other than the instance itself.
  if (req.forwarded) return error(403, Outcome::kForbidden);
  const RenderedInstance* instance = snapshot.find(req.caller);
  if (!instance) return error(404, Outcome::kUnknownCaller);
  if (!instance->options().http_endpoint_enabled) return error(403, Outcome::kForbidden, instance);
  auto ttl = parse_ttl(req.ttl);
  if (!ttl) return error(400, Outcome::kBadRequest, instance);

  Response r;
  r.outcome = Outcome::kTokenIssued;
  r.instance = instance;
  r.owned_body = tokens.issue(req.caller, instance->instance_id(), *ttl, now);
  r.ttl = *ttl;
  r.hop_limit = instance->options().http_put_response_hop_limit;
  return r;
}

}  // namespace

Response throttled() { return error(429, Outcome::kThrottled); }

Response not_found(const RenderedInstance* instance) {
  return error(404, Outcome::kNotFound, instance);
}

Response unavailable(const RenderedInstance* instance) {
  return error(503, Outcome::kUnavailable, instance);
}

const std::string& version_listing() {
  static const std::string listing = [] {
    std::string s;
    for (auto v : kVersions) {
      if (!s.empty()) s += '\n';
      s += v;
    }
    return s;
  }();
  return listing;
}

bool is_known_version(std::string_view version) {
  return std::find(kVersions.begin(), kVersions.end(), version) != kVersions.end();
}

Target split_target(std::string_view target, std::string& scratch) {
  // The path ends at '?' or '#': two memchr calls. (find_first_of("?#") called memchr once per
  // character, and a byte loop testing both was ~500 instructions for a 30-character target.)
  target = target.substr(0, target.find('?'));
  target = target.substr(0, target.find('#'));
  bool doubled_slash = false;  // no early exit: a branch-free loop over a few dozen bytes
  for (std::size_t i = 1; i < target.size(); ++i) {
    doubled_slash |= (target[i] == '/') & (target[i - 1] == '/');
  }
  Target out;
  out.trailing_slash = target.size() > 1 && target.back() == '/';
  // What every client sends, "/<version>/<path>" without repeated slashes, is split in place: the
  // copy into `scratch` below (8 % of a keep-alive GET's instructions) is for the odd target only.
  if (!target.empty() && target.front() == '/' && !doubled_slash) {
    std::string_view rest = target.substr(1);
    if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    if (rest.empty()) return out;
    const std::size_t slash = rest.find('/');
    out.version = rest.substr(0, slash);
    out.path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    return out;
  }
  scratch.clear();
  std::size_t version_len = std::string_view::npos;
  std::size_t pos = 0;
  while (pos < target.size()) {
    std::size_t end = target.find('/', pos);
    if (end == std::string_view::npos) end = target.size();
    if (end > pos) {  // empty segments are what `//` makes: AWS ignores them
      if (version_len == std::string_view::npos) {
        scratch.append(target.substr(pos, end - pos));
        version_len = scratch.size();
      } else {
        if (scratch.size() > version_len) scratch += '/';
        scratch.append(target.substr(pos, end - pos));
      }
    }
    pos = end + 1;
  }
  std::string_view s = scratch;
  if (version_len == std::string_view::npos) return out;
  out.version = s.substr(0, version_len);
  out.path = s.substr(version_len);
  return out;
}

Route route_of(std::string_view target) {
  thread_local std::string scratch;
  return route_of_path(split_target(target, scratch).path);
}

namespace {

Response respond_to(const Request& req, const Target& t, const Snapshot& snapshot,
                    const TokenAuthority& tokens, std::int64_t now) {
  if (t.path == kTokenPath && is_known_version(t.version)) {
    return issue_token(req, t.version, snapshot, tokens, now);
  }
  if (req.method != Method::kGet && req.method != Method::kHead) {
    Response r = error(405, Outcome::kMethodNotAllowed);
    r.allow = kAllowTree;
    return r;
  }

  // Unknown callers learn nothing, not even the version list.
  const RenderedInstance* instance = snapshot.find(req.caller);
  if (!instance) return error(404, Outcome::kUnknownCaller);
  const MetadataOptions& options = instance->options();
  if (!options.http_endpoint_enabled) return error(403, Outcome::kForbidden, instance);

  // A token, when sent, must be valid whatever http_tokens says; without one, only `required`
  // refuses (AWS: v1 requests still work under `optional`).
  std::optional<std::int64_t> remaining;
  if (req.token) {
    auto verdict = tokens.verify(*req.token, req.caller, instance->instance_id(), now);
    if (verdict.check != TokenCheck::kValid) {
      Response r = error(401, Outcome::kUnauthorized, instance);
      r.token_rejection = rejection_for(verdict.check);
      return r;
    }
    remaining = verdict.remaining_seconds;
  } else if (options.http_tokens == HttpTokens::kRequired) {
    Response r = error(401, Outcome::kUnauthorized, instance);
    r.token_rejection = TokenRejection::kMissing;
    return r;
  }

  Response r;
  r.instance = instance;
  r.ttl = remaining;
  if (t.version.empty()) {
    r.body = version_listing();
    return r;
  }
  if (!is_known_version(t.version)) return error(404, Outcome::kNotFound, instance);
  const Node* node = instance->find(t.path);
  // A leaf asked for with a trailing slash still answers with its value: botocore reads
  // placement/availability-zone/ and curl -L users fetch credentials/<role>/.
  if (!node) return error(404, Outcome::kNotFound, instance);
  r.body = node->body;
  r.content_type = node->content_type;
  if (node->signed_leaf != SignedLeaf::kNone) [[unlikely]] {
    if (const IdentitySignatures* signatures = instance->signatures()) {
      r.body = signatures->of(node->signed_leaf);
    } else {
      r.unsigned_leaf = node->signed_leaf;
    }
  }
  return r;
}

}  // namespace

Response respond(const Request& req, const Snapshot& snapshot, const TokenAuthority& tokens,
                 std::int64_t now) {
  thread_local std::string scratch;
  const Target t = split_target(req.target, scratch);
  Response r = respond_to(req, t, snapshot, tokens, now);
  r.route = route_of_path(t.path);
  return r;
}

}  // namespace cloudmeta::imds
