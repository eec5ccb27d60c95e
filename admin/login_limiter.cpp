#include "login_limiter.hpp"

#include <algorithm>
#include <iterator>

namespace cloudmeta::admin {

std::int64_t LoginLimiter::wait(const Table& table, std::string_view key, std::int64_t now) {
  const auto it = table.find(std::string(key));
  if (it == table.end() || it->second.failures < kMaxFailures) return 0;
  return std::max<std::int64_t>(0, it->second.start + kWindow.count() - now);
}

void LoginLimiter::count(Table& table, std::string_view key, std::int64_t now) {
  if (table.size() >= kMaxTracked) {
    // Forget windows that are over; if every one is still live, forget them all rather than grow
    // without bound (a flood of distinct usernames must not exhaust memory).
    std::erase_if(table, [now](const auto& e) { return e.second.start + kWindow.count() <= now; });
    if (table.size() >= kMaxTracked) table.clear();
  }
  Window& w = table[std::string(key)];
  if (w.start + kWindow.count() <= now) w = Window{now, 0};
  ++w.failures;
}

std::int64_t LoginLimiter::retry_after(std::string_view address, std::string_view username,
                                       std::int64_t now) const {
  return std::max(wait(by_address_, address, now), wait(by_username_, username, now));
}

void LoginLimiter::failed(std::string_view address, std::string_view username, std::int64_t now) {
  count(by_address_, address, now);
  if (!username.empty()) count(by_username_, username, now);
}

}  // namespace cloudmeta::admin
