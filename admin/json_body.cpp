#include "json_body.hpp"

#include <string>
#include <string_view>

#include "api_error.hpp"
#include "cloudmeta/json_input.hpp"

namespace cloudmeta::admin {

namespace {

std::string media_type(std::string_view content_type) {
  content_type = content_type.substr(0, content_type.find(';'));
  std::string out;
  for (char c : content_type) {
    if (c == ' ' || c == '\t') continue;
    out += (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
  }
  return out;
}

// application/json, and any +json type (RFC 6839) such as application/merge-patch+json, which
// RFC 7386 names for PATCH bodies.
bool is_json(const std::string& type) {
  constexpr std::string_view kSuffix = "+json";
  return type == "application/json" ||
         (type.rfind("application/", 0) == 0 && type.size() > kSuffix.size() &&
          type.compare(type.size() - kSuffix.size(), kSuffix.size(), kSuffix) == 0);
}

}  // namespace

nlohmann::json parse_json_object(const Request& request) {
  const auto content_type = request.find(http::field::content_type);
  if (content_type == request.end() || !is_json(media_type(content_type->value()))) {
    throw ApiError(http::status::unsupported_media_type, "Content-Type must be application/json");
  }
  nlohmann::json body;
  try {
    body = parse_json_input(request.body());
  } catch (const JsonInputError& e) {
    throw ApiError(http::status::bad_request, std::string("invalid JSON: ") + e.what());
  }
  if (!body.is_object()) {
    throw ApiError(http::status::bad_request, "request body must be a JSON object");
  }
  return body;
}

}  // namespace cloudmeta::admin
