#include "token_use.hpp"

#include <ctime>
#include <exception>

#include "cloudmeta/log.hpp"

namespace cloudmeta::admin {

namespace {

std::string now_utc() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

void TokenUse::used(std::int64_t token_id) { pending_[token_id] = now_utc(); }

void TokenUse::flush(Store& store) noexcept {
  if (pending_.empty()) return;
  try {
    const auto writing = pending_;
    store.transaction([&] {
      for (const auto& [id, at] : writing) store.touch_api_token(id, at);
    });
    // Uses noted meanwhile (none: this runs on the admin thread) would be newer; keep those.
    for (const auto& [id, at] : writing) {
      const auto it = pending_.find(id);
      if (it != pending_.end() && it->second == at) pending_.erase(it);
    }
  } catch (const std::exception& e) {
    try {
      log_warn("token_use_not_written",
               {{"tokens", static_cast<std::int64_t>(pending_.size())},
                {"error", e.what()},
                {"retry_s", static_cast<std::int64_t>(kFlushInterval.count())}});
    } catch (...) {
      // Logging failed too (out of memory): the uses stay pending all the same.
    }
  }
}

std::optional<std::string> TokenUse::unwritten(std::int64_t token_id) const {
  const auto it = pending_.find(token_id);
  if (it == pending_.end()) return std::nullopt;
  return it->second;
}

}  // namespace cloudmeta::admin
