// Failed-login throttling for POST /login: at most kMaxFailures failures per client address and,
// separately, per username within a kWindow-long fixed window; further attempts get 429 without
// a password check (so a guesser cannot burn Argon2id time either). Per username as well as per
// address, because a botnet guessing one admin's password comes from many addresses. A success
// does not reset the counters: an attacker who knows one password must not unlock guessing of
// the others. Admin thread only (not thread-safe); memory bounded by kMaxTracked.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace cloudmeta::admin {

class LoginLimiter {
 public:
  static constexpr int kMaxFailures = 10;
  static constexpr std::chrono::seconds kWindow{300};
  static constexpr std::size_t kMaxTracked = 100'000;

  // Seconds until an attempt is allowed again for this address or username; 0 = allowed now.
  std::int64_t retry_after(std::string_view address, std::string_view username,
                           std::int64_t now) const;
  void failed(std::string_view address, std::string_view username, std::int64_t now);

 private:
  struct Window {
    std::int64_t start = 0;
    int failures = 0;
  };
  using Table = std::unordered_map<std::string, Window>;
  static std::int64_t wait(const Table& table, std::string_view key, std::int64_t now);
  static void count(Table& table, std::string_view key, std::int64_t now);

  Table by_address_;
  Table by_username_;
};

}  // namespace cloudmeta::admin
