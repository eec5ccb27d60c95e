// What the admin surface keeps between requests for the web page: session keys, the failed-login
// limiter, the record cache and the metadata surface's last-seen table. Owned by AdminApi; admin
// thread only.
#pragma once

#include <string_view>

#include "cloudmeta/last_seen.hpp"
#include "login_limiter.hpp"
#include "record_cache.hpp"
#include "session_keys.hpp"

namespace cloudmeta::admin {

struct WebState {
  WebState(std::string_view secret_key, const LastSeen* seen, bool secure)
      : keys(secret_key), last_seen(seen), secure_cookies(secure) {}

  SessionKeys keys;
  LoginLimiter login_limiter;
  RecordCache records;
  const LastSeen* last_seen;  // nullptr: nothing is recorded (tests without a metadata surface)
  bool secure_cookies;        // ADMIN_SECURE_COOKIES=1
};

}  // namespace cloudmeta::admin
