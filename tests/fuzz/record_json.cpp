// An admin request body -> the write routes' steps (admin/json_body.cpp, admin/record_patch.cpp,
// server/records/record_json.cpp): parse_json_object, then the record a POST makes of it
// (record_from_json, validate_record) and the record a PATCH makes of it over a stored record
// (merge patch). A refusal is an ApiError or ValidationError (a 4xx); anything else escaping is a
// crash here, as it would be a 500 there. An accepted record must survive its own JSON again.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "api_error.hpp"
#include "cloudmeta/record_json.hpp"
#include "json_body.hpp"
#include "record_patch.hpp"

namespace {

cloudmeta::InstanceRecord stored_record() {
  cloudmeta::InstanceRecord r;
  r.instance_id = "i-0123456789abcdef0";
  r.ip = "198.18.0.10";
  r.hostname = "vm1.example.test";
  r.region = "eu-west-1";
  r.availability_zone = "eu-west-1b";
  r.user_data = std::string("#cloud-config\nhostname: vm1\n");
  r.public_keys = {{"alice", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERIT"
                             "FBUWFxgZGhscHR4f alice@host"}};
  r.tags = {{"env", "dev"}};
  r.created_at = r.updated_at = "2026-11-22T10:00:00Z";
  return r;
}

// A record the admin API accepted is stored and later shown as record_to_json: that must parse
// back to the same JSON.
void require_round_trip(const cloudmeta::InstanceRecord& record) {
  const auto shown = cloudmeta::record_to_json(record);
  if (cloudmeta::record_to_json(cloudmeta::admin::parse_record(shown)) != shown) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const cloudmeta::InstanceRecord existing = stored_record();
  cloudmeta::admin::Request request;
  request.set(cloudmeta::http::field::content_type, "application/json");
  request.body().assign(reinterpret_cast<const char*>(data), size);
  nlohmann::json body;
  try {
    body = cloudmeta::admin::parse_json_object(request);
  } catch (const cloudmeta::admin::ApiError&) {
    return 0;
  }
  try {
    require_round_trip(cloudmeta::admin::parse_record(body));
  } catch (const cloudmeta::admin::ApiError&) {
  } catch (const cloudmeta::ValidationError&) {
  }
  try {
    require_round_trip(cloudmeta::admin::merge_patched(existing, body));
  } catch (const cloudmeta::admin::ApiError&) {
  } catch (const cloudmeta::ValidationError&) {
  }
  return 0;
}
