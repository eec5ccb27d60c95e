// POST /api/v1/cloud-config/check {"user_data": "..."}: a YAML syntax check of cloud-config
// user-data for the page's editor, with yaml-cpp (Debian's libyaml-cpp-dev) on the server rather
// than a hand-written checker in the page: a real YAML parser, one that reports line and column.
// Answers 200 {"cloud_config": bool, "valid": bool, "error", "line", "column" (1-based)}; user-data
// that does not start with "#cloud-config" is not YAML to cloud-init and is reported as such;
// YAML nested deeper than kMaxYamlDepth (yaml_depth.hpp) is reported invalid, with where.
// Changes nothing. Thread-safe; throws ApiError (400) for a malformed request.
#pragma once

#include "route_context.hpp"

namespace cloudmeta::admin {

Response check_cloud_config(const RouteContext& ctx);

}  // namespace cloudmeta::admin
