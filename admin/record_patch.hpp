// The record a PATCH /api/v1/instances/{id} body (RFC 7386 merge patch) makes of the stored one,
// and the parse a write body gets: the admin routes' pure steps, apart from the Store, so the
// fuzz target of tests/fuzz runs the same code as the route. Throws ApiError (400) or
// ValidationError naming the field. Thread-safe.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "cloudmeta/instance_record.hpp"

namespace cloudmeta::admin {

// record_from_json, with a JSON type error it did not name reported as the client's (400).
InstanceRecord parse_record(const nlohmann::json& body);

// Refuses an instance_id in a body that differs from the URL's `id` (or is null).
void require_path_id(const nlohmann::json& body, const std::string& id);

// `existing` with `patch` merged, parsed and validated as a new record.
InstanceRecord merge_patched(const InstanceRecord& existing, const nlohmann::json& patch);

}  // namespace cloudmeta::admin
