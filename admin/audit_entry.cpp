#include "audit_entry.hpp"

#include <exception>

#include "cloudmeta/log.hpp"

namespace cloudmeta::admin {

namespace {

constexpr std::size_t kMaxAuditUsername = 150;

}  // namespace

std::string audit_json(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void audit_event(Store& store, std::string_view actor, const IpKey& peer, std::string_view action,
                 const nlohmann::json& after) {
  AuditEntry entry;
  entry.actor = actor;
  entry.peer = peer.to_string();
  entry.action = action;
  nlohmann::json fields = nlohmann::json::array();
  for (const auto& [key, value] : after.items()) fields.push_back(key);
  entry.fields = audit_json(fields);
  entry.after = audit_json(after);
  store.append_audit(entry);
}

void audit_failed_login(Store& store, const IpKey& peer, std::string_view username,
                        std::string_view via) noexcept {
  try {
    audit_event(store, "anonymous", peer, "login.failed",
                {{"username", bounded_username(username)}, {"via", via}});
  } catch (const std::exception& e) {
    try {
      log_error("audit_append_failed", {{"action", "login.failed"}, {"error", e.what()}});
    } catch (...) {
      // Logging itself failed (out of memory): the refusal still goes out.
    }
  }
}

std::string bounded_username(std::string_view username) {
  return std::string(username.substr(0, kMaxAuditUsername));
}

}  // namespace cloudmeta::admin
