// The `cloudmeta` command line: serve, migrate, createsuperuser, changepassword, token
// create|list|revoke, version, healthcheck. Settings come from the environment and ./.env
// (Config).
// Exit codes, which scripts rely on: 0 success (and --help, --version); 2 usage or configuration
// error (unknown flag or command, bad value, bad environment variable), reported as one
// `cloudmeta: error: ...` line on stderr; 1 any other failure (store, duplicate user, unknown token).
// The caller must have called sodium_init().
#pragma once

#include <ostream>

namespace cloudmeta {

int run_cli(int argc, char** argv);

// As above, writing normal output to `out` and messages to `err` (tests capture them). Password
// prompts still use the terminal on standard input.
int run_cli(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace cloudmeta
