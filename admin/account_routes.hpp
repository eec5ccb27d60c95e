// Superusers and API tokens over the admin API, for the page's Users and Tokens screens:
//   GET  /api/v1/users                    -> {"users": [{username, email, created_at}]}
//   POST /api/v1/users {username, email, password}  -> 201 (Argon2id hash stored)
//   POST /api/v1/users/{name}/password {password}   -> 204; ends that user's other sessions
//   GET  /api/v1/tokens                   -> {"tokens": [{name, prefix, created_at, last_used_at}]}
//   POST /api/v1/tokens {name}            -> 201 {name, prefix, created_at, token}: the only time
//                                            the token is shown; only its hash is stored
//   DELETE /api/v1/tokens/{name}          -> 204
// Every change is audited in the transaction that makes it (never with a password or token).
// Admin thread only. Throws ApiError,
// StoreError.
#pragma once

#include <optional>
#include <string_view>

#include "route_context.hpp"
#include "web_auth.hpp"

namespace cloudmeta::admin {

// rest: after /users; session: the cookie session that asks, if it is one (it survives a change
// of its own user's password).
Response route_users(const RouteContext& ctx, std::string_view rest,
                     const std::optional<CookieSession>& session);
Response route_tokens(const RouteContext& ctx, std::string_view rest);  // rest: after /tokens

}  // namespace cloudmeta::admin
