// Runs the cloudmeta binary as a child process with an environment built from scratch (PATH
// only, plus what the test names), so a variable set in the developer's shell or CI (PORT,
// DATABASE_URL, ...) can never leak into a test. Standard input is /dev/null: a command that
// would prompt fails instead of hanging.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace cloudmeta::testing {

using Environment = std::map<std::string, std::string>;

struct CommandResult {
  int exit_code = -1;  // the exit status, or 128 + signal number when killed by a signal
  std::string out;
  std::string err;
};

// Runs `args` (args[0] is the program path) in `workdir`; kills it after `timeout`.
// Throws std::runtime_error when it cannot be started or does not finish in time.
CommandResult run_command(const std::vector<std::string>& args, const Environment& env,
                          const std::filesystem::path& workdir,
                          std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Starts `args` in `workdir` with stdout and stderr appended to `log_path`. Returns the pid.
pid_t spawn_logged(const std::vector<std::string>& args, const Environment& env,
                   const std::filesystem::path& workdir, const std::filesystem::path& log_path);

// Waits for `pid` until `timeout`; returns its exit code (128 + signal when killed), or -1 if it
// is still running.
int wait_for_exit(pid_t pid, std::chrono::milliseconds timeout);

// Lines of `text`, without their terminators; a final line without '\n' counts.
std::vector<std::string> split_lines(const std::string& text);

}  // namespace cloudmeta::testing
