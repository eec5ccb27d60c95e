#include "web_auth.hpp"

#include "api_error.hpp"
#include "cloudmeta/log.hpp"

namespace cloudmeta::admin {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string_view header(const Request& request, std::string_view name) {
  const auto it = request.find(name);
  return it == request.end() ? std::string_view{} : std::string_view(it->value());
}

void refuse(const IpKey& peer, const CookieSession& session, std::string_view reason) {
  log_warn("admin_csrf_refused",
           {{"peer", peer.to_string()}, {"username", session.username}, {"reason", reason}});
  throw ApiError(http::status::forbidden, std::string(reason));
}

}  // namespace

std::optional<std::string_view> cookie_value(const Request& request, std::string_view name) {
  for (auto it = request.find(http::field::cookie);
       it != request.end() && it->name() == http::field::cookie; ++it) {
    std::string_view rest = it->value();
    while (!rest.empty()) {
      const auto semicolon = rest.find(';');
      const std::string_view pair = trim(rest.substr(0, semicolon));
      rest = semicolon == std::string_view::npos ? std::string_view{} : rest.substr(semicolon + 1);
      const auto eq = pair.find('=');
      if (eq != std::string_view::npos && pair.substr(0, eq) == name) return pair.substr(eq + 1);
    }
  }
  return std::nullopt;
}

std::optional<CookieSession> cookie_session(const Request& request, Store& store,
                                            const SessionKeys& keys, std::int64_t now) {
  const auto value = cookie_value(request, kSessionCookie);
  if (!value) return std::nullopt;
  auto id = keys.verify(*value);  // a forged cookie never reaches the database
  if (!id) return std::nullopt;
  const auto stored = store.find_admin_session(session_id_hash(*id));
  if (!stored || stored->expires_at <= now) return std::nullopt;
  if (!store.find_user(stored->username)) return std::nullopt;
  return CookieSession{std::move(*id), stored->username, stored->expires_at};
}

std::string session_cookie(std::string_view value, std::int64_t max_age, bool secure) {
  std::string cookie = std::string(kSessionCookie) + "=" + std::string(value) +
                       "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" + std::to_string(max_age);
  if (secure) cookie += "; Secure";
  return cookie;
}

bool same_origin(const Request& request) {
  const std::string_view host = header(request, "Host");
  const std::string_view origin = header(request, "Origin");
  if (!origin.empty()) {
    return !host.empty() &&
           (origin == "http://" + std::string(host) || origin == "https://" + std::string(host));
  }
  const std::string_view site = header(request, "Sec-Fetch-Site");
  return site.empty() || site == "same-origin" || site == "none";
}

void require_csrf(const Request& request, const CookieSession& session, const SessionKeys& keys,
                  const IpKey& peer, std::string_view presented) {
  const http::verb method = request.method();
  if (method == http::verb::get || method == http::verb::head) return;
  if (!same_origin(request)) refuse(peer, session, "cross-origin request refused");
  if (presented.empty()) presented = header(request, kCsrfHeader);
  if (presented.empty() || !keys.csrf_matches(session.id, presented)) {
    refuse(peer, session, "missing or wrong CSRF token");
  }
}

}  // namespace cloudmeta::admin
