// Audit entries for requests that have no RouteContext (the login page, password checks): the
// Store-level half of audit.hpp, apart so that authentication can write entries without
// depending on the routes.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cloudmeta/ip_key.hpp"
#include "cloudmeta/store.hpp"

namespace cloudmeta::admin {

// JSON as the audit log stores it (invalid UTF-8 replaced, never thrown).
std::string audit_json(const nlohmann::json& value);

// Appends an entry (actor "user:NAME", "token:NAME" or "anonymous"; `after` describes the
// change and holds no secret). Throws StoreError: call it inside the Store::transaction of the
// change it describes.
void audit_event(Store& store, std::string_view actor, const IpKey& peer, std::string_view action,
                 const nlohmann::json& after);

// A password check that failed (via: "page" or "basic"). It changes nothing, so an entry that
// cannot be written is logged instead of failing the request (which is refused anyway).
void audit_failed_login(Store& store, const IpKey& peer, std::string_view username,
                        std::string_view via) noexcept;

// A username as an audit entry or log line may show it: at most 150 bytes (the longest a
// username can be), the rest cut, so a guesser cannot fill the log with one huge name.
std::string bounded_username(std::string_view username);

}  // namespace cloudmeta::admin
