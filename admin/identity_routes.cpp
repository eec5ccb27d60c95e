#include "identity_routes.hpp"

#include "api_error.hpp"

namespace cloudmeta::admin {

Response identity_certificates(const Request& request, const RequestTarget& target,
                               IdentitySigner& signer) {
  if (request.method() != http::verb::get && request.method() != http::verb::head) {
    throw ApiError(http::status::method_not_allowed, "method not allowed", {}, "GET, HEAD");
  }
  std::string name;
  for (const auto& [key, value] : target.query) {
    if (key != "name") throw ApiError(http::status::bad_request, "unknown parameter", key);
    if (value != "dsa" && value != "rsa" && value != "rsa2048") {
      throw ApiError(http::status::bad_request, "must be dsa, rsa or rsa2048", "name");
    }
    name = value;
  }
  std::string body;
  for (const IdentityCertificate& certificate : signer.certificates()) {
    if (!name.empty() && certificate.name != name) continue;
    // Text outside BEGIN/END lines is ignored by PEM readers (RFC 7468, section 5.2).
    body += describe_certificate(certificate);
    body += certificate.pem;
  }
  Response response{http::status::ok, request.version()};
  response.set(http::field::content_type, "application/x-pem-file");
  response.set(http::field::cache_control, "no-store");
  response.set("X-Content-Type-Options", "nosniff");
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

}  // namespace cloudmeta::admin
