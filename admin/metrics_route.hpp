// GET /metrics on the admin surface: the Prometheus text exposition of metrics::registry() plus
// the served snapshot's size and staleness (docs/hypervisor.md#observability). Admin auth as the
// API's (a Bearer API token, or Basic) unless METRICS_PUBLIC=true, as exporters that sit beside an
// authenticated API do (Grafana's, Consul's); a scrape then needs no credentials.
#pragma once

#include "cloudmeta/admin_http.hpp"
#include "cloudmeta/config.hpp"
#include "cloudmeta/fleet.hpp"
#include "cloudmeta/ip_key.hpp"

namespace cloudmeta::admin {

inline constexpr std::string_view kMetricsPath = "/metrics";

// Throws ApiError (405) and StoreError (authentication), as the other routes do.
Response metrics_route(const Request& request, Fleet& fleet, const Config& config,
                       const IpKey& peer);

}  // namespace cloudmeta::admin
