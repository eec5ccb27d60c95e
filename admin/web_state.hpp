// What the admin surface keeps between requests: session keys, the password gate (throttle and
// Argon2id worker), the tokens' last use and the metadata surface's last-seen table. Owned by
// AdminApi; admin thread only.
#pragma once

#include <string_view>

#include "cloudmeta/last_seen.hpp"
#include "password_gate.hpp"
#include "session_keys.hpp"
#include "token_use.hpp"

namespace cloudmeta::admin {

struct WebState {
  WebState(std::string_view secret_key, const LastSeen* seen, bool secure)
      : keys(secret_key), last_seen(seen), secure_cookies(secure) {}

  SessionKeys keys;
  PasswordGate passwords;
  TokenUse token_use;
  const LastSeen* last_seen;  // nullptr: nothing is recorded (tests without a metadata surface)
  bool secure_cookies;        // ADMIN_SECURE_COOKIES=1
};

}  // namespace cloudmeta::admin
