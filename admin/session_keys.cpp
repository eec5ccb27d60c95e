#include "session_keys.hpp"

#include <sodium.h>

namespace cloudmeta::admin {

namespace {

using Mac = std::array<unsigned char, crypto_auth_hmacsha256_BYTES>;

template <class Key>
Mac hmac(const Key& key, std::string_view message) {
  Mac out;
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, key.data(), key.size());
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(message.data()),
                                message.size());
  crypto_auth_hmacsha256_final(&state, out.data());
  return out;
}

std::string base64url(const unsigned char* data, std::size_t size) {
  std::string out(sodium_base64_ENCODED_LEN(size, sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), data, size, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(out.find('\0'));
  return out;
}

}  // namespace

SessionKeys::SessionKeys(std::string_view secret_key) {
  std::array<unsigned char, 32> root;
  if (secret_key.empty()) {
    randombytes_buf(root.data(), root.size());
  } else {
    // SECRET_KEY may be any length (>= 32 characters); hash it to a key of HMAC's block-friendly
    // size, then derive one subkey per purpose. The IMDSv2 token signer uses SECRET_KEY with
    // labels of its own, so none of these values is valid there either.
    crypto_hash_sha256(root.data(), reinterpret_cast<const unsigned char*>(secret_key.data()),
                       secret_key.size());
  }
  const Mac cookie = hmac(root, "cloudmeta admin session cookie v1");
  const Mac csrf = hmac(root, "cloudmeta admin csrf token v1");
  std::copy(cookie.begin(), cookie.end(), cookie_key_.begin());
  std::copy(csrf.begin(), csrf.end(), csrf_key_.begin());
  sodium_memzero(root.data(), root.size());
}

std::string SessionKeys::new_session_id() {
  std::array<unsigned char, 32> raw;
  randombytes_buf(raw.data(), raw.size());
  return base64url(raw.data(), raw.size());
}

std::string SessionKeys::sign(std::string_view session_id) const {
  const Mac mac = hmac(cookie_key_, session_id);
  return std::string(session_id) + "." + base64url(mac.data(), mac.size());
}

std::optional<std::string> SessionKeys::verify(std::string_view cookie_value) const {
  const auto dot = cookie_value.find('.');
  if (dot == std::string_view::npos || dot == 0 || cookie_value.size() > 256) return std::nullopt;
  const std::string_view id = cookie_value.substr(0, dot);
  const std::string expected = sign(id);
  if (expected.size() != cookie_value.size() ||
      sodium_memcmp(expected.data(), cookie_value.data(), expected.size()) != 0) {
    return std::nullopt;
  }
  return std::string(id);
}

std::string SessionKeys::csrf_token(std::string_view session_id) const {
  const Mac mac = hmac(csrf_key_, session_id);
  return base64url(mac.data(), mac.size());
}

bool SessionKeys::csrf_matches(std::string_view session_id, std::string_view presented) const {
  const std::string expected = csrf_token(session_id);
  return presented.size() == expected.size() &&
         sodium_memcmp(expected.data(), presented.data(), expected.size()) == 0;
}

std::string session_id_hash(std::string_view session_id) {
  std::array<unsigned char, crypto_hash_sha256_BYTES> digest;
  crypto_hash_sha256(digest.data(), reinterpret_cast<const unsigned char*>(session_id.data()),
                     session_id.size());
  std::array<char, digest.size() * 2 + 1> hex;
  sodium_bin2hex(hex.data(), hex.size(), digest.data(), digest.size());
  return std::string(hex.data());
}

}  // namespace cloudmeta::admin
