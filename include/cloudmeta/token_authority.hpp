// TokenAuthority: issues and verifies IMDSv2 session tokens. Stateless: a token is
//   base64url( version(1) | expiry unix seconds (8, big-endian) | nonce (8) | tag (32) )
// where tag = HMAC-SHA256(subkey, version|expiry|nonce|caller address|instance id) and subkey is
// derived from SECRET_KEY with a fixed context. So tokens need no memory, survive restarts, work on
// every host sharing SECRET_KEY, and are refused from another address or for another instance.
// Wall-clock expiry (not monotonic) because tokens must outlive the process.
// Immutable after construction; safe to call from any thread; never throws on guest input.
// verify() remembers, per thread, the tokens it accepted (server/imds/verified_token_memo.hpp): a token
// sent again costs a constant-time comparison instead of the decode and HMAC, same verdict.
#pragma once

#include <sodium.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "cloudmeta/ip_key.hpp"

namespace cloudmeta {

inline constexpr int kMinTokenTtl = 1;
inline constexpr int kMaxTokenTtl = 21600;  // AWS: 6 hours

enum class TokenCheck { kValid, kMalformed, kBadSignature, kExpired };

struct TokenVerdict {
  TokenCheck check = TokenCheck::kMalformed;
  std::int64_t remaining_seconds = 0;  // when kValid: what AWS echoes in the TTL header
};

class TokenAuthority {
 public:
  static constexpr std::size_t kTokenLength = 66;  // base64url of 49 bytes, no padding

  explicit TokenAuthority(std::string_view secret_key);

  // ttl_seconds must already be within kMinTokenTtl..kMaxTokenTtl.
  std::string issue(const IpKey& caller, std::string_view instance_id, int ttl_seconds,
                    std::int64_t now_unix) const;
  TokenVerdict verify(std::string_view token, const IpKey& caller, std::string_view instance_id,
                      std::int64_t now_unix) const;

 private:
  // HMAC state with the subkey already absorbed: each token costs its own bytes only, not the
  // two key-block compressions again (the IMDSv2 hot path verifies one per request).
  crypto_auth_hmacsha256_state keyed_{};
  // Tells this authority's memo slots from another's (another SECRET_KEY, e.g. in tests): a token
  // one accepted must not be taken as verified by the other. Numbered per construction.
  std::uint64_t id_;
};

}  // namespace cloudmeta
