// What every admin route is handed: the request, the fleet to write through, who asks and from
// where, and the admin surface's own state. Built per request by AdminApi; admin thread only.
#pragma once

#include <string>

#include "auth.hpp"
#include "cloudmeta/admin_http.hpp"
#include "cloudmeta/fleet.hpp"
#include "cloudmeta/ip_key.hpp"
#include "web_state.hpp"

namespace cloudmeta::admin {

struct RouteContext {
  const Request& request;
  Fleet& fleet;
  const IpKey& peer;
  const Principal& principal;
  const std::string& request_id;
  WebState& web;
};

}  // namespace cloudmeta::admin
