#include "record_patch.hpp"

#include "api_error.hpp"
#include "cloudmeta/record_json.hpp"

namespace cloudmeta::admin {

namespace {

// record_to_json shows user-data twice (user_data as text, user_data_base64); record_from_json
// refuses the two when they disagree. A patch that sets (or nulls) one of them means "this is the
// new user-data", so the old copy in the other representation must not survive the merge.
void drop_stale_user_data(nlohmann::json& document, const nlohmann::json& patch) {
  const bool text = patch.contains("user_data");
  const bool base64 = patch.contains("user_data_base64");
  if (text && !base64) document.erase("user_data_base64");
  if (base64 && !text) document.erase("user_data");
}

}  // namespace

InstanceRecord parse_record(const nlohmann::json& body) {
  try {
    return record_from_json(body);
  } catch (const nlohmann::json::exception& e) {
    // A wrong JSON type that record_json did not name: still the client's fault, not ours.
    throw ApiError(http::status::bad_request, std::string("invalid record: ") + e.what());
  }
}

void require_path_id(const nlohmann::json& body, const std::string& id) {
  const auto it = body.find("instance_id");
  if (it == body.end()) return;
  if (!it->is_string() || it->get<std::string>() != id) {
    throw ApiError(http::status::bad_request, "instance_id in the body must match the URL",
                   "instance_id");
  }
}

InstanceRecord merge_patched(const InstanceRecord& existing, const nlohmann::json& patch) {
  require_path_id(patch, existing.instance_id);  // also refuses "instance_id": null
  nlohmann::json document = record_to_json(existing);
  drop_stale_user_data(document, patch);
  document.merge_patch(patch);  // RFC 7386: objects merge recursively, null removes a member
  return parse_record(document);
}

}  // namespace cloudmeta::admin
