// Authentication of admin API requests: `Authorization: Bearer <api token>`, HTTP Basic with a
// superuser's username and password, or HTTP Basic with any username and an API token as the
// password (for tools that only speak Basic). Passwords go through the PasswordGate (throttle,
// then Argon2id off the admin thread); tokens are a hash lookup, and their use is noted in
// memory (TokenUse), not written per request. Logs every failure (peer, scheme, username) and
// never a secret. Admin thread only.
#pragma once

#include <optional>
#include <string>

#include "cloudmeta/admin_http.hpp"
#include "cloudmeta/asio.hpp"
#include "cloudmeta/ip_key.hpp"
#include "cloudmeta/store.hpp"
#include "password_gate.hpp"
#include "token_use.hpp"

namespace cloudmeta::admin {

struct Principal {
  std::string name;  // "user:<username>" or "token:<token name>", for audit logs
};

// The principal, or nullopt (answer 401). Throws ApiError 429 (too many failed passwords from
// this address range or for this username) or 503 (password checks busy), both with
// Retry-After, and StoreError.
net::awaitable<std::optional<Principal>> authenticate(const Request& request, Store& store,
                                                      const IpKey& peer, PasswordGate& passwords,
                                                      TokenUse& token_use);

// The PasswordGate's refusals as the API answers them (ApiError 429 or 503 with Retry-After).
[[noreturn]] void throw_password_refusal(const PasswordCheck& check);

// Adds the challenges a 401 must carry (RFC 9110 §11.6.1), one header per scheme.
void add_auth_challenges(Response& response);

}  // namespace cloudmeta::admin
