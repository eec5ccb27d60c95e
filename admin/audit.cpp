#include "audit.hpp"

#include <exception>
#include <limits>
#include <set>

#include "api_error.hpp"
#include "cloudmeta/record_json.hpp"
#include "json_response.hpp"

namespace cloudmeta::admin {

namespace {

using nlohmann::json;

constexpr int kDefaultLimit = 50;
constexpr int kMaxLimit = 500;

// Maintained by the store, so never "changed" by a client; user_data_base64 mirrors user_data.
bool is_bookkeeping(const std::string& key) {
  return key == "created_at" || key == "updated_at" || key == "user_data_base64";
}

bool is_blank(const json& v) {
  return v.is_null() || (v.is_string() && v.get_ref<const std::string&>().empty()) ||
         ((v.is_array() || v.is_object()) && v.empty());
}

void append(const RouteContext& ctx, AuditEntry entry) {
  entry.actor = ctx.principal.name;
  entry.peer = ctx.peer.to_string();
  ctx.fleet.store().append_audit(entry);
}

long long parse_int(const std::string& text, const std::string& name, long long min,
                    long long max) {
  std::size_t used = 0;
  long long value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || value < min || value > max) {
    throw ApiError(
        http::status::bad_request,
        name + " must be an integer from " + std::to_string(min) + " to " + std::to_string(max),
        name);
  }
  return value;
}

json parsed_or_null(const std::string& text) {
  if (text.empty()) return nullptr;
  json value = json::parse(text, nullptr, false);
  return value.is_discarded() ? json(nullptr) : value;
}

}  // namespace

json changed_fields(const json& before, const json& after) {
  std::set<std::string> keys;
  for (const auto* doc : {&before, &after}) {
    if (!doc->is_object()) continue;
    for (const auto& [key, value] : doc->items()) keys.insert(key);
  }
  json out = json::array();
  for (const auto& key : keys) {
    if (is_bookkeeping(key)) continue;
    const json none;
    const json& a = before.is_object() && before.contains(key) ? before.at(key) : none;
    const json& b = after.is_object() && after.contains(key) ? after.at(key) : none;
    // A create or delete names only the fields that hold something, not every empty default.
    if (a == b || (is_blank(a) && is_blank(b))) continue;
    if (a.is_object() && b.is_object()) {
      for (const auto& inner : changed_fields(a, b)) {
        out.push_back(key + "." + inner.get<std::string>());
      }
    } else {
      out.push_back(key);
    }
  }
  return out;
}

void audit_instance_change(const RouteContext& ctx, std::string_view action,
                           const std::string& instance_id, const InstanceRecord* before,
                           const InstanceRecord* after) {
  // Fields are compared with secrets included (a rotated secret key is a change worth naming);
  // the stored documents are the redacted ones.
  const json full_before = before ? record_to_json(*before, true) : json(nullptr);
  const json full_after = after ? record_to_json(*after, true) : json(nullptr);
  AuditEntry entry;
  entry.action = action;
  entry.instance_id = instance_id;
  entry.fields = audit_json(changed_fields(full_before, full_after));
  if (before) entry.before = audit_json(record_to_json(*before, false));
  if (after) entry.after = audit_json(record_to_json(*after, false));
  append(ctx, std::move(entry));
}

void audit_event(const RouteContext& ctx, std::string_view action, const json& after) {
  AuditEntry entry;
  entry.action = action;
  entry.fields = audit_json(changed_fields(json(nullptr), after));
  entry.after = audit_json(after);
  append(ctx, std::move(entry));
}

Response list_audit(const RouteContext& ctx, const RequestTarget& target) {
  if (ctx.request.method() != http::verb::get) {
    throw ApiError(http::status::method_not_allowed, "method not allowed", {}, "GET");
  }
  AuditQuery query;
  query.limit = kDefaultLimit;
  for (const auto& [key, value] : target.query) {
    if (key == "instance_id") {
      query.instance_id = value;
    } else if (key == "actor") {
      query.actor = value;
    } else if (key == "since") {
      query.since = value;
    } else if (key == "limit") {
      query.limit = static_cast<int>(parse_int(value, "limit", 1, kMaxLimit));
    } else if (key == "before_id") {
      query.before_id = parse_int(value, "before_id", 1, std::numeric_limits<long long>::max());
    } else {
      throw ApiError(http::status::bad_request, "unknown query parameter " + key, key);
    }
  }
  const auto entries = ctx.fleet.store().list_audit(query);
  json out = json::array();
  for (const auto& e : entries) {
    out.push_back({{"id", e.id},
                   {"at", e.at},
                   {"actor", e.actor},
                   {"peer", e.peer},
                   {"action", e.action},
                   {"instance_id", e.instance_id},
                   {"fields", parsed_or_null(e.fields)},
                   {"before", parsed_or_null(e.before)},
                   {"after", parsed_or_null(e.after)}});
  }
  json body = {{"entries", out}, {"count", out.size()}};
  // A full page may have more behind it: the cursor for the next one.
  if (static_cast<int>(entries.size()) == query.limit && !entries.empty()) {
    body["next_before_id"] = entries.back().id;
  }
  return json_response(ctx.request, http::status::ok, body);
}

}  // namespace cloudmeta::admin
