#include "password_gate.hpp"

#include <ctime>

#include <sodium.h>

#include "audit_entry.hpp"
#include "cloudmeta/log.hpp"

namespace cloudmeta::admin {

namespace {

// Longer passwords are refused before any hashing: no real one comes close.
constexpr std::size_t kMaxPasswordLength = 4096;
constexpr std::size_t kMaxUsernameLength = 150;

std::int64_t now_unix() { return static_cast<std::int64_t>(std::time(nullptr)); }

}  // namespace

net::awaitable<PasswordCheck> PasswordGate::check(Store& store, const IpKey& peer,
                                                  std::string username, std::string password,
                                                  std::string_view via) {
  const std::string address = peer.to_string();
  std::int64_t now = now_unix();
  if (const auto wait = limiter_.retry_after(peer, username, now)) {
    sodium_memzero(password.data(), password.size());
    log_warn("admin_password_throttled", {{"peer", address},
                                          {"username", bounded_username(username)},
                                          {"via", via},
                                          {"retry_after_s", wait}});
    co_return PasswordCheck{PasswordCheck::Outcome::kThrottled, {}, wait};
  }
  std::optional<User> user;
  if (!username.empty() && username.size() <= kMaxUsernameLength &&
      password.size() <= kMaxPasswordLength) {
    user = store.find_user(username);
  } else {
    password.clear();  // still checked against the decoy: a malformed guess costs as much
  }
  limiter_.charge(peer, username, now);
  std::string hash = user ? user->password_hash : std::string();
  const PasswordChecker::Verdict verdict =
      co_await checker_.verify(std::move(password), std::move(hash));
  now = now_unix();
  if (verdict == PasswordChecker::Verdict::kBusy) {
    limiter_.forgive(peer, username, now);
    log_warn("admin_password_busy", {{"peer", address}, {"via", via}});
    co_return PasswordCheck{PasswordCheck::Outcome::kBusy, {}, 1};
  }
  if (verdict == PasswordChecker::Verdict::kMatch && user) {
    limiter_.forgive(peer, username, now);
    co_return PasswordCheck{PasswordCheck::Outcome::kMatch, user->username, 0};
  }
  log_warn("admin_auth_failed", {{"peer", address},
                                 {"scheme", via},
                                 {"username", bounded_username(username)},
                                 {"reason", "bad username or password"}});
  audit_failed_login(store, peer, username, via);
  co_return PasswordCheck{PasswordCheck::Outcome::kWrong, {}, 0};
}

}  // namespace cloudmeta::admin
