#include "cloudmeta/api_tokens.hpp"

#include <doctest/doctest.h>

#include <set>
#include <string>

using cloudmeta::generate_api_token;
using cloudmeta::hash_api_token;
using cloudmeta::hashes_equal;

namespace {

bool is_base64url(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

}  // namespace

TEST_CASE("generate_api_token: cm_ + 43 base64url characters (32 bytes, no padding)") {
  const auto t = generate_api_token();
  REQUIRE(t.token.size() == 3 + 43);
  CHECK(t.token.rfind("cm_", 0) == 0);
  for (char c : t.token.substr(3)) {
    CAPTURE(c);
    CHECK(is_base64url(c));
  }
  CHECK(t.prefix == t.token.substr(0, 8));
  CHECK(t.hash == hash_api_token(t.token));
}

TEST_CASE("generate_api_token never repeats a token") {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) seen.insert(generate_api_token().token);
  CHECK(seen.size() == 200);
}

TEST_CASE("hash_api_token is lowercase hex SHA-256") {
  CHECK(hash_api_token("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(hash_api_token("abc") ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const auto t = generate_api_token();
  CHECK(t.hash.size() == 64);
  CHECK(t.hash.find(t.token) == std::string::npos);
  CHECK(hash_api_token(t.token + "x") != t.hash);
}

TEST_CASE("hashes_equal compares whole strings") {
  const std::string a = hash_api_token("one");
  const std::string b = hash_api_token("two");
  CHECK(hashes_equal(a, a));
  CHECK(hashes_equal(a, std::string(a)));
  CHECK_FALSE(hashes_equal(a, b));
  CHECK_FALSE(hashes_equal(a, a.substr(0, 63)));
  CHECK_FALSE(hashes_equal(a, a + "0"));
  std::string last_differs = a;
  last_differs.back() = last_differs.back() == '0' ? '1' : '0';
  CHECK_FALSE(hashes_equal(a, last_differs));
}
