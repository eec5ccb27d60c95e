#include "auth.hpp"

#include <optional>
#include <string_view>

#include <sodium.h>

#include "api_error.hpp"
#include "cloudmeta/api_tokens.hpp"
#include "cloudmeta/log.hpp"

namespace cloudmeta::admin {

namespace {

constexpr std::string_view kTokenPrefix = "cm_";
// Longer credentials are refused before any decoding: no real token or password comes close.
constexpr std::size_t kMaxCredentialsLength = 4096;

struct Attempt {
  std::string_view scheme;
  std::string_view username;
};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<std::string> base64_decode(std::string_view text) {
  std::string out(text.size(), '\0');
  std::size_t length = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                        text.size(), nullptr, &length, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0) {
    return std::nullopt;
  }
  out.resize(length);
  return out;
}

void log_failure(const IpKey& peer, const Attempt& attempt, std::string_view reason) {
  if (attempt.username.empty()) {
    log_warn("admin_auth_failed",
             {{"peer", peer.to_string()}, {"scheme", attempt.scheme}, {"reason", reason}});
  } else {
    log_warn("admin_auth_failed", {{"peer", peer.to_string()},
                                   {"scheme", attempt.scheme},
                                   {"username", attempt.username},
                                   {"reason", reason}});
  }
}

std::optional<Principal> check_token(std::string_view token, Store& store, TokenUse& token_use) {
  const std::string hash = hash_api_token(token);
  const auto found = store.find_api_token_by_hash(hash);
  // The lookup is by hash, so the database comparison leaks nothing about the token itself; the
  // constant-time compare keeps that true whatever the Store does underneath.
  if (!found || !hashes_equal(found->token_hash, hash)) return std::nullopt;
  token_use.used(found->id);
  return Principal{"token:" + found->name};
}

}  // namespace

void throw_password_refusal(const PasswordCheck& check) {
  if (check.outcome == PasswordCheck::Outcome::kThrottled) {
    throw ApiError(http::status::too_many_requests,
                   "too many failed password attempts; try again later", {}, {},
                   check.retry_after);
  }
  throw ApiError(http::status::service_unavailable,
                 "too many password checks at once; try again shortly", {}, {},
                 check.retry_after);
}

net::awaitable<std::optional<Principal>> authenticate(const Request& request, Store& store,
                                                      const IpKey& peer, PasswordGate& passwords,
                                                      TokenUse& token_use) {
  const auto header = request.find(http::field::authorization);
  if (header == request.end()) {
    log_failure(peer, {"none", {}}, "missing credentials");
    co_return std::nullopt;
  }
  const std::string_view value = trim(header->value());
  const auto space = value.find(' ');
  const std::string_view scheme = value.substr(0, space);
  const std::string_view credentials =
      space == std::string_view::npos ? std::string_view{} : trim(value.substr(space + 1));
  if (credentials.empty() || credentials.size() > kMaxCredentialsLength) {
    log_failure(peer, {"malformed", {}}, "malformed authorization header");
    co_return std::nullopt;
  }

  if (iequals(scheme, "Bearer")) {
    std::optional<Principal> principal = check_token(credentials, store, token_use);
    if (principal) co_return principal;
    log_failure(peer, {"bearer", {}}, "unknown or revoked token");
    co_return std::nullopt;
  }

  if (iequals(scheme, "Basic")) {
    auto decoded = base64_decode(credentials);
    const auto colon = decoded ? decoded->find(':') : std::string::npos;
    if (colon == std::string::npos) {
      log_failure(peer, {"basic", {}}, "malformed basic credentials");
      co_return std::nullopt;
    }
    std::string username = decoded->substr(0, colon);
    std::string password = decoded->substr(colon + 1);
    sodium_memzero(decoded->data(), decoded->size());
    // A token as the password, whatever the username (tools that only speak Basic). Tried first
    // because it is cheap; a superuser whose password merely looks like a token still gets the
    // password check below.
    if (password.substr(0, kTokenPrefix.size()) == kTokenPrefix) {
      std::optional<Principal> principal = check_token(password, store, token_use);
      if (principal) co_return principal;
    }
    const PasswordCheck check = co_await passwords.check(store, peer, std::move(username),
                                                         std::move(password), "basic");
    if (check.outcome == PasswordCheck::Outcome::kMatch) {
      co_return Principal{"user:" + check.username};
    }
    if (check.outcome != PasswordCheck::Outcome::kWrong) throw_password_refusal(check);
    co_return std::nullopt;  // logged and audited by the gate
  }

  log_failure(peer, {"unsupported", {}}, "unsupported authorization scheme");
  co_return std::nullopt;
}

void add_auth_challenges(Response& response) {
  response.insert(http::field::www_authenticate, R"(Basic realm="cloudmeta", charset="UTF-8")");
  response.insert(http::field::www_authenticate, R"(Bearer realm="cloudmeta")");
}

}  // namespace cloudmeta::admin
