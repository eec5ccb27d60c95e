// One test's cloudmeta: its own temporary directory and SQLite file, an admin API token made
// with the real CLI, and the real server started on loopback with PORT=0/ADMIN_PORT=0. Helpers
// speak to both surfaces over real sockets. Tests stop the server themselves and assert that
// SIGTERM gives exit code 0; the destructor only kills what a failed test left behind.
#pragma once

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "http_client.hpp"
#include "server_process.hpp"
#include "subprocess.hpp"
#include "temp_dir.hpp"

namespace cloudmeta::testing {

// The binary under test (CMake passes its path as CLOUDMETA_BINARY).
std::filesystem::path cloudmeta_binary();

class Deployment {
 public:
  // Creates the directory and database and mints an API token with `cloudmeta token create`.
  // `settings` are added to every command's environment (e.g. IMDS_READ_TIMEOUT_MS).
  explicit Deployment(Environment settings = {});

  // DATABASE_URL, loopback binds, port zero, text logs at info, plus the settings.
  Environment environment() const;
  const std::filesystem::path& dir() const { return dir_.path(); }
  std::string database_url() const;
  const std::string& api_token() const { return api_token_; }

  // Runs `cloudmeta <args...>` in the deployment's directory with its environment plus `extra`.
  CommandResult cli(const std::vector<std::string>& args, const Environment& extra = {}) const;

  // Starts the server (throws with its log if it does not come up). One at a time.
  ServerProcess& start(const Environment& extra = {});
  ServerProcess& server();
  // SIGTERM and wait: the exit code.
  int stop();

  // Admin API with `Authorization: Bearer <api token>` (override via `headers`).
  HttpResponse admin(const std::string& method, const std::string& target,
                     const std::string& body = {}, Headers headers = {});
  // POST /api/v1/instances; throws std::runtime_error unless the answer is 201.
  nlohmann::json create_instance(const nlohmann::json& record);

  // One metadata request from `source` on its own connection.
  HttpResponse imds(const std::string& source, const std::string& method, const std::string& target,
                    Headers headers = {});
  HttpResponse imds_get(const std::string& source, const std::string& target,
                        Headers headers = {}) {
    return imds(source, "GET", target, std::move(headers));
  }
  // PUT /latest/api/token from `source`; throws std::runtime_error unless the answer is 200.
  std::string imds_token(const std::string& source, const std::string& ttl = "21600");

 private:
  TempDir dir_;
  Environment settings_;
  std::string api_token_;
  std::unique_ptr<ServerProcess> server_;
};

// A minimal valid instance record for `ip`, with `id` as its instance_id.
nlohmann::json instance_record(const std::string& id, const std::string& ip);

}  // namespace cloudmeta::testing
