#include "cli/healthcheck.hpp"

#include <string>

#include "cloudmeta/admin_client.hpp"

namespace cloudmeta {

int healthcheck(const Config& config, std::chrono::milliseconds timeout, std::ostream& err) {
  std::string error;
  try {
    AdminClient client(config, std::chrono::steady_clock::now() + timeout);
    const AdminReply reply = client.send("GET", "/healthz");
    if (reply.status == 200) return 0;
    error = "GET /healthz: status " + std::to_string(reply.status) + " " + reply.body;
  } catch (const std::exception& e) {
    error = e.what();
  }
  err << "cloudmeta: unhealthy: " << (error.empty() ? "no answer" : error) << "\n";
  return 1;
}

}  // namespace cloudmeta
