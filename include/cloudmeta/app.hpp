// The composition root of `cloudmeta serve`: opens the store, migrates, settles SECRET_KEY, loads
// the snapshot, binds both surfaces and runs until SIGINT/SIGTERM. Returns the process exit code
// (0 on a clean stop, 1 when the store or a socket cannot be opened).
#pragma once

#include "cloudmeta/config.hpp"

namespace cloudmeta {

int serve(const Config& config);

}  // namespace cloudmeta
