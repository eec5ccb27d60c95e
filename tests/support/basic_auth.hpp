// Test support: an HTTP Basic Authorization value, as a client builds it (RFC 7617).
#pragma once

#include <sodium.h>

#include <string>

namespace cloudmeta::testing {

inline std::string basic(const std::string& user, const std::string& password) {
  const std::string plain = user + ":" + password;
  std::string out(sodium_base64_ENCODED_LEN(plain.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(plain.data()),
                    plain.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL sodium writes
  return "Basic " + out;
}

}  // namespace cloudmeta::testing
