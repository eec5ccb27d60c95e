// `cloudmeta healthcheck`: GET /healthz on the admin surface of a server running with the same
// settings (ADMIN_BIND, ADMIN_PORT). For container HEALTHCHECKs, where the image has no curl.
#pragma once

#include <chrono>
#include <ostream>

#include "cloudmeta/config.hpp"

namespace cloudmeta {

// 0 when /healthz answers 200 within `timeout`, else 1 with one line on `err` saying why. A
// wildcard ADMIN_BIND (0.0.0.0, ::) is reached on the loopback address of its family.
int healthcheck(const Config& config, std::chrono::milliseconds timeout, std::ostream& err);

}  // namespace cloudmeta
