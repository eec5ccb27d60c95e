#include "cloudmeta/passwords.hpp"

#include <stdexcept>

#include <sodium.h>

namespace cloudmeta {

// INTERACTIVE limits (2 passes, 64 MiB) are libsodium's advice for online logins: slow enough to
// make offline guessing of a leaked hash expensive, fast enough for a person waiting on a request.
std::string hash_password(std::string_view password) {
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(out, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
    throw std::runtime_error("password hashing failed (out of memory)");
  }
  return std::string(out);
}

bool verify_password(std::string_view password, const std::string& hash) {
  // The hash string carries its own algorithm and limits, so hashes made with other limits (or a
  // later libsodium default) still verify. A malformed hash simply fails.
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

}  // namespace cloudmeta
