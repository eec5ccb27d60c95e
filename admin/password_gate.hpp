// The one way to check a superuser's password (HTTP Basic on /api/v1 and /metrics, the page's
// POST /login): the LoginLimiter first (429 without any hashing), then Argon2id on the
// PasswordChecker's thread (503 at once when its queue is full), then the verdict counted,
// logged and, when wrong, audited. Admin thread only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cloudmeta/asio.hpp"
#include "cloudmeta/ip_key.hpp"
#include "cloudmeta/store.hpp"
#include "login_limiter.hpp"
#include "password_checker.hpp"

namespace cloudmeta::admin {

struct PasswordCheck {
  enum class Outcome { kMatch, kWrong, kThrottled, kBusy };
  Outcome outcome = Outcome::kWrong;
  std::string username;         // kMatch: the stored username
  std::int64_t retry_after = 0;  // kThrottled, kBusy: seconds, for Retry-After
};

class PasswordGate {
 public:
  // via: "basic" or "page", for the log and the audit entry of a failure. Throws StoreError (the
  // user lookup).
  net::awaitable<PasswordCheck> check(Store& store, const IpKey& peer, std::string username,
                                      std::string password, std::string_view via);

  const LoginLimiter& limiter() const { return limiter_; }
  const PasswordChecker& checker() const { return checker_; }

 private:
  LoginLimiter limiter_;
  PasswordChecker checker_;
};

}  // namespace cloudmeta::admin
