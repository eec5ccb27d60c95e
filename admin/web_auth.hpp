// Cookie sessions of the admin page: reading the session cookie, and the checks a request
// authenticated by that cookie must pass before it may change anything (same origin, CSRF
// token). Cookie-authenticated requests then use the same /api/v1 handlers as API tokens.
// Runs on the admin thread (uses the Store). Throws ApiError (403) and StoreError.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cloudmeta/admin_http.hpp"
#include "cloudmeta/ip_key.hpp"
#include "cloudmeta/store.hpp"
#include "session_keys.hpp"

namespace cloudmeta::admin {

inline constexpr std::string_view kSessionCookie = "cloudmeta_session";
inline constexpr std::string_view kCsrfHeader = "X-CSRF-Token";
// Absolute lifetime: a session ends this long after login, however busy; logout ends it sooner.
inline constexpr std::chrono::seconds kSessionLifetime{8 * 3600};

struct CookieSession {
  std::string id;  // the raw session id (the cookie's unsigned part)
  std::string username;
  std::int64_t expires_at = 0;
};

// The value of cookie `name` in the Cookie header(s), if any.
std::optional<std::string_view> cookie_value(const Request& request, std::string_view name);

// The live session named by a correctly signed cookie, or nullopt (no cookie, bad signature,
// unknown, expired or logged-out session, or its user was removed).
std::optional<CookieSession> cookie_session(const Request& request, Store& store,
                                            const SessionKeys& keys, std::int64_t now);

// The Set-Cookie value: HttpOnly, SameSite=Strict, Path=/, Secure when asked. An empty value with
// max_age 0 deletes the cookie.
std::string session_cookie(std::string_view value, std::int64_t max_age, bool secure);

// False when the request carries an Origin (or, lacking one, Sec-Fetch-Site) that says another
// site sent it. Browsers attach Origin to every cross-origin POST, PUT, PATCH and DELETE.
bool same_origin(const Request& request);

// Every method but GET and HEAD, when authenticated by cookie: same origin and the session's CSRF
// token in the X-CSRF-Token header (or `presented`, a form field). Throws ApiError 403 and logs.
void require_csrf(const Request& request, const CookieSession& session, const SessionKeys& keys,
                  const IpKey& peer, std::string_view presented = {});

}  // namespace cloudmeta::admin
