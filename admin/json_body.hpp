// Reads an admin request body as a JSON object. Throws ApiError: 415 unless Content-Type is
// application/json or a +json type, a missing one included (another site's page can send a body
// without Content-Type and no CORS preflight, never one with a JSON type); 400 "invalid JSON: ..."
// for bytes that do not parse or nest deeper than kMaxJsonDepth (cloudmeta/json_depth.hpp); 400
// for JSON that is not an object. Thread-safe.
#pragma once

#include <nlohmann/json.hpp>

#include "cloudmeta/admin_http.hpp"

namespace cloudmeta::admin {

nlohmann::json parse_json_object(const Request& request);

}  // namespace cloudmeta::admin
