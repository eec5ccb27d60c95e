// The audit log of the admin surface: every change (instances, users, tokens) with who, when, from
// where, which fields, and the record before and after with IAM secrets redacted
// (record_to_json(r, false)), plus logins good and bad; and GET /api/v1/audit to read it back with filters and paging.
// Admin thread only.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "audit_entry.hpp"
#include "cloudmeta/instance_record.hpp"
#include "route_context.hpp"
#include "request_target.hpp"

namespace cloudmeta::admin {

// Every append throws what the Store throws: call it inside the Store::transaction of the change
// it describes (Fleet's along_with for instance writes), so that a change whose audit entry
// cannot be written does not happen either.

// An instance write. before/after: nullptr for a create/delete.
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
