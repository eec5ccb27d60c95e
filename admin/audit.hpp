// The audit log of the admin surface: every change (instances, users, tokens) with who, when, from
// where, which fields, and the record before and after with IAM secrets redacted
// (record_to_json(r, false)); and GET /api/v1/audit to read it back with filters and paging.
// Admin thread only.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cloudmeta/instance_record.hpp"
#include "route_context.hpp"
#include "request_target.hpp"

namespace cloudmeta::admin {

// An instance write that has been committed. before/after: nullptr for a create/delete.
// An audit append that fails is logged, not thrown: the change itself is already committed and
// the client must learn that it succeeded.
void audit_instance_change(const RouteContext& ctx, std::string_view action,
                           const std::string& instance_id, const InstanceRecord* before,
                           const InstanceRecord* after);

// A change that is not an instance record (user.create, token.create, ...); `after` describes it
// and must hold no secret.
void audit_event(const RouteContext& ctx, std::string_view action, const nlohmann::json& after);

// The record fields whose values differ between two record_to_json documents: top-level names,
// and "tags.KEY"-style names inside objects. Exposed for tests.
nlohmann::json changed_fields(const nlohmann::json& before, const nlohmann::json& after);

// GET /api/v1/audit?instance_id=&actor=&since=&limit=&before_id=
Response list_audit(const RouteContext& ctx, const RequestTarget& target);

}  // namespace cloudmeta::admin
