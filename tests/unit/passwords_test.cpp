#include "cloudmeta/passwords.hpp"

#include <doctest/doctest.h>

#include <string>

using cloudmeta::hash_password;
using cloudmeta::verify_password;

TEST_CASE("hash_password makes an Argon2id string that verifies only the same password") {
  const std::string hash = hash_password("correct horse battery");
  CHECK(hash.rfind("$argon2id$", 0) == 0);
  CHECK(hash.find("correct") == std::string::npos);
  CHECK(verify_password("correct horse battery", hash));
  CHECK_FALSE(verify_password("correct horse batterY", hash));
  CHECK_FALSE(verify_password("correct horse battery ", hash));
  CHECK_FALSE(verify_password("", hash));
}

TEST_CASE("hash_password salts: two hashes of one password differ and both verify") {
  const std::string a = hash_password("same password");
  const std::string b = hash_password("same password");
  CHECK(a != b);
  CHECK(verify_password("same password", a));
  CHECK(verify_password("same password", b));
}

TEST_CASE("passwords are bytes: embedded NUL and UTF-8 are significant") {
  const std::string with_nul("abc\0def", 7);
  const std::string hash = hash_password(with_nul);
  CHECK(verify_password(with_nul, hash));
  CHECK_FALSE(verify_password("abc", hash));

  const std::string utf8 = "pässwörd-\xF0\x9F\x94\x91";
  CHECK(verify_password(utf8, hash_password(utf8)));
}

TEST_CASE("verify_password refuses malformed or foreign hashes instead of throwing") {
  for (const char* bad : {"", "plain", "$argon2id$", "$argon2id$v=19$m=65536,t=2,p=1$xx$yy",
                          "$2b$12$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01"}) {
    CAPTURE(bad);
    CHECK_FALSE(verify_password("password", bad));
  }
}

TEST_CASE("hashes use the INTERACTIVE limits, and a hash stored earlier still verifies") {
  const std::string fresh = hash_password("hunter22");
  CHECK(fresh.rfind("$argon2id$v=19$m=65536,t=2,p=1$", 0) == 0);
  // Made once with crypto_pwhash_str for "hunter22"; the parameters travel inside the string, so
  // changing the limits later must not lock out existing superusers.
  const std::string stored =
      "$argon2id$v=19$m=65536,t=2,p=1$TxuIjgJ9MPuN/+7rxUQcJA$"
      "n/9er7tURGIl0S+G1Usm8zghu3HJpQewY6q12uKd2xg";
  CHECK(verify_password("hunter22", stored));
  CHECK_FALSE(verify_password("hunter23", stored));
}
