#include "account_routes.hpp"

#include <nlohmann/json.hpp>

#include "api_error.hpp"
#include "audit.hpp"
#include "cloudmeta/api_tokens.hpp"
#include "cloudmeta/log.hpp"
#include "cloudmeta/passwords.hpp"
#include "json_body.hpp"
#include "json_response.hpp"
#include "request_target.hpp"

namespace cloudmeta::admin {

namespace {

using nlohmann::json;

[[noreturn]] void method_not_allowed(std::string_view allow) {
  throw ApiError(http::status::method_not_allowed, "method not allowed", {}, std::string(allow));
}

std::string string_field(const json& body, const std::string& name, bool required) {
  const auto it = body.find(name);
  if (it == body.end() || it->is_null()) {
    if (required) throw ApiError(http::status::bad_request, name + " is required", name);
    return {};
  }
  if (!it->is_string()) throw ApiError(http::status::bad_request, name + " must be a string", name);
  return it->get<std::string>();
}

// The rule `cloudmeta createsuperuser` and `token create` apply: 1..max of letters, digits, @.+-_
void check_name(const std::string& name, const std::string& field, std::size_t max) {
  const bool ok = !name.empty() && name.size() <= max &&
                  name.find_first_not_of(
                      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "0123456789@.+-_") == std::string::npos;
  if (!ok) {
    throw ApiError(http::status::bad_request,
                   field + " must be 1.." + std::to_string(max) + " letters, digits or @.+-_",
                   field);
  }
}

void check_password(const std::string& password) {
  if (password.size() < kMinPasswordLength) {
    throw ApiError(
        http::status::bad_request,
        "password must be at least " + std::to_string(kMinPasswordLength) + " characters",
        "password");
  }
}

Response list_users(const RouteContext& ctx) {
  json users = json::array();
  for (const auto& u : ctx.fleet.store().list_users()) {
    users.push_back({{"username", u.username}, {"email", u.email}, {"created_at", u.created_at}});
  }
  return json_response(ctx.request, http::status::ok, {{"users", users}});
}

Response create_user(const RouteContext& ctx) {
  const json body = parse_json_object(ctx.request);
  User user;
  user.username = string_field(body, "username", true);
  user.email = string_field(body, "email", false);
  const std::string password = string_field(body, "password", true);
  check_name(user.username, "username", 150);
  check_password(password);
  if (ctx.fleet.store().find_user(user.username)) {
    throw ApiError(http::status::conflict, "user " + user.username + " already exists", "username");
  }
  user.password_hash = hash_password(password);
  json shown;
  Store& store = ctx.fleet.store();
  store.transaction([&] {
    const User stored = store.create_user(user);
    shown = {{"username", stored.username},
             {"email", stored.email},
             {"created_at", stored.created_at}};
    audit_event(ctx, "user.create", shown);
  });
  log_info("user_created", {{"username", user.username}, {"principal", ctx.principal.name}});
  return json_response(ctx.request, http::status::created, shown);
}

// Ends the user's other sessions with it: whoever knew the old password is logged out. The
// session that made the change stays, when it is that user's own.
Response set_password(const RouteContext& ctx, const std::string& username,
                      const std::optional<CookieSession>& session) {
  if (ctx.request.method() != http::verb::post) method_not_allowed("POST");
  const std::string password = string_field(parse_json_object(ctx.request), "password", true);
  check_password(password);
  const std::string hash = hash_password(password);  // slow: before the write lock is taken
  const std::string keep =
      session && session->username == username ? session_id_hash(session->id) : std::string();
  std::size_t ended = 0;
  Store& store = ctx.fleet.store();
  store.transaction([&] {
    if (!store.set_password_hash(username, hash)) {
      throw ApiError(http::status::not_found, "no user named " + username);
    }
    ended = store.delete_admin_sessions_of(username, keep);
    audit_event(ctx, "user.password", {{"username", username}, {"sessions_ended", ended}});
  });
  log_info("password_changed", {{"username", username},
                                {"principal", ctx.principal.name},
                                {"sessions_ended", static_cast<std::int64_t>(ended)}});
  return empty_response(ctx.request, http::status::no_content);
}

Response list_tokens(const RouteContext& ctx) {
  json tokens = json::array();
  for (const auto& t : ctx.fleet.store().list_api_tokens()) {
    // A use not yet written (TokenUse flushes once a minute) is newer than the stored one.
    const auto unwritten = ctx.web.token_use.unwritten(t.id);
    tokens.push_back({{"name", t.name},
                      {"prefix", t.prefix},
                      {"created_at", t.created_at},
                      {"last_used_at", unwritten ? *unwritten : t.last_used_at}});
  }
  return json_response(ctx.request, http::status::ok, {{"tokens", tokens}});
}

Response create_token(const RouteContext& ctx) {
  const std::string name = string_field(parse_json_object(ctx.request), "name", true);
  check_name(name, "name", 100);
  const NewApiToken fresh = generate_api_token();
  ApiToken token;
  token.name = name;
  token.token_hash = fresh.hash;
  token.prefix = fresh.prefix;
  ApiToken stored;
  Store& store = ctx.fleet.store();
  store.transaction([&] {
    stored = store.create_api_token(token);
    audit_event(ctx, "token.create", {{"name", name}, {"prefix", stored.prefix}});
  });
  log_info("token_created", {{"name", name}, {"principal", ctx.principal.name}});
  return json_response(ctx.request, http::status::created,
                       {{"name", stored.name},
                        {"prefix", stored.prefix},
                        {"created_at", stored.created_at},
                        {"token", fresh.token}});
}

Response revoke_token(const RouteContext& ctx, const std::string& name) {
  Store& store = ctx.fleet.store();
  store.transaction([&] {
    if (!store.revoke_api_token(name)) {
      throw ApiError(http::status::not_found, "no token named " + name);
    }
    audit_event(ctx, "token.revoke", {{"name", name}});
  });
  log_info("token_revoked", {{"name", name}, {"principal", ctx.principal.name}});
  return empty_response(ctx.request, http::status::no_content);
}

}  // namespace

Response route_users(const RouteContext& ctx, std::string_view rest,
                     const std::optional<CookieSession>& session) {
  const http::verb method = ctx.request.method();
  if (rest.empty() || rest == "/") {
    if (method == http::verb::get) return list_users(ctx);
    if (method == http::verb::post) return create_user(ctx);
    method_not_allowed("GET, POST");
  }
  rest.remove_prefix(1);
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos || rest.substr(slash) != "/password") {
    throw ApiError(http::status::not_found, "not found");
  }
  return set_password(ctx, percent_decode(rest.substr(0, slash), false), session);
}

Response route_tokens(const RouteContext& ctx, std::string_view rest) {
  const http::verb method = ctx.request.method();
  if (rest.empty() || rest == "/") {
    if (method == http::verb::get) return list_tokens(ctx);
    if (method == http::verb::post) return create_token(ctx);
    method_not_allowed("GET, POST");
  }
  rest.remove_prefix(1);
  if (rest.find('/') != std::string_view::npos)
    throw ApiError(http::status::not_found, "not found");
  if (method != http::verb::delete_) method_not_allowed("DELETE");
  return revoke_token(ctx, percent_decode(rest, false));
}

}  // namespace cloudmeta::admin
