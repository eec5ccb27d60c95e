// Config: every setting, read once from the environment (and a .env file) at start and passed by
// const& from then on. config.cpp is the only code that reads the environment.
// Throws ConfigError naming the variable; the CLI prints it on one line and exits 2.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "cloudmeta/ip_key.hpp"
#include "cloudmeta/log.hpp"

namespace cloudmeta {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Per-surface HTTP limits (README's configuration table documents each default).
struct Limits {
  std::size_t header_limit = 8 * 1024;        // request line + headers; over -> 431, close
  std::size_t body_limit = 1024;              // over -> 413, close
  std::chrono::milliseconds read_timeout{10'000};   // a request must arrive within this
  std::chrono::milliseconds idle_timeout{60'000};   // keep-alive connection idle before close
  std::size_t max_connections = 10'000;             // over -> the new connection is closed
  std::size_t max_connections_per_source = 256;     // per caller address; over -> closed
  double rate_per_source = 0;   // requests/s per caller address; over -> 429; 0 = unlimited
  double burst_per_source = 0;  // token-bucket size; 0 -> same as rate_per_source
};

// The header in which a trusted proxy names the caller (TRUSTED_PROXY_HEADER): one, never both,
// or a caller could pick whichever of the two its proxy leaves as the caller sent it.
enum class ProxyHeader { kXForwardedFor, kXRealIp };

// What ties a caller to its record (CALLER_BINDING; docs/hypervisor.md, "Binding callers").
// kAddress: the source address alone (anyone who can send from it is that VM). kMac: also the
// MAC the kernel's neighbour table has for the peer must be the record's `mac`. kPort: also the
// bridge port (or tap) that MAC was learned on must be the record's `interface`.
enum class CallerBinding { kAddress, kMac, kPort };

// BIND names at most this many addresses: each costs a listening socket per metadata thread.
inline constexpr std::size_t kMaxBindAddresses = 8;

struct Config {
  // The metadata surface's addresses (BIND, comma-separated), canonical and distinct; every
  // metadata thread accepts on each of them.
  std::vector<std::string> bind{"0.0.0.0"};
  std::uint16_t port = 8000;  // 0 = any free port (tests); the chosen port is logged
  std::string admin_bind = "127.0.0.1";
  std::uint16_t admin_port = 8001;
  unsigned threads = 0;  // metadata I/O threads; 0 -> hardware threads
  std::string database_url;  // "" -> sqlite file ./cloudmeta.db
  std::string secret_key;    // "" -> generated once and stored in the database
  // The identity documents' signing keys (cloudmeta/identity_signing.hpp): PEM files, or all ""
  // for keys generated once and stored in the database. The DSA pair is optional.
  std::string identity_key_file;
  std::string identity_cert_file;
  std::string identity_dsa_key_file;
  std::string identity_dsa_cert_file;
  LogLevel log_level = LogLevel::kInfo;
  LogFormat log_format = LogFormat::kText;
  std::vector<Cidr> trusted_proxies;
  std::string trusted_proxies_text;  // TRUSTED_PROXIES as given, for describe()
  ProxyHeader trusted_proxy_header = ProxyHeader::kXForwardedFor;
  CallerBinding caller_binding = CallerBinding::kAddress;
  Limits imds_limits;
  Limits admin_limits{.body_limit = 1024 * 1024};  // instance records with 16 KiB user-data
  std::chrono::milliseconds refresh_interval{1000};  // how often other writers are looked for
  // A full reload this often even when the revision says nothing changed; 0 = never.
  std::chrono::seconds full_resync_interval{300};
  // This host's own writes reach the snapshot cache file by a full reload at most this often
  // (0: at the next refresh): at a million instances a rewrite costs seconds of the sync thread.
  std::chrono::seconds snapshot_cache_interval{60};
  // Change-log rows (Store::instance_changes_since) older than this are pruned by the sync
  // thread; a host whose snapshot is older than what is left reloads the whole fleet.
  std::chrono::seconds change_log_retention{3600};
  // PostgreSQL connections (StoreOptions; SQLite has one connection whatever these say).
  std::size_t database_pool_size = 4;
  std::chrono::milliseconds database_pool_timeout{5000};  // wait for a free one, then 503
  // The longest the database may stay silent (connecting, or within an answer), then 503.
  std::chrono::milliseconds database_timeout{3000};
  // The served snapshot's rows, rewritten after each reload, read at start when the database
  // does not answer. Relative to the working directory; "" = none (SNAPSHOT_CACHE=off).
  std::string snapshot_cache = "snapshot.cache";
  std::chrono::seconds shutdown_grace{5};  // in-flight requests' time to finish after SIGTERM
  bool admin_secure_cookies = false;  // the admin page's cookie gets `Secure` (served over HTTPS)
  // The admin thread and snapshot rebuilds at SCHED_IDLE (server/runtime/thread_priority.hpp); opt-in.
  bool admin_sched_idle = false;
  bool metrics_public = false;  // GET /metrics without admin auth (a scraper on a trusted network)
  // Host names (lower case, no port) the admin surface answers to, besides IP literals, which it
  // always answers (DNS rebinding needs a name); {"*"}: any Host.
  std::vector<std::string> admin_allowed_hosts{"localhost"};

  using Lookup = std::function<std::optional<std::string>(std::string_view name)>;
  static Config from_env(const Lookup& lookup);

  // For the start-up log: every setting, secrets redacted.
  std::string describe() const;
};

// Every variable from_env reads, one per line with its default, range and meaning: the
// environment section of `cloudmeta serve --help`.
std::string environment_help();

// The process environment, with KEY=VALUE lines of `.env` in the working directory underneath
// (the environment wins), as foreman/honcho do. Missing .env is fine; a malformed line throws.
Config::Lookup environment_with_dotenv(const std::string& dotenv_path = ".env");

// Parses .env text: KEY=VALUE, optional `export `, # comments, single/double quotes. Throws
// ConfigError("line N: ...") for a malformed line.
std::map<std::string, std::string> parse_dotenv(std::string_view text);

}  // namespace cloudmeta
