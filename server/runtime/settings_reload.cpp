#include "runtime/settings_reload.hpp"

#include <exception>

#include "cloudmeta/log.hpp"

namespace cloudmeta {

Config reload_settings(const Config& running) {
  Config next;
  try {
    next = Config::from_env(environment_with_dotenv());
  } catch (const std::exception& e) {
    log_error("reload_failed", {{"error", e.what()}});
    return running;
  }
  log_configure(next.log_level, next.log_format);
  log_info("reloaded", {{"log_level", log_level_name(next.log_level)},
                        {"log_format", next.log_format == LogFormat::kJson ? "json" : "text"}});
  // Everything else is wired into sockets, threads and the store at start.
  Config applied = running;
  applied.log_level = next.log_level;
  applied.log_format = next.log_format;
  if (applied.describe() != next.describe()) {
    log_warn("reload_needs_restart", {{"running", applied.describe()}, {"new", next.describe()}});
  }
  return applied;
}

}  // namespace cloudmeta
