// Admin API tokens: "cm_" + base64url of 32 random bytes, shown once. Only the hex SHA-256 is
// stored (a high-entropy secret needs no slow hash); lookups are by that hash and the final
// comparison is constant-time. Thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace cloudmeta {

struct NewApiToken {
  std::string token;   // give to the user once, never store or log
  std::string hash;    // store this
  std::string prefix;  // first 8 characters, to recognise a token in listings
};

NewApiToken generate_api_token();
std::string hash_api_token(std::string_view token);
bool hashes_equal(std::string_view a, std::string_view b);  // constant-time for equal lengths

}  // namespace cloudmeta
