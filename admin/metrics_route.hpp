// GET /metrics on the admin surface: the Prometheus text exposition of metrics::registry() plus
// the served snapshot's size and staleness (docs/hypervisor.md#observability). Admin auth as the
// API's (a Bearer API token, or Basic) unless METRICS_PUBLIC=true, as exporters that sit beside an
// authenticated API do (Grafana's, Consul's); a scrape then needs no credentials.
#pragma once

#include "cloudmeta/admin_http.hpp"
#include "cloudmeta/fleet.hpp"

namespace cloudmeta::admin {

inline constexpr std::string_view kMetricsPath = "/metrics";

// The exposition, for a caller AdminApi has authenticated (or any, with METRICS_PUBLIC=true).
// Throws ApiError (405).
Response metrics_route(const Request& request, Fleet& fleet);

}  // namespace cloudmeta::admin
