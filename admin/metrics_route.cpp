#include "metrics_route.hpp"

#include "api_error.hpp"
#include "auth.hpp"
#include "cloudmeta/metrics.hpp"
#include "json_response.hpp"

namespace cloudmeta::admin {

Response metrics_route(const Request& request, Fleet& fleet, const Config& config,
                       const IpKey& peer) {
  if (request.method() != http::verb::get) {
    throw ApiError(http::status::method_not_allowed, "method not allowed", {}, "GET");
  }
  if (!config.metrics_public && !authenticate(request, fleet.store(), peer)) {
    Response response =
        error_response(request, http::status::unauthorized, "authentication required");
    add_auth_challenges(response);
    return response;
  }

  metrics::Sample sample = metrics::registry().sample();
  sample.snapshot_instances = fleet.snapshots().load()->size();
  sample.snapshot_stale = fleet.stale();

  Response response{http::status::ok, request.version()};
  response.keep_alive(request.keep_alive());
  response.set(http::field::content_type, metrics::kContentType);
  response.set(http::field::cache_control, "no-store");
  response.set("X-Content-Type-Options", "nosniff");
  response.body() = metrics::render(sample);
  response.prepare_payload();
  return response;
}

}  // namespace cloudmeta::admin
