// SIGHUP for `cloudmeta serve`: re-reads the environment and ./.env and applies what can change
// safely while serving (LOG_LEVEL, LOG_FORMAT). Logs what changed, and warns about settings that
// changed but only take effect on a restart (ports, database, limits). Never throws: a bad value
// is logged and the running settings stay.
#pragma once

#include "cloudmeta/config.hpp"

namespace cloudmeta {

// `running` is the configuration the server started with; returns the configuration now in force.
Config reload_settings(const Config& running);

}  // namespace cloudmeta
