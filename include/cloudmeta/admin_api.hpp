// The admin JSON API (/api/v1/..., /healthz) as a function from request to response. Runs on the
// admin thread, which owns the Store; never throws (errors become 4xx/5xx JSON bodies).
#pragma once

#include <string>

#include "cloudmeta/asio.hpp"
#include "cloudmeta/config.hpp"
#include "cloudmeta/fleet.hpp"
#include "cloudmeta/ip_key.hpp"

namespace cloudmeta::admin {

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

class AdminApi {
 public:
  AdminApi(Fleet& fleet, const Config& config) : fleet_(fleet), config_(config) {}
  Response handle(const Request& request, const IpKey& peer);

 private:
  Fleet& fleet_;
  const Config& config_;
};

}  // namespace cloudmeta::admin
