#include "metrics_route.hpp"

#include "api_error.hpp"
#include "cloudmeta/metrics.hpp"

namespace cloudmeta::admin {

Response metrics_route(const Request& request, Fleet& fleet) {
  if (request.method() != http::verb::get) {
    throw ApiError(http::status::method_not_allowed, "method not allowed", {}, "GET");
  }

  metrics::Sample sample = metrics::registry().sample();
  sample.snapshot_instances = fleet.snapshots().load()->size();
  sample.snapshot_stale = fleet.stale();
  const Fleet::SyncCounts sync = fleet.sync_counts();
  sample.snapshot_full_reloads = sync.full_loads;
  sample.snapshot_incremental_applies = sync.incremental_applies;
  sample.snapshot_changes_applied = sync.changes_applied;
  sample.change_log_gaps = sync.gaps;
  sample.change_log_too_many = sync.too_many;
  sample.change_log_rows_pruned = sync.change_rows_pruned;

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
