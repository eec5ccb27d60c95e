// The admin JSON API (/api/v1/..., /healthz, /readyz) as a function from request to response.
// Runs on the admin thread, which owns the Store; never throws (errors become 4xx/5xx JSON
// bodies).
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
  // GET /readyz answers 200 only between set_ready(true) (snapshot loaded, both surfaces
  // listening) and set_ready(false) (shutting down); /healthz: the process and store are up.
  void set_ready(bool ready) { ready_ = ready; }

 private:
  Fleet& fleet_;
  const Config& config_;
  bool ready_ = false;  // admin thread only, like the rest of this class
};

}  // namespace cloudmeta::admin
