// The admin JSON API (/api/v1/..., /healthz, /readyz, /metrics) and the admin web page, as a
// coroutine from request to response. Runs on the admin thread, which owns the Store; never
// throws (errors become 4xx/5xx JSON bodies). A request suspends only while its password is
// checked (Argon2id on a worker thread): meanwhile the admin thread serves other requests.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "cloudmeta/admin_http.hpp"
#include "cloudmeta/asio.hpp"
#include "cloudmeta/config.hpp"
#include "cloudmeta/fleet.hpp"
#include "cloudmeta/identity_signing.hpp"
#include "cloudmeta/ip_key.hpp"
#include "cloudmeta/last_seen.hpp"

namespace cloudmeta::admin {

struct WebState;

// How often AdminApi::flush_token_use should run: a token's row is written at most this often.
inline constexpr std::chrono::seconds TokenUseFlushInterval{60};

class AdminApi {
 public:
  // secret_key signs the admin page's session cookies and CSRF tokens (empty: a random key, so
  // sessions end with the process); last_seen, when given, adds "last_seen" to instance listings.
  AdminApi(Fleet& fleet, const Config& config, std::string_view secret_key = {},
           const LastSeen* last_seen = nullptr);
  ~AdminApi();
  net::awaitable<Response> handle(const Request& request, const IpKey& peer);
  // Writes the API tokens' last use noted since the last call (a failure is logged and retried
  // by the next call). The admin thread calls it every minute and at shutdown.
  void flush_token_use();
  // GET /readyz answers 200 only between set_ready(true) (snapshot loaded, both surfaces
  // listening) and set_ready(false) (shutting down); /healthz: the process and store are up.
  void set_ready(bool ready) { ready_ = ready; }
  // Serves GET /api/v1/identity/certificates from it (404 without one).
  void set_identity_signer(IdentitySigner* signer) { identity_signer_ = signer; }

 private:
  net::awaitable<Response> route(const Request& request, const IpKey& peer,
                                 const std::string& request_id);

  Fleet& fleet_;
  const Config& config_;
  bool ready_ = false;  // admin thread only, like the rest of this class
  IdentitySigner* identity_signer_ = nullptr;
  std::unique_ptr<WebState> web_;  // the admin page's sessions, limiter, caches
};

}  // namespace cloudmeta::admin
