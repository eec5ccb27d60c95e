// Authentication of admin API requests: `Authorization: Bearer <api token>`, HTTP Basic with a
// superuser's username and password (Argon2id), or HTTP Basic with any username and an API token
// as the password (for tools that only speak Basic). Runs on the admin thread that owns the
// Store; Argon2id costs tens of milliseconds there, by design. Logs every failure (peer, scheme,
// username) and never a secret. Throws only what the Store throws (StoreError).
#pragma once

#include <optional>
#include <string>

#include "cloudmeta/admin_http.hpp"
#include "cloudmeta/ip_key.hpp"
#include "cloudmeta/store.hpp"

namespace cloudmeta::admin {

struct Principal {
  std::string name;  // "user:<username>" or "token:<token name>", for audit logs
};

std::optional<Principal> authenticate(const Request& request, Store& store, const IpKey& peer);

// A superuser's username and password (Argon2id); an unknown username costs the same work as a
// wrong password. Used by Basic auth and by the admin page's POST /login. Does not log.
std::optional<Principal> check_password(std::string_view username, std::string_view password,
                                        Store& store);

// Adds the challenges a 401 must carry (RFC 9110 §11.6.1), one header per scheme.
void add_auth_challenges(Response& response);

}  // namespace cloudmeta::admin
