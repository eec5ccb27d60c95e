#include "page_routes.hpp"

#include <ctime>
#include <utility>

#include <nlohmann/json.hpp>

#include "api_error.hpp"
#include "audit_entry.hpp"
#include "cloudmeta/log.hpp"
#include "json_body.hpp"
#include "json_response.hpp"
#include "request_target.hpp"
#include "web_assets.hpp"

namespace cloudmeta::admin {

namespace {

using nlohmann::json;

constexpr std::string_view kStaticPrefix = "/static/";
constexpr std::size_t kMaxUsernameLength = 150;
constexpr std::size_t kMaxPasswordLength = 4096;

// No inline script or style anywhere: the page's own files only, never framed, no plugins.
constexpr std::string_view kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'";

std::int64_t now_unix() { return static_cast<std::int64_t>(std::time(nullptr)); }

void add_security_headers(Response& response) {
  response.set("Content-Security-Policy", kContentSecurityPolicy);
  response.set("X-Frame-Options", "DENY");
  response.set("X-Content-Type-Options", "nosniff");
  response.set("Referrer-Policy", "no-referrer");
  response.set("Cross-Origin-Opener-Policy", "same-origin");
}

Response page(const Request& request, std::string_view name) {
  const WebAsset* asset = find_web_asset(name);
  if (!asset) throw ApiError(http::status::not_found, "not found");
  Response response{http::status::ok, request.version()};
  response.keep_alive(request.keep_alive());
  response.set(http::field::content_type, asset->content_type);
  // Revalidated on every load, so an upgraded binary's page is never mixed with a cached script.
  response.set(http::field::cache_control, "no-cache");
  add_security_headers(response);
  if (request.method() != http::verb::head) response.body() = std::string(asset->body);
  response.prepare_payload();
  if (request.method() == http::verb::head) response.content_length(asset->body.size());
  return response;
}

Response redirect(const Request& request, std::string_view location) {
  Response response{http::status::see_other, request.version()};
  response.keep_alive(request.keep_alive());
  response.set(http::field::location, location);
  response.set(http::field::cache_control, "no-store");
  add_security_headers(response);
  response.prepare_payload();
  return response;
}

bool is_form(const Request& request) {
  const auto it = request.find(http::field::content_type);
  return it != request.end() &&
         it->value().substr(0, 33) == "application/x-www-form-urlencoded";
}

struct Credentials {
  std::string username;
  std::string password;
  std::string csrf_token;  // logout form only
};

Credentials read_form(const Request& request) {
  Credentials out;
  std::string_view rest = request.body();
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    const auto eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string key = percent_decode(pair.substr(0, eq), true);
    std::string value = percent_decode(pair.substr(eq + 1), true);
    if (key == "username") out.username = std::move(value);
    if (key == "password") out.password = std::move(value);
    if (key == "csrf_token") out.csrf_token = std::move(value);
  }
  return out;
}

Credentials read_credentials(const Request& request) {
  if (is_form(request)) return read_form(request);
  const json body = parse_json_object(request);
  Credentials out;
  for (const char* name : {"username", "password"}) {
    const auto it = body.find(name);
    if (it == body.end() || !it->is_string()) {
      throw ApiError(http::status::bad_request, std::string(name) + " must be a string", name);
    }
  }
  out.username = body["username"].get<std::string>();
  out.password = body["password"].get<std::string>();
  return out;
}

Response login_refused(const Request& request, http::status status, std::string_view message,
                       std::string_view form_error) {
  if (is_form(request)) return redirect(request, "/login?error=" + std::string(form_error));
  Response response = error_response(request, status, message);
  add_security_headers(response);
  return response;
}

net::awaitable<Response> login(const Request& request, const IpKey& peer, Store& store,
                               WebState& web) {
  if (request.method() != http::verb::post) {
    throw ApiError(http::status::method_not_allowed, "method not allowed", {}, "GET, POST");
  }
  const std::string address = peer.to_string();
  // Login CSRF: another site must not log a browser into an account of the attacker's choosing.
  if (!same_origin(request)) {
    log_warn("admin_login_refused", {{"peer", address}, {"reason", "cross-origin"}});
    co_return login_refused(request, http::status::forbidden, "cross-origin request refused",
                            "origin");
  }
  Credentials credentials = read_credentials(request);
  // Bounded before the limiter keeps the name or the log writes it: a megabyte of username per
  // request would otherwise grow both without limit.
  if (credentials.username.size() > kMaxUsernameLength ||
      credentials.password.size() > kMaxPasswordLength) {
    const bool name = credentials.username.size() > kMaxUsernameLength;
    log_warn("admin_login_refused", {{"peer", address}, {"reason", "oversized credentials"}});
    co_return login_refused(
        request, http::status::bad_request,
        name ? "username is longer than " + std::to_string(kMaxUsernameLength) + " bytes"
             : "password is longer than " + std::to_string(kMaxPasswordLength) + " bytes",
        "credentials");
  }
  std::string username = credentials.username;
  const PasswordCheck check = co_await web.passwords.check(
      store, peer, std::move(username), std::move(credentials.password), "page");
  switch (check.outcome) {
    case PasswordCheck::Outcome::kMatch:
      break;
    case PasswordCheck::Outcome::kWrong:
      co_return login_refused(request, http::status::unauthorized, "wrong username or password",
                              "credentials");
    case PasswordCheck::Outcome::kThrottled:
    case PasswordCheck::Outcome::kBusy: {
      const bool throttled = check.outcome == PasswordCheck::Outcome::kThrottled;
      Response response =
          throttled ? login_refused(request, http::status::too_many_requests,
                                    "too many failed logins; try again later", "throttled")
                    : login_refused(request, http::status::service_unavailable,
                                    "too many logins at once; try again shortly", "busy");
      response.set(http::field::retry_after, std::to_string(check.retry_after));
      co_return response;
    }
  }

  const std::string id = SessionKeys::new_session_id();
  const std::int64_t now = now_unix();
  const std::int64_t expires_at = now + kSessionLifetime.count();
  // The session and its audit entry commit together: no login goes unrecorded.
  store.transaction([&] {
    store.create_admin_session(
        AdminSession{session_id_hash(id), check.username, address, {}, expires_at}, now);
    audit_event(store, "user:" + check.username, peer, "login", {{"username", check.username}});
  });
  log_info("admin_login", {{"peer", address}, {"username", check.username}});
  Response response =
      is_form(request)
          ? redirect(request, "/")
          : json_response(request, http::status::ok,
                          {{"username", check.username},
                           {"csrf_token", web.keys.csrf_token(id)},
                           {"expires_at", expires_at}});
  add_security_headers(response);
  response.set(http::field::set_cookie,
               session_cookie(web.keys.sign(id), kSessionLifetime.count(), web.secure_cookies));
  co_return response;
}

Response logout(const Request& request, const IpKey& peer, Store& store, WebState& web) {
  if (request.method() != http::verb::post) {
    throw ApiError(http::status::method_not_allowed, "method not allowed", {}, "POST");
  }
  const auto session = cookie_session(request, store, web.keys, now_unix());
  if (session) {
    require_csrf(request, *session, web.keys, peer,
                 is_form(request) ? read_form(request).csrf_token : std::string());
    store.delete_admin_session(session_id_hash(session->id));
    log_info("admin_logout", {{"peer", peer.to_string()}, {"username", session->username}});
  }
  Response response = is_form(request) ? redirect(request, "/login")
                                       : empty_response(request, http::status::no_content);
  add_security_headers(response);
  response.set(http::field::set_cookie, session_cookie("", 0, web.secure_cookies));
  return response;
}

}  // namespace

