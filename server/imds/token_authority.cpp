#include "cloudmeta/token_authority.hpp"

#include <sodium.h>

#include <atomic>
#include <stdexcept>

#include "imds/verified_token_memo.hpp"

namespace cloudmeta {
namespace {

constexpr unsigned char kVersion = 1;
constexpr std::size_t kHeaderBytes = 1 + 8 + 8;  // version, expiry, nonce
constexpr std::size_t kRawBytes = kHeaderBytes + crypto_auth_hmacsha256_BYTES;
// Domain separation: the same SECRET_KEY also signs admin sessions, never with this subkey.
constexpr std::string_view kSubkeyContext = "cloudmeta/imds-token/v1";

void compute_tag(const crypto_auth_hmacsha256_state& keyed, const unsigned char* header,
                 const IpKey& caller, std::string_view instance_id, unsigned char* out) {
  crypto_auth_hmacsha256_state st = keyed;
  crypto_auth_hmacsha256_update(&st, header, kHeaderBytes);
  crypto_auth_hmacsha256_update(&st, caller.bytes().data(), caller.bytes().size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(instance_id.data()),
                                instance_id.size());
  crypto_auth_hmacsha256_final(&st, out);
}

TokenVerdict verdict_at(std::uint64_t expiry, std::int64_t now_unix) {
  const auto remaining = static_cast<std::int64_t>(expiry) - now_unix;
  if (remaining <= 0) return {TokenCheck::kExpired, 0};
  return {TokenCheck::kValid, remaining};
}

std::uint64_t next_authority_id() {
  static std::atomic<std::uint64_t> counter{0};
  return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}

}  // namespace

static_assert(TokenAuthority::kTokenLength == (kRawBytes * 4 + 2) / 3);
static_assert(TokenAuthority::kTokenLength == VerifiedTokenMemo::kTokenLength);

TokenAuthority::TokenAuthority(std::string_view secret_key) : id_(next_authority_id()) {
  if (secret_key.empty()) throw std::invalid_argument("TokenAuthority needs a secret key");
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(secret_key.data()),
                              secret_key.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(kSubkeyContext.data()),
                                kSubkeyContext.size());
  unsigned char subkey[32];
  crypto_auth_hmacsha256_final(&st, subkey);
  crypto_auth_hmacsha256_init(&keyed_, subkey, sizeof subkey);
  sodium_memzero(subkey, sizeof subkey);
}

std::string TokenAuthority::issue(const IpKey& caller, std::string_view instance_id,
                                  int ttl_seconds, std::int64_t now_unix) const {
  unsigned char raw[kRawBytes];
  raw[0] = kVersion;
  const auto expiry = static_cast<std::uint64_t>(now_unix + ttl_seconds);
  for (int i = 0; i < 8; ++i) raw[1 + i] = static_cast<unsigned char>(expiry >> (56 - 8 * i));
  randombytes_buf(raw + 9, 8);  // two tokens issued in one second still differ
  compute_tag(keyed_, raw, caller, instance_id, raw + kHeaderBytes);

  char text[kTokenLength + 1];
  sodium_bin2base64(text, sizeof text, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return std::string(text, kTokenLength);
}

TokenVerdict TokenAuthority::verify(std::string_view token, const IpKey& caller,
                                    std::string_view instance_id, std::int64_t now_unix) const {
  // Cheap length check before any decoding or crypto (a guest controls these bytes).
  if (token.size() != kTokenLength) return {TokenCheck::kMalformed, 0};
  VerifiedTokenMemo& memo = VerifiedTokenMemo::of_this_thread();
  if (auto expiry = memo.find(id_, token, caller, instance_id)) return verdict_at(*expiry, now_unix);
  unsigned char raw[kRawBytes];
  std::size_t raw_len = 0;
  if (sodium_base642bin(raw, sizeof raw, token.data(), token.size(), nullptr, &raw_len, nullptr,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      raw_len != kRawBytes || raw[0] != kVersion) {
    return {TokenCheck::kMalformed, 0};
  }
  unsigned char expected[crypto_auth_hmacsha256_BYTES];
  compute_tag(keyed_, raw, caller, instance_id, expected);
  if (crypto_verify_32(expected, raw + kHeaderBytes) != 0) return {TokenCheck::kBadSignature, 0};

  std::uint64_t expiry = 0;
  for (int i = 0; i < 8; ++i) expiry = (expiry << 8) | raw[1 + i];
  const TokenVerdict verdict = verdict_at(expiry, now_unix);
  if (verdict.check == TokenCheck::kValid) memo.remember(id_, token, caller, instance_id, expiry);
  return verdict;
}

}  // namespace cloudmeta
