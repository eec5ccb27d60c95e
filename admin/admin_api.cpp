#include "cloudmeta/admin_api.hpp"

#include <array>
#include <ctime>
#include <memory>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>
#include <sodium.h>

#include "api_error.hpp"
#include "auth.hpp"
#include "cloudmeta/log.hpp"
#include "cloudmeta/metrics.hpp"
#include "cloudmeta/record_json.hpp"
#include "cloudmeta/store.hpp"
#include "host_check.hpp"
#include "identity_routes.hpp"
#include "instance_routes.hpp"
#include "json_response.hpp"
#include "metrics_route.hpp"
#include "page_routes.hpp"
#include "request_target.hpp"
#include "web_auth.hpp"
#include "web_routes.hpp"
#include "web_state.hpp"

namespace cloudmeta::admin {

namespace {

constexpr std::string_view kApiPrefix = "/api/v1";
constexpr std::string_view kInstances = "/api/v1/instances";
constexpr std::string_view kCollectionMethods = "GET, POST";
constexpr std::string_view kItemMethods = "GET, PUT, PATCH, DELETE";

std::string new_request_id() {
  std::array<unsigned char, 8> raw;
  randombytes_buf(raw.data(), raw.size());
  std::array<char, raw.size() * 2 + 1> hex;
  sodium_bin2hex(hex.data(), hex.size(), raw.data(), raw.size());
  return std::string(hex.data());
}

[[noreturn]] void method_not_allowed(std::string_view allow) {
  throw ApiError(http::status::method_not_allowed, "method not allowed", {}, std::string(allow));
}

// "stale" appears (true, with "stale_s" seconds) while the snapshot the metadata surface serves
// may lack other hosts' changes because refreshing it from the store fails.
Response healthz(const Request& request, Fleet& fleet) {
  if (request.method() != http::verb::get) method_not_allowed("GET");
  const auto with_staleness = [&fleet](nlohmann::json body) {
    if (fleet.stale()) {
      body["stale"] = true;
      body["stale_s"] = fleet.stale_for().count();
    }
    return body;
  };
  try {
    fleet.store().schema_version();
  } catch (const std::exception& e) {
    log_warn("healthz_failed", {{"reason", e.what()}});
    return json_response(request, http::status::service_unavailable,
                         with_staleness({{"status", "unavailable"}}));
  }
  return json_response(request, http::status::ok, with_staleness({{"status", "ok"}}));
}

Response readyz(const Request& request, bool ready, const SnapshotHolder& snapshots) {
  if (request.method() != http::verb::get) method_not_allowed("GET");
  if (!ready) {
    return json_response(request, http::status::service_unavailable, {{"status", "not ready"}});
  }
  return json_response(request, http::status::ok,
                       {{"status", "ready"}, {"instances", snapshots.load()->size()}});
}

Response route_instances(const RouteContext& ctx, const RequestTarget& target) {
  const http::verb method = ctx.request.method();
  std::string_view path = target.path;
  path.remove_prefix(kInstances.size());
  if (path.empty() || path == "/") {
    if (method == http::verb::get) return list_instances(ctx, target);
    if (method == http::verb::post) return create_instance(ctx);
    method_not_allowed(kCollectionMethods);
  }
  path.remove_prefix(1);  // the '/' before the id
  if (const auto slash = path.find('/'); slash != std::string_view::npos) {
    if (path.substr(slash) != "/rendered") throw ApiError(http::status::not_found, "not found");
    return rendered_instance(ctx, percent_decode(path.substr(0, slash), false));
  }
  const std::string id = percent_decode(path, false);
  switch (method) {
    case http::verb::get: return get_instance(ctx, id);
    case http::verb::put: return put_instance(ctx, id);
    case http::verb::patch: return patch_instance(ctx, id);
    case http::verb::delete_: return delete_instance(ctx, id);
    default: method_not_allowed(kItemMethods);
  }
}

Response unauthorized(const Request& request) {
  Response response =
      error_response(request, http::status::unauthorized, "authentication required");
  add_auth_challenges(response);
  return response;
}

bool is_instances_path(std::string_view path) {
  return path == kInstances ||
         (path.size() > kInstances.size() && path.substr(0, kInstances.size()) == kInstances &&
          path[kInstances.size()] == '/');
}

// The StoreError message names the column at fault; Fleet and the stores promise "instance_id",
// "ip" or "mac" (first word) for conflicts.
std::string conflict_field(const std::string& message) {
  if (message.find("instance_id") != std::string::npos) return "instance_id";
  if (message.rfind("mac ", 0) == 0) return "mac";
  if (message.find("ip") != std::string::npos) return "ip";
  return {};
}

Response store_error_response(const Request& request, const StoreError& e,
                              const std::string& request_id) {
  metrics::registry().count_store_error(e.kind());
  switch (e.kind()) {
    case StoreError::Kind::kConflict:
      return error_response(request, http::status::conflict, e.what(), conflict_field(e.what()));
    case StoreError::Kind::kNotFound:
      return error_response(request, http::status::not_found, e.what());
    case StoreError::Kind::kInvalid:
      return error_response(request, http::status::bad_request, e.what());
    case StoreError::Kind::kUnavailable:
      log_error("admin_store_unavailable", {{"request_id", request_id}, {"error", e.what()}});
      return error_response(request, http::status::service_unavailable, "database unavailable");
    case StoreError::Kind::kReadOnly:
      log_error("admin_store_read_only", {{"request_id", request_id}, {"error", e.what()}});
      return error_response(request, http::status::service_unavailable,
                            "the database refuses writes (read-only, or its disk is full); reads "
                            "still work, and writes will once it accepts them again");
    case StoreError::Kind::kCorrupt:
      break;
  }
  // StoreError messages are free of SQL, secrets and user-data by contract, so they may be logged.
  log_error("admin_internal_error", {{"request_id", request_id}, {"error", e.what()}});
  return error_response(request, http::status::internal_server_error, "internal error");
}

// The one place where an exception becomes a status (architecture §3.7).
Response error_for(const Request& request, std::exception_ptr error,
                   const std::string& request_id) {
  try {
    std::rethrow_exception(error);
  } catch (const ApiError& e) {
    Response response = error_response(request, e.status(), e.what(), e.field());
    if (!e.allow().empty()) response.set(http::field::allow, e.allow());
    if (e.retry_after() > 0) response.set(http::field::retry_after, std::to_string(e.retry_after()));
    return response;
  } catch (const ValidationError& e) {
    return error_response(request, http::status::bad_request, e.what(), e.field());
  } catch (const StoreError& e) {
    return store_error_response(request, e, request_id);
  } catch (const nlohmann::json::exception& e) {
    // Its text may quote request or record bytes (user-data): log only which error it was.
    log_error("admin_internal_error", {{"request_id", request_id}, {"json_error", e.id}});
  } catch (const std::exception& e) {
    log_error("admin_internal_error", {{"request_id", request_id}, {"error", e.what()}});
  } catch (...) {
    log_error("admin_internal_error", {{"request_id", request_id}, {"error", "unknown"}});
  }
  return error_response(request, http::status::internal_server_error, "internal error");
}

}  // namespace

AdminApi::AdminApi(Fleet& fleet, const Config& config, std::string_view secret_key,
                   const LastSeen* last_seen)
    : fleet_(fleet),
      config_(config),
      web_(std::make_unique<WebState>(secret_key, last_seen, config.admin_secure_cookies)) {}

AdminApi::~AdminApi() = default;

static_assert(TokenUseFlushInterval == TokenUse::kFlushInterval);

void AdminApi::flush_token_use() { web_->token_use.flush(fleet_.store()); }

net::awaitable<Response> AdminApi::handle(const Request& request, const IpKey& peer) {
  // co_await only as a whole statement, never inside a larger expression: g++ 12 mishandles
  // the temporaries of such expressions in coroutines.
  std::string request_id;
  std::exception_ptr error;
  try {
    request_id = new_request_id();
    Response response = co_await route(request, peer, request_id);
    co_return response;
  } catch (...) {
    error = std::current_exception();
  }
  try {
    co_return error_for(request, error, request_id);
  } catch (...) {
    // Only allocation can fail here; answer without touching JSON or the log.
    Response response{http::status::internal_server_error, request.version()};
    response.set(http::field::content_type, "application/json");
    response.set(http::field::cache_control, "no-store");
    response.set("X-Content-Type-Options", "nosniff");
    response.body() = R"({"error":"internal error"})";
    response.prepare_payload();
    co_return response;
  }
}

net::awaitable<Response> AdminApi::route(const Request& request, const IpKey& peer,
                                         const std::string& request_id) {
  if (const auto host = request.find(http::field::host);
      host != request.end() && !host_allowed(host->value(), config_.admin_allowed_hosts)) {
    log_warn("admin_host_refused", {{"peer", peer.to_string()},
                                    {"host", std::string(host->value().substr(0, 100))}});
    throw ApiError(http::status::misdirected_request,
                   "this Host is not the admin surface's (ADMIN_ALLOWED_HOSTS lists its names)");
  }
  const RequestTarget target = parse_target(request.target());
  if (target.path == "/healthz") co_return healthz(request, fleet_);
  if (target.path == "/readyz") co_return readyz(request, ready_, fleet_.snapshots());
  if (target.path == kMetricsPath) {
    if (!config_.metrics_public) {
      const std::optional<Principal> principal = co_await authenticate(
          request, fleet_.store(), peer, web_->passwords, web_->token_use);
      if (!principal) co_return unauthorized(request);
    }
    co_return metrics_route(request, fleet_);
  }
  if (target.path == kIdentityCertificatesPath && identity_signer_) {
    co_return identity_certificates(request, target, *identity_signer_);
  }
  if (is_page_path(target.path)) {
    Response response = co_await handle_page(request, target.path, peer, fleet_.store(), *web_);
    co_return response;
  }

  const bool is_api = target.path == kApiPrefix ||
                      target.path.rfind(std::string(kApiPrefix) + "/", 0) == 0;
  if (!is_api) throw ApiError(http::status::not_found, "not found");
  // Whatever authenticates it: a browser attaches cached Basic credentials to another site's
  // requests too, and it says where a request comes from in Origin (or Sec-Fetch-Site).
  const http::verb method = request.method();
  if (method != http::verb::get && method != http::verb::head && !same_origin(request)) {
    log_warn("admin_cross_origin_refused", {{"peer", peer.to_string()}});
    throw ApiError(http::status::forbidden, "cross-origin request refused");
  }

  // Authenticate before routing, so that an anonymous caller learns nothing about the routes.
  // The page's session cookie counts only without an Authorization header, and must then pass
  // the CSRF checks before anything changes; from there on both use the same handlers.
  std::optional<CookieSession> session;
  if (request.find(http::field::authorization) == request.end()) {
    session = cookie_session(request, fleet_.store(), web_->keys,
                             static_cast<std::int64_t>(std::time(nullptr)));
  }
  std::optional<Principal> principal;
  if (session) {
    principal = Principal{"user:" + session->username};
  } else {
    principal =
        co_await authenticate(request, fleet_.store(), peer, web_->passwords, web_->token_use);
  }
  if (!principal) {
    Response response =
        error_response(request, http::status::unauthorized, "authentication required");
    // The page's fetches say so; a challenge would make the browser pop up its own dialog.
    if (request.find("X-Requested-With") == request.end()) add_auth_challenges(response);
    co_return response;
  }
  if (session) require_csrf(request, *session, web_->keys, peer);
  const RouteContext ctx{request, fleet_, peer, *principal, request_id, *web_};
  if (auto response = route_web_api(ctx, target, session)) co_return std::move(*response);
  if (!is_instances_path(target.path)) throw ApiError(http::status::not_found, "not found");
  co_return route_instances(ctx, target);
}

}  // namespace cloudmeta::admin