bool is_page_path(std::string_view path) {
  return path == "/" || path == "/login" || path == "/logout" ||
         path.substr(0, kStaticPrefix.size()) == kStaticPrefix;
}

namespace {

// Everything but POST /login: no password check, so no waiting.
Response static_page(const Request& request, std::string_view path, Store& store,
                     WebState& web, const IpKey& peer) {
  if (path == "/logout") return logout(request, peer, store, web);
  if (request.method() != http::verb::get && request.method() != http::verb::head) {
    throw ApiError(http::status::method_not_allowed, "method not allowed", {}, "GET, HEAD");
  }
  if (path == "/") {
    const bool logged_in = cookie_session(request, store, web.keys, now_unix()).has_value();
    return logged_in ? page(request, "index.html") : redirect(request, "/login");
  }
  if (path == "/login") return page(request, "login.html");
  const std::string_view name = path.substr(kStaticPrefix.size());
  if (name.find('/') != std::string_view::npos || name.ends_with(".html")) {
    throw ApiError(http::status::not_found, "not found");
  }
  return page(request, name);
}

}  // namespace

net::awaitable<Response> handle_page(const Request& request, std::string_view path,
                                     const IpKey& peer, Store& store, WebState& web) {
  if (path == "/login" && request.method() == http::verb::post) {
    Response response = co_await login(request, peer, store, web);
    co_return response;
  }
  co_return static_page(request, path, store, web, peer);
}

Response session_info(const RouteContext& ctx, const std::optional<CookieSession>& session) {
  if (ctx.request.method() != http::verb::get) {
    throw ApiError(http::status::method_not_allowed, "method not allowed", {}, "GET");
  }
  json body = {{"principal", ctx.principal.name}};
  if (session) {
    body["username"] = session->username;
    body["csrf_token"] = ctx.web.keys.csrf_token(session->id);
    body["expires_at"] = session->expires_at;
  }
  return json_response(ctx.request, http::status::ok, body);
}

}  // namespace cloudmeta::admin
