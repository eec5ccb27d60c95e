// The admin page itself: GET / (the app; to /login without a session), GET /login, GET
// /static/NAME (admin/web/ files built into the binary), POST /login (username and password as a
// form or JSON; checked through the PasswordGate: throttled -> 429, busy -> 503; logins good and
// bad audited),
// POST /logout (deletes the session server-side), and GET /api/v1/session (who is logged in, and
// the CSRF token the page's fetches send in X-CSRF-Token). Every page carries the security
// headers: a CSP without inline script, X-Frame-Options DENY, nosniff, Referrer-Policy no-referrer.
// Admin thread only. Throws ApiError and StoreError.
#pragma once

#include <optional>
#include <string_view>

#include "cloudmeta/admin_http.hpp"
#include "cloudmeta/asio.hpp"
#include "cloudmeta/ip_key.hpp"
#include "cloudmeta/store.hpp"
#include "route_context.hpp"
#include "web_auth.hpp"
#include "web_state.hpp"

namespace cloudmeta::admin {

// True for the paths this file answers (outside /api/v1).
bool is_page_path(std::string_view path);

net::awaitable<Response> handle_page(const Request& request, std::string_view path,
                                     const IpKey& peer, Store& store, WebState& web);

// GET /api/v1/session, authenticated by cookie or by token (then without a CSRF token).
Response session_info(const RouteContext& ctx, const std::optional<CookieSession>& session);

}  // namespace cloudmeta::admin
