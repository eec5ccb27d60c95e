#include "login_limiter.hpp"

#include <algorithm>
#include <iterator>

namespace cloudmeta::admin {

namespace {

// No username is longer (account_routes, createsuperuser): longer ones are kept by this prefix,
// so a flood of huge names cannot make the table's keys huge.
constexpr std::size_t kMaxUsernameKey = 150;

}  // namespace

std::string LoginLimiter::address_range(const IpKey& peer) {
  auto bytes = peer.bytes();
  if (peer.is_v4()) {
    bytes[15] = 0;
    return IpKey::from_v6(bytes).to_string() + "/24";
  }
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  return IpKey::from_v6(bytes).to_string() + "/64";
}

std::string LoginLimiter::username_key(std::string_view username) {
  return std::string(username.substr(0, kMaxUsernameKey));
}

std::int64_t LoginLimiter::wait(const Table& table, const std::string& key, std::int64_t now) {
  const auto it = table.find(key);
  if (it == table.end() || it->second.failures < kMaxFailures) return 0;
  return std::max<std::int64_t>(0, it->second.start + kWindow.count() - now);
}

void LoginLimiter::count(Table& table, const std::string& key, std::int64_t now) {
  if (table.size() >= kMaxTracked && !table.contains(key)) {
    // Forget windows that are over, then keys not (yet) throttled; only if every key is still
    // throttled, forget them all rather than grow without bound. Checks run one at a time
    // (PasswordChecker), so a window holds far fewer charged keys than this cap.
    std::erase_if(table, [now](const auto& e) { return e.second.start + kWindow.count() <= now; });
    if (table.size() >= kMaxTracked) {
      std::erase_if(table, [](const auto& e) { return e.second.failures < kMaxFailures; });
    }
    if (table.size() >= kMaxTracked) table.clear();
  }
  Window& w = table[key];
  if (w.start + kWindow.count() <= now) w = Window{now, 0};
  ++w.failures;
}

void LoginLimiter::uncount(Table& table, const std::string& key, std::int64_t now) {
  const auto it = table.find(key);
  if (it == table.end() || it->second.start + kWindow.count() <= now) return;
  if (--it->second.failures <= 0) table.erase(it);
}

std::int64_t LoginLimiter::retry_after(const IpKey& peer, std::string_view username,
                                       std::int64_t now) const {
  return std::max(wait(by_address_, address_range(peer), now),
                  wait(by_username_, username_key(username), now));
}

void LoginLimiter::charge(const IpKey& peer, std::string_view username, std::int64_t now) {
  count(by_address_, address_range(peer), now);
  count(by_username_, username_key(username), now);
}

void LoginLimiter::forgive(const IpKey& peer, std::string_view username, std::int64_t now) {
  uncount(by_address_, address_range(peer), now);
  uncount(by_username_, username_key(username), now);
}

}  // namespace cloudmeta::admin
