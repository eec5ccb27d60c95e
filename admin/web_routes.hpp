// Routing of the /api/v1 paths the admin page added beside /api/v1/instances: session, audit,
// users, tokens and the cloud-config check. The same JSON API for tokens and browser sessions.
#pragma once

#include <optional>

#include "route_context.hpp"
#include "request_target.hpp"
#include "web_auth.hpp"

namespace cloudmeta::admin {

// nullopt when the path is none of these.
std::optional<Response> route_web_api(const RouteContext& ctx, const RequestTarget& target,
                                      const std::optional<CookieSession>& session);

}  // namespace cloudmeta::admin
