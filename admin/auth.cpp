#include "auth.hpp"

#include <array>
#include <string_view>

#include <sodium.h>

#include "cloudmeta/api_tokens.hpp"
#include "cloudmeta/log.hpp"
#include "cloudmeta/passwords.hpp"

namespace cloudmeta::admin {

namespace {

constexpr std::string_view kTokenPrefix = "cm_";
// Longer credentials are refused before any hashing: no real token or password comes close.
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

std::optional<Principal> check_token(std::string_view token, Store& store) {
  const std::string hash = hash_api_token(token);
  const auto found = store.find_api_token_by_hash(hash);
  // The lookup is by hash, so the database comparison leaks nothing about the token itself; the
  // constant-time compare keeps that true whatever the Store does underneath.
  if (!found || !hashes_equal(found->token_hash, hash)) return std::nullopt;
  store.touch_api_token(found->id);
  return Principal{"token:" + found->name};
}

// A hash of a random password, so that an unknown username costs the same Argon2id work as a
// wrong password and response times do not reveal which usernames exist.
const std::string& decoy_hash() {
  static const std::string hash = [] {
    std::array<unsigned char, 16> raw;
    randombytes_buf(raw.data(), raw.size());
    return hash_password(std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size()));
  }();
  return hash;
}

}  // namespace

std::optional<Principal> check_password(std::string_view username, std::string_view password,
                                        Store& store) {
  const auto user = store.find_user(username);
  if (!user) {
    (void)verify_password(password, decoy_hash());
    return std::nullopt;
  }
  if (!verify_password(password, user->password_hash)) return std::nullopt;
  return Principal{"user:" + user->username};
}

std::optional<Principal> authenticate(const Request& request, Store& store, const IpKey& peer) {
  const auto header = request.find(http::field::authorization);
  if (header == request.end()) {
    log_failure(peer, {"none", {}}, "missing credentials");
    return std::nullopt;
  }
  const std::string_view value = trim(header->value());
  const auto space = value.find(' ');
  const std::string_view scheme = value.substr(0, space);
  const std::string_view credentials =
      space == std::string_view::npos ? std::string_view{} : trim(value.substr(space + 1));
  if (credentials.empty() || credentials.size() > kMaxCredentialsLength) {
    log_failure(peer, {"malformed", {}}, "malformed authorization header");
    return std::nullopt;
  }

  if (iequals(scheme, "Bearer")) {
    if (auto principal = check_token(credentials, store)) return principal;
    log_failure(peer, {"bearer", {}}, "unknown or revoked token");
    return std::nullopt;
  }

  if (iequals(scheme, "Basic")) {
    const auto decoded = base64_decode(credentials);
    const auto colon = decoded ? decoded->find(':') : std::string::npos;
    if (colon == std::string::npos) {
      log_failure(peer, {"basic", {}}, "malformed basic credentials");
      return std::nullopt;
    }
    const std::string_view username = std::string_view(*decoded).substr(0, colon);
    const std::string_view password = std::string_view(*decoded).substr(colon + 1);
    // A token as the password, whatever the username (tools that only speak Basic). Tried first
    // because it is cheap; a superuser whose password merely looks like a token still gets the
    // password check below.
    if (password.substr(0, kTokenPrefix.size()) == kTokenPrefix) {
      if (auto principal = check_token(password, store)) return principal;
    }
    if (auto principal = check_password(username, password, store)) return principal;
    log_failure(peer, {"basic", username}, "bad username, password or token");
    return std::nullopt;
  }

  log_failure(peer, {"unsupported", {}}, "unsupported authorization scheme");
  return std::nullopt;
}

void add_auth_challenges(Response& response) {
  response.insert(http::field::www_authenticate, R"(Basic realm="cloudmeta", charset="UTF-8")");
  response.insert(http::field::www_authenticate, R"(Bearer realm="cloudmeta")");
}

}  // namespace cloudmeta::admin
