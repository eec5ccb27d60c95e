#include "cloudmeta/api_tokens.hpp"

#include <array>

#include <sodium.h>

namespace cloudmeta {

namespace {

constexpr std::string_view kTokenPrefix = "cm_";  // lets secret scanners recognise a leaked token
constexpr std::size_t kTokenRandomBytes = 32;
constexpr std::size_t kListingPrefixLength = 8;
constexpr int kBase64Variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;

}  // namespace

NewApiToken generate_api_token() {
  std::array<unsigned char, kTokenRandomBytes> raw;
  randombytes_buf(raw.data(), raw.size());
  std::array<char, sodium_base64_ENCODED_LEN(kTokenRandomBytes, kBase64Variant)> encoded;
  sodium_bin2base64(encoded.data(), encoded.size(), raw.data(), raw.size(), kBase64Variant);
  sodium_memzero(raw.data(), raw.size());

  NewApiToken result;
  result.token = std::string(kTokenPrefix) + encoded.data();
  sodium_memzero(encoded.data(), encoded.size());
  result.hash = hash_api_token(result.token);
  result.prefix = result.token.substr(0, kListingPrefixLength);
  return result;
}

// 256 random bits cannot be guessed, so a fast hash is enough: it only keeps a copied database
// from yielding usable tokens.
std::string hash_api_token(std::string_view token) {
  std::array<unsigned char, crypto_hash_sha256_BYTES> digest;
  crypto_hash_sha256(digest.data(), reinterpret_cast<const unsigned char*>(token.data()),
                     token.size());
  std::array<char, crypto_hash_sha256_BYTES * 2 + 1> hex;
  sodium_bin2hex(hex.data(), hex.size(), digest.data(), digest.size());
  return std::string(hex.data());
}

bool hashes_equal(std::string_view a, std::string_view b) {
  // Hashes have a fixed length, so revealing a length mismatch reveals nothing secret.
  if (a.size() != b.size()) return false;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace cloudmeta
