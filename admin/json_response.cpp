#include "json_response.hpp"

namespace cloudmeta::admin {

namespace {

Response base_response(const Request& request, http::status status) {
  Response response{status, request.version()};
  response.keep_alive(request.keep_alive());
  // Records hold IAM secrets and user-data: no cache, proxy or browser may keep a copy, and no
  // browser may sniff a JSON body into something executable.
  response.set(http::field::cache_control, "no-store");
  response.set("X-Content-Type-Options", "nosniff");
  return response;
}

Response with_json_body(Response response, std::string text) {
  response.set(http::field::content_type, "application/json");
  response.body() = std::move(text);
  response.body() += '\n';  // friendlier for curl in a terminal; JSON parsers ignore it
  response.prepare_payload();
  return response;
}

}  // namespace

Response json_response(const Request& request, http::status status, const nlohmann::json& body) {
  return with_json_body(base_response(request, status), body.dump());
}

Response empty_response(const Request& request, http::status status) {
  Response response = base_response(request, status);
  response.prepare_payload();
  return response;
}

Response error_response(const Request& request, http::status status, std::string_view message,
                        std::string_view field) {
  nlohmann::json body = {{"error", message}};
  if (!field.empty()) body["field"] = field;
  // A message may quote a client's bytes; an error must still be reported if they are not UTF-8.
  return with_json_body(base_response(request, status),
                        body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace cloudmeta::admin
