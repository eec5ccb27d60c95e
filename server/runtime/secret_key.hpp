// SECRET_KEY: from the environment when set; otherwise generated once (32 random bytes, hex),
// stored in the database and reused on every start and by every host sharing the database, so
// IMDSv2 tokens survive restarts. Logs a warning when the stored key is used.
#pragma once

#include <string>

#include "cloudmeta/config.hpp"
#include "cloudmeta/store.hpp"

namespace cloudmeta {

std::string resolve_secret_key(const Config& config, Store& store);

}  // namespace cloudmeta
