// Builders for every admin API response, so that each one carries the same security headers and
// error shape: {"error": "message", "field": "name"} (field only when one is at fault).
// Pure functions; thread-safe.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "cloudmeta/admin_http.hpp"

namespace cloudmeta::admin {

Response json_response(const Request& request, http::status status, const nlohmann::json& body);
Response empty_response(const Request& request, http::status status);
Response error_response(const Request& request, http::status status, std::string_view message,
                        std::string_view field = {});

}  // namespace cloudmeta::admin
