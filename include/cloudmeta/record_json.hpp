// InstanceRecord <-> JSON, and every validation rule a write must pass. Used by the admin API
// (request bodies), the stores (the record's JSON document column) and export/import.
// Pure functions, thread-safe. Throws ValidationError naming the offending field.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "cloudmeta/instance_record.hpp"
#include "cloudmeta/validation_error.hpp"

namespace cloudmeta {

inline constexpr std::size_t kMaxUserDataBytes = 16 * 1024;  // AWS's limit, raw bytes

// Parses and validates a full record (POST, PUT, import). Unknown fields are refused so that a
// typo ("user_dat") is an error rather than silently ignored.
InstanceRecord record_from_json(const nlohmann::json& body);

// Parses a document a Store wrote, perhaps by a newer cloudmeta sharing the database: the same
// rules as record_from_json, except that members this version does not know (at the top level,
// and inside iam and metadata_options, the objects whose names it fixes) are kept in
// record.unknown_fields instead of refused. A newer version's value that breaks one of this
// version's rules still fails (ValidationError): it cannot be served or edited as it is, and so
// does a member kept that nests deeper than kMaxJsonDepth (json_depth.hpp).
InstanceRecord record_from_stored_json(const nlohmann::json& doc);

// The record as the admin API returns it. With include_secrets=false the IAM secret key and
// session token are replaced by "***" (logs, audit). A record flagged invalid (a stored row
// that did not decode) is only {instance_id, ip, invalid: reason, created_at, updated_at}.
// unknown_fields are never included.
nlohmann::json record_to_json(const InstanceRecord& record, bool include_secrets = true);

// Rules that span fields or need the whole record; record_from_json calls it.
void validate_record(const InstanceRecord& record);

// Canonical text of an IP address ("::ffff:10.0.0.1" -> "10.0.0.1"), or ValidationError.
std::string canonical_ip(const std::string& text, const std::string& field);

}  // namespace cloudmeta
