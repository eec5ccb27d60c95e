// `cloudmeta serve` as a child process. The test passes PORT=0 and ADMIN_PORT=0; the ports the
// kernel chose are read from the server's own `event=listening surface=... port=N` log lines
// (Envoy's port-zero rule), so tests never collide on fixed ports. Standard error goes to a log
// file in the test's directory, which never fills up a pipe and can be shown when a test fails.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

#include "subprocess.hpp"

namespace cloudmeta::testing {

class ServerProcess {
 public:
  // Starts the server and waits until both surfaces listen. Throws std::runtime_error, with the
  // server's log, when it exits or does not listen within `startup_timeout`.
  ServerProcess(const std::filesystem::path& binary, const Environment& env,
                const std::filesystem::path& workdir, const std::filesystem::path& log_path,
                std::chrono::milliseconds startup_timeout = std::chrono::seconds(20));
  ~ServerProcess();  // SIGKILL if still running: a test that forgot stop() must not leak it
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  std::uint16_t metadata_port() const { return metadata_port_; }
  std::uint16_t admin_port() const { return admin_port_; }
  pid_t pid() const { return pid_; }

  // SIGTERM, then waits; returns the exit code (128 + signal if it died of one). If the server
  // has not exited within `timeout` it is killed and -1 is returned.
  int stop(std::chrono::milliseconds timeout = std::chrono::seconds(20));

  // True while the process has not exited (reaps it if it has).
  bool running();

  // Everything the server has written to stdout and stderr so far.
  std::string log() const;

 private:
  pid_t pid_ = -1;
  int exit_code_ = -1;
  std::filesystem::path log_path_;
  std::uint16_t metadata_port_ = 0;
  std::uint16_t admin_port_ = 0;
};

// The port in an `event=listening surface=<surface> ... port=N` line of `log` (text format, or the
// same members of a LOG_FORMAT=json line), or 0.
std::uint16_t listening_port(const std::string& log, const std::string& surface);

}  // namespace cloudmeta::testing
