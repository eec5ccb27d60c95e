#include "web_routes.hpp"

#include <string_view>

#include "account_routes.hpp"
#include "audit.hpp"
#include "cloud_config_check.hpp"
#include "page_routes.hpp"

namespace cloudmeta::admin {

namespace {

// rest: what follows `prefix` when `path` is the prefix itself or the prefix and a '/'.
std::optional<std::string_view> under(std::string_view path, std::string_view prefix) {
  if (path.substr(0, prefix.size()) != prefix) return std::nullopt;
  const std::string_view rest = path.substr(prefix.size());
  if (!rest.empty() && rest.front() != '/') return std::nullopt;
  return rest;
}

}  // namespace

std::optional<Response> route_web_api(const RouteContext& ctx, const RequestTarget& target,
                                      const std::optional<CookieSession>& session) {
  const std::string_view path = target.path;
  if (path == "/api/v1/session") return session_info(ctx, session);
  if (path == "/api/v1/audit") return list_audit(ctx, target);
  if (path == "/api/v1/cloud-config/check") return check_cloud_config(ctx);
  if (const auto rest = under(path, "/api/v1/users")) return route_users(ctx, *rest, session);
  if (const auto rest = under(path, "/api/v1/tokens")) return route_tokens(ctx, *rest);
  return std::nullopt;
}

}  // namespace cloudmeta::admin
