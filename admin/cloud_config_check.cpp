#include "cloud_config_check.hpp"

#include <yaml-cpp/yaml.h>

#include "api_error.hpp"
#include "cloudmeta/record_json.hpp"
#include "json_body.hpp"
#include "json_response.hpp"
#include "yaml_depth.hpp"

namespace cloudmeta::admin {

namespace {

constexpr std::string_view kCloudConfigHeader = "#cloud-config";

}  // namespace

Response check_cloud_config(const RouteContext& ctx) {
  if (ctx.request.method() != http::verb::post) {
    throw ApiError(http::status::method_not_allowed, "method not allowed", {}, "POST");
  }
  const nlohmann::json body = parse_json_object(ctx.request);
  const auto it = body.find("user_data");
  if (it == body.end() || !it->is_string()) {
    throw ApiError(http::status::bad_request, "user_data must be a string", "user_data");
  }
  const std::string text = it->get<std::string>();
  if (text.size() > kMaxUserDataBytes) {
    throw ApiError(http::status::bad_request, "user_data is over 16384 bytes", "user_data");
  }
  nlohmann::json answer = {{"cloud_config", text.rfind(kCloudConfigHeader, 0) == 0}};
  if (!answer["cloud_config"]) {
    answer["valid"] = true;
    return json_response(ctx.request, http::status::ok, answer);
  }
  try {
    check_yaml_depth(text, kMaxYamlDepth);  // before YAML::Load recurses as deep as the text goes
    const YAML::Node root = YAML::Load(text);
    // cloud-init reads cloud-config as a mapping of module names; anything else is ignored by it.
    if (!root.IsMap() && !root.IsNull()) {
      answer["valid"] = false;
      answer["error"] = "cloud-config must be a mapping (key: value) at the top level";
      answer["line"] = root.Mark().line + 1;
      answer["column"] = root.Mark().column + 1;
    } else {
      answer["valid"] = true;
    }
  } catch (const YAML::Exception& e) {
    answer["valid"] = false;
    answer["error"] = e.msg;
    answer["line"] = e.mark.line + 1;
    answer["column"] = e.mark.column + 1;
  }
  return json_response(ctx.request, http::status::ok, answer);
}

}  // namespace cloudmeta::admin
