// Throttling of password guesses, consulted before every Argon2id check (HTTP Basic on /api/v1
// and /metrics, the page's POST /login): at most kMaxFailures failures per address range and,
// separately, per username within a kWindow-long fixed window; further attempts get 429 without
// a password check (so a guesser cannot burn Argon2id time either). The range is the address's
// /24 (IPv4) or /64 (IPv6): a host owns a whole /64 and can pick a fresh address per guess.
// Per username as well, because a botnet guessing one admin's password comes from many
// addresses. An attempt is charged before its check runs (so concurrent guesses cannot
// overshoot the limit) and forgiven only if it succeeded; a success does not reset the counters
// beyond that, so an attacker who knows one password cannot unlock guessing of the others.
// Caller's thread only (not thread-safe); memory bounded by kMaxTracked keys per table.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "cloudmeta/ip_key.hpp"

namespace cloudmeta::admin {

class LoginLimiter {
 public:
  static constexpr int kMaxFailures = 10;
  static constexpr std::chrono::seconds kWindow{300};
  static constexpr std::size_t kMaxTracked = 10'000;

  // "10.1.2.0/24", "2001:db8:1:2::/64": the range an address is limited with.
  static std::string address_range(const IpKey& peer);

  // Seconds until an attempt is allowed again for this address range or username; 0 = now.
  std::int64_t retry_after(const IpKey& peer, std::string_view username, std::int64_t now) const;
  // Counts an attempt as failed (before it is checked).
  void charge(const IpKey& peer, std::string_view username, std::int64_t now);
  // Takes back a charge: the attempt succeeded, or was never checked.
  void forgive(const IpKey& peer, std::string_view username, std::int64_t now);

  std::size_t tracked() const { return by_address_.size() + by_username_.size(); }

 private:
  struct Window {
    std::int64_t start = 0;
    int failures = 0;
  };
  using Table = std::unordered_map<std::string, Window>;
  static std::int64_t wait(const Table& table, const std::string& key, std::int64_t now);
  static void count(Table& table, const std::string& key, std::int64_t now);
  static void uncount(Table& table, const std::string& key, std::int64_t now);
  static std::string username_key(std::string_view username);

  Table by_address_;
  Table by_username_;
};

}  // namespace cloudmeta::admin
