#include "cloudmeta/config.hpp"

#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <system_error>

namespace cloudmeta {
namespace {

constexpr std::size_t kMinSecretKeyLength = 32;

// An integer variable: its range and where it lands in Config. The table drives parsing,
// describe() and the help text alike, so the three cannot disagree; defaults are read back from
// a default-constructed Config rather than written twice.
struct IntSetting {
  std::string_view name;
  long long min;
  long long max;
  std::string_view meaning;
  void (*set)(Config&, long long);
  long long (*get)(const Config&);
};

using Ms = std::chrono::milliseconds;
using Size = std::size_t;

template <Limits Config::*kSurface, Size Limits::*kField>
void set_size(Config& c, long long v) {
  (c.*kSurface).*kField = static_cast<Size>(v);
}
template <Limits Config::*kSurface, Size Limits::*kField>
long long get_size(const Config& c) {
  return static_cast<long long>((c.*kSurface).*kField);
}
template <Limits Config::*kSurface, double Limits::*kField>
void set_rate(Config& c, long long v) {
  (c.*kSurface).*kField = static_cast<double>(v);
}
template <Limits Config::*kSurface, double Limits::*kField>
long long get_rate(const Config& c) {
  return static_cast<long long>((c.*kSurface).*kField);
}
template <Limits Config::*kSurface, Ms Limits::*kField>
void set_ms(Config& c, long long v) {
  (c.*kSurface).*kField = Ms(v);
}
template <Limits Config::*kSurface, Ms Limits::*kField>
long long get_ms(const Config& c) {
  return ((c.*kSurface).*kField).count();
}

constexpr auto kImds = &Config::imds_limits;
constexpr auto kAdmin = &Config::admin_limits;

const IntSetting kIntSettings[] = {
    {"PORT", 0, 65535, "metadata (IMDS) port; 0 = any free port, logged at start",
     [](Config& c, long long v) { c.port = static_cast<std::uint16_t>(v); },
     [](const Config& c) -> long long { return c.port; }},
    {"ADMIN_PORT", 0, 65535, "admin API and page port; 0 = any free port, logged at start",
     [](Config& c, long long v) { c.admin_port = static_cast<std::uint16_t>(v); },
     [](const Config& c) -> long long { return c.admin_port; }},
    {"THREADS", 0, 256, "I/O threads serving both surfaces; 0 = one per hardware thread",
     [](Config& c, long long v) { c.threads = static_cast<unsigned>(v); },
     [](const Config& c) -> long long { return c.threads; }},
    {"IMDS_HEADER_LIMIT", 1024, 1 << 20, "bytes of request line + headers; over -> 431",
     set_size<kImds, &Limits::header_limit>, get_size<kImds, &Limits::header_limit>},
    {"IMDS_READ_TIMEOUT_MS", 100, 600'000, "a request must arrive within this",
     set_ms<kImds, &Limits::read_timeout>, get_ms<kImds, &Limits::read_timeout>},
    {"IMDS_IDLE_TIMEOUT_MS", 100, 3'600'000, "idle keep-alive connections close after this",
     set_ms<kImds, &Limits::idle_timeout>, get_ms<kImds, &Limits::idle_timeout>},
    {"IMDS_MAX_CONNECTIONS", 1, 1'000'000, "open metadata connections; more are closed at once",
     set_size<kImds, &Limits::max_connections>, get_size<kImds, &Limits::max_connections>},
    {"IMDS_MAX_CONNECTIONS_PER_SOURCE", 1, 1'000'000, "open metadata connections per caller",
     set_size<kImds, &Limits::max_connections_per_source>,
     get_size<kImds, &Limits::max_connections_per_source>},
    {"IMDS_RATE_LIMIT", 0, 1'000'000, "requests/s per caller address; over -> 429; 0 = off",
     set_rate<kImds, &Limits::rate_per_source>, get_rate<kImds, &Limits::rate_per_source>},
    {"IMDS_RATE_BURST", 0, 1'000'000, "requests a caller may send at once (bucket); 0 = the rate",
     set_rate<kImds, &Limits::burst_per_source>, get_rate<kImds, &Limits::burst_per_source>},
    {"ADMIN_HEADER_LIMIT", 1024, 1 << 20, "bytes of request line + headers; over -> 431",
     set_size<kAdmin, &Limits::header_limit>, get_size<kAdmin, &Limits::header_limit>},
    {"ADMIN_BODY_LIMIT", 1024, 64 << 20, "bytes of request body; over -> 413",
     set_size<kAdmin, &Limits::body_limit>, get_size<kAdmin, &Limits::body_limit>},
    {"ADMIN_READ_TIMEOUT_MS", 100, 600'000, "a request must arrive within this",
     set_ms<kAdmin, &Limits::read_timeout>, get_ms<kAdmin, &Limits::read_timeout>},
    {"ADMIN_IDLE_TIMEOUT_MS", 100, 3'600'000, "idle keep-alive connections close after this",
     set_ms<kAdmin, &Limits::idle_timeout>, get_ms<kAdmin, &Limits::idle_timeout>},
    {"ADMIN_MAX_CONNECTIONS", 1, 1'000'000, "open admin connections; more are closed at once",
     set_size<kAdmin, &Limits::max_connections>, get_size<kAdmin, &Limits::max_connections>},
    {"REFRESH_INTERVAL_MS", 10, 3'600'000, "how often the database is checked for other writers",
     [](Config& c, long long v) { c.refresh_interval = Ms(v); },
     [](const Config& c) -> long long { return c.refresh_interval.count(); }},
    {"FULL_RESYNC_INTERVAL_S", 0, 86'400,
     "seconds between full reloads of the snapshot, even with no change seen; 0 = never",
     [](Config& c, long long v) { c.full_resync_interval = std::chrono::seconds(v); },
     [](const Config& c) -> long long { return c.full_resync_interval.count(); }},
    {"SNAPSHOT_CACHE_INTERVAL_S", 0, 86'400,
     "seconds at least between rewrites of SNAPSHOT_CACHE after this host's own writes",
     [](Config& c, long long v) { c.snapshot_cache_interval = std::chrono::seconds(v); },
     [](const Config& c) -> long long { return c.snapshot_cache_interval.count(); }},
    {"CHANGE_LOG_RETENTION_S", 1, 2'592'000,
     "seconds other hosts' writes stay readable one by one; a host further behind reloads all",
     [](Config& c, long long v) { c.change_log_retention = std::chrono::seconds(v); },
     [](const Config& c) -> long long { return c.change_log_retention.count(); }},
    {"DATABASE_POOL_SIZE", 1, 64, "PostgreSQL connections at most (opened as needed)",
     [](Config& c, long long v) { c.database_pool_size = static_cast<Size>(v); },
     [](const Config& c) -> long long { return static_cast<long long>(c.database_pool_size); }},
    {"DATABASE_POOL_TIMEOUT_MS", 100, 600'000,
     "wait for a free PostgreSQL connection this long, then fail (admin API: 503)",
     [](Config& c, long long v) { c.database_pool_timeout = Ms(v); },
     [](const Config& c) -> long long { return c.database_pool_timeout.count(); }},
    {"DATABASE_TIMEOUT_MS", 100, 600'000,
     "PostgreSQL silent this long (connecting, or within an answer): the call fails (admin API: "
     "503), metadata is served from the snapshot",
     [](Config& c, long long v) { c.database_timeout = Ms(v); },
     [](const Config& c) -> long long { return c.database_timeout.count(); }},
    {"SHUTDOWN_GRACE", 0, 3600, "seconds open requests get to finish after SIGTERM",
     [](Config& c, long long v) { c.shutdown_grace = std::chrono::seconds(v); },
     [](const Config& c) -> long long { return c.shutdown_grace.count(); }},
    {"ADMIN_SECURE_COOKIES", 0, 1,
     "1: the admin page's session cookie is Secure (set it when a TLS proxy fronts the page)",
     [](Config& c, long long v) { c.admin_secure_cookies = v == 1; },
     [](const Config& c) -> long long { return c.admin_secure_cookies ? 1 : 0; }},
    {"ADMIN_SCHED_IDLE", 0, 1,
     "1: the admin surface and snapshot rebuilds run at SCHED_IDLE, so metadata requests always "
     "preempt them (and so does every other busy process on the host); 0: normal scheduling",
     [](Config& c, long long v) { c.admin_sched_idle = v == 1; },
     [](const Config& c) -> long long { return c.admin_sched_idle ? 1 : 0; }},
};

struct OtherSetting {
  std::string_view name;
  std::string_view default_text;
  std::string_view meaning;
};

const OtherSetting kOtherSettings[] = {
    {"BIND", "0.0.0.0",
     "addresses of the metadata surface: IPv4 or IPv6 literals, comma-separated, at most 8, "
     "no duplicates (e.g. 169.254.169.254,fd00:ec2::254)"},
    {"ADMIN_BIND", "127.0.0.1", "address of the admin surface (an IPv4 or IPv6 literal)"},
    {"DATABASE_URL", "(./cloudmeta.db)", "sqlite:///path/to/file.db or postgres://user:pw@host/db"},
    {"SECRET_KEY", "(generated, stored in the database)",
     "signs IMDSv2 tokens; at least 32 characters; the same on every host"},
    {"IDENTITY_KEY_FILE", "(generated, stored in the database)",
     "PEM RSA key (>= 2048 bits) signing the identity document's signature, rsa2048 and, "
     "without IDENTITY_DSA_KEY_FILE, pkcs7; with IDENTITY_CERT_FILE"},
    {"IDENTITY_CERT_FILE", "(none)", "PEM certificate of IDENTITY_KEY_FILE, as published"},
    {"IDENTITY_DSA_KEY_FILE", "(none)", "PEM DSA key signing pkcs7, as AWS's; optional"},
    {"IDENTITY_DSA_CERT_FILE", "(none)", "PEM certificate of IDENTITY_DSA_KEY_FILE"},
    {"LOG_LEVEL", "info", "debug | info | warn | error"},
    {"LOG_FORMAT", "text", "text (key=value) | json (one object per line)"},
    {"TRUSTED_PROXIES", "(none)",
     "proxy addresses/CIDRs (comma/space list) whose TRUSTED_PROXY_HEADER names the caller"},
    {"TRUSTED_PROXY_HEADER", "x-forwarded-for",
     "x-forwarded-for | x-real-ip: the one header in which a trusted proxy names the caller"},
    {"CALLER_BINDING", "address",
     "address | mac | port: what a caller must show besides its source address (the neighbour "
     "table's MAC, and the bridge port it was learned on)"},
    {"SNAPSHOT_CACHE", "snapshot.cache",
     "file keeping the last snapshot, served at start when the database does not answer; "
     "off = none"},
    {"METRICS_PUBLIC", "false",
     "true: GET /metrics on the admin port needs no credentials (a scraper on a trusted network)"},
    {"ADMIN_ALLOWED_HOSTS", "localhost",
     "host names (comma/space list, no port) the admin surface answers to besides IP "
     "addresses; * = any; other names get 421"},
};

// A value quoted for an error message: one line, bounded, control bytes made visible.
std::string shown(std::string_view value) {
  constexpr std::size_t kMax = 64;
  std::string out = "'";
  for (std::size_t i = 0; i < value.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (c < 0x20 || c == 0x7f) {
      constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (value.size() > kMax) out += "...";
  out += "'";
  return out;
}

[[noreturn]] void fail(std::string_view name, std::string_view expected, std::string_view value) {
  throw ConfigError(std::string(name) + ": expected " + std::string(expected) + ", got " +
                    shown(value));
}

long long parse_int(const IntSetting& s, std::string_view value) {
  long long v = 0;
  const char* first = value.data();
  const char* last = first + value.size();
  const auto [ptr, ec] = std::from_chars(first, last, v);
  if (value.empty() || ec != std::errc() || ptr != last || v < s.min || v > s.max) {
    fail(s.name, "an integer " + std::to_string(s.min) + ".." + std::to_string(s.max), value);
  }
  return v;
}

std::string parse_address(std::string_view name, std::string_view value) {
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(std::string(value), ec);
  if (ec) fail(name, "an IPv4 or IPv6 address", value);
  return address.to_string();
}

// BIND: a comma-separated list. The count is checked before any entry is parsed, and a
// duplicate (after canonical form: fd00:ec2:0::254 is fd00:ec2::254) is refused rather than
// silently bound twice.
std::vector<std::string> parse_bind_list(std::string_view value) {
  if (static_cast<std::size_t>(std::count(value.begin(), value.end(), ',')) >=
      kMaxBindAddresses) {
    fail("BIND", "at most " + std::to_string(kMaxBindAddresses) + " comma-separated addresses",
         value);
  }
  std::vector<std::string> addresses;
  std::size_t from = 0;
  for (;;) {
    const auto comma = value.find(',', from);
    std::string_view entry = value.substr(from, comma == value.npos ? comma : comma - from);
    const auto blank = [](char c) { return c == ' ' || c == '\t'; };
    while (!entry.empty() && blank(entry.front())) entry.remove_prefix(1);
    while (!entry.empty() && blank(entry.back())) entry.remove_suffix(1);
    std::string address = parse_address("BIND", entry);
    if (std::find(addresses.begin(), addresses.end(), address) != addresses.end()) {
      fail("BIND", "distinct addresses (" + address + " is listed twice)", value);
    }
    addresses.push_back(std::move(address));
    if (comma == std::string_view::npos) break;
    from = comma + 1;
  }
  return addresses;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

LogLevel parse_level(std::string_view value) {
  const std::string v = lower(value);
  if (v == "debug") return LogLevel::kDebug;
  if (v == "info") return LogLevel::kInfo;
  if (v == "warn" || v == "warning") return LogLevel::kWarn;
  if (v == "error") return LogLevel::kError;
  fail("LOG_LEVEL", "one of debug, info, warn, error", value);
}

LogFormat parse_format(std::string_view value) {
  const std::string v = lower(value);
  if (v == "text") return LogFormat::kText;
  if (v == "json") return LogFormat::kJson;
  fail("LOG_FORMAT", "one of text, json", value);
}

// Hides the password of a database URL: the userinfo of `scheme://user:pass@host/...` and any
// `password=` parameter (query string or libpq keyword form).
std::string redact_database_url(std::string url) {
  const auto scheme_end = url.find("://");
  if (scheme_end != std::string::npos) {
    const auto authority = scheme_end + 3;
    auto authority_end = url.find_first_of("/?#", authority);
    if (authority_end == std::string::npos) authority_end = url.size();
    const auto at = url.rfind('@', authority_end);
    if (at != std::string::npos && at >= authority) {
      const auto colon = url.find(':', authority);
      if (colon != std::string::npos && colon < at) url.replace(colon + 1, at - colon - 1, "***");
    }
  }
  const std::string lowered = lower(url);
  std::size_t from = 0;
  std::string out;
  for (auto pos = lowered.find("password=", from); pos != std::string::npos;
       pos = lowered.find("password=", from)) {
    const auto value_start = pos + 9;
    auto value_end = url.find_first_of("& \t", value_start);
    if (value_end == std::string::npos) value_end = url.size();
    out += url.substr(from, value_start - from);
    out += "***";
    from = value_end;
  }
  out += url.substr(from);
  return out;
}

bool parse_bool(std::string_view name, std::string_view value) {
  const std::string v = lower(value);
  if (v == "true" || v == "1") return true;
  if (v == "false" || v == "0") return false;
  fail(name, "true or false", value);
}

// A DNS name as Host carries it: letters, digits, '-' and '.', compared in lower case.
std::vector<std::string> parse_host_names(std::string_view value) {
  std::vector<std::string> names;
  std::string name;
  const auto flush = [&] {
    if (!name.empty()) names.push_back(lower(name));
    name.clear();
  };
  for (const char c : value) {
    if (c == ',' || c == ' ' || c == '\t') {
      flush();
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '.' || c == '*') {
      name += c;
    } else {
      fail("ADMIN_ALLOWED_HOSTS", "a comma- or space-separated list of host names without port",
           value);
    }
  }
  flush();
  const bool bad_star = std::any_of(names.begin(), names.end(), [&](const std::string& n) {
    return n.find('*') != std::string::npos && (n != "*" || names.size() > 1);
  });
  if (names.empty() || bad_star) {
    fail("ADMIN_ALLOWED_HOSTS", "host names without port, or * alone", value);
  }
  return names;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ",") + name;
  return out;
}

ProxyHeader parse_proxy_header(std::string_view value) {
  const std::string v = lower(value);
  if (v == "x-forwarded-for") return ProxyHeader::kXForwardedFor;
  if (v == "x-real-ip") return ProxyHeader::kXRealIp;
  fail("TRUSTED_PROXY_HEADER", "one of x-forwarded-for, x-real-ip", value);
}

std::string_view proxy_header_name(ProxyHeader h) {
  return h == ProxyHeader::kXRealIp ? "x-real-ip" : "x-forwarded-for";
}

CallerBinding parse_caller_binding(std::string_view value) {
  const std::string v = lower(value);
  if (v == "address") return CallerBinding::kAddress;
  if (v == "mac") return CallerBinding::kMac;
  if (v == "port") return CallerBinding::kPort;
  fail("CALLER_BINDING", "one of address, mac, port", value);
}

std::string_view caller_binding_name(CallerBinding b) {
  return b == CallerBinding::kPort ? "port" : b == CallerBinding::kMac ? "mac" : "address";
}

std::string_view format_name(LogFormat f) { return f == LogFormat::kJson ? "json" : "text"; }

}  // namespace

Config Config::from_env(const Lookup& lookup) {
  // An empty value counts as unset, so `PORT=` in a .env file means the default.
  const auto get = [&](std::string_view name) -> std::optional<std::string> {
    auto value = lookup(name);
    if (value && value->empty()) return std::nullopt;
    return value;
  };
  Config c;
  for (const IntSetting& s : kIntSettings) {
    if (auto v = get(s.name)) s.set(c, parse_int(s, *v));
  }
  if (auto v = get("BIND")) c.bind = parse_bind_list(*v);
  if (auto v = get("ADMIN_BIND")) c.admin_bind = parse_address("ADMIN_BIND", *v);
  if (auto v = get("DATABASE_URL")) c.database_url = *v;
  if (auto v = get("SECRET_KEY")) {
    // The key itself never appears in the message.
    if (v->size() < kMinSecretKeyLength) {
      throw ConfigError("SECRET_KEY: must be at least " + std::to_string(kMinSecretKeyLength) +
                        " characters, got " + std::to_string(v->size()));
    }
    c.secret_key = *v;
  }
  if (auto v = get("IDENTITY_KEY_FILE")) c.identity_key_file = *v;
  if (auto v = get("IDENTITY_CERT_FILE")) c.identity_cert_file = *v;
  if (auto v = get("IDENTITY_DSA_KEY_FILE")) c.identity_dsa_key_file = *v;
  if (auto v = get("IDENTITY_DSA_CERT_FILE")) c.identity_dsa_cert_file = *v;
  // Pairs: a key without its certificate (or the reverse) cannot be published or checked.
  if (c.identity_key_file.empty() != c.identity_cert_file.empty()) {
    throw ConfigError("IDENTITY_KEY_FILE and IDENTITY_CERT_FILE: set both or neither");
  }
  if (c.identity_dsa_key_file.empty() != c.identity_dsa_cert_file.empty()) {
    throw ConfigError("IDENTITY_DSA_KEY_FILE and IDENTITY_DSA_CERT_FILE: set both or neither");
  }
  if (!c.identity_dsa_key_file.empty() && c.identity_key_file.empty()) {
    throw ConfigError("IDENTITY_DSA_KEY_FILE: needs IDENTITY_KEY_FILE (the RSA key) too");
  }
  if (auto v = get("SNAPSHOT_CACHE")) c.snapshot_cache = lower(*v) == "off" ? "" : *v;
  if (auto v = get("LOG_LEVEL")) c.log_level = parse_level(*v);
  if (auto v = get("LOG_FORMAT")) c.log_format = parse_format(*v);
  if (auto v = get("METRICS_PUBLIC")) c.metrics_public = parse_bool("METRICS_PUBLIC", *v);
  if (auto v = get("ADMIN_ALLOWED_HOSTS")) c.admin_allowed_hosts = parse_host_names(*v);
  if (auto v = get("TRUSTED_PROXIES")) {
    auto cidrs = parse_cidr_list(*v);
    if (!cidrs || cidrs->empty()) {
      fail("TRUSTED_PROXIES", "a comma- or space-separated list of addresses or CIDR ranges", *v);
    }
    c.trusted_proxies = std::move(*cidrs);
    c.trusted_proxies_text = *v;
  }
  if (auto v = get("TRUSTED_PROXY_HEADER")) c.trusted_proxy_header = parse_proxy_header(*v);
  if (auto v = get("CALLER_BINDING")) c.caller_binding = parse_caller_binding(*v);
  return c;
}

std::string Config::describe() const {
  std::string out;
  const auto add = [&](std::string_view name, std::string_view value) {
    if (!out.empty()) out += ' ';
    out += name;
    out += '=';
    out += log_text_value(value);
  };
  add("BIND", joined(bind));
  add("ADMIN_BIND", admin_bind);
  for (const IntSetting& s : kIntSettings) add(s.name, std::to_string(s.get(*this)));
  add("DATABASE_URL",
      database_url.empty() ? "(./cloudmeta.db)" : redact_database_url(database_url));
  add("SECRET_KEY", secret_key.empty() ? "(unset)" : "(redacted)");
  add("IDENTITY_KEY_FILE",
      identity_key_file.empty() ? "(generated, stored in the database)" : identity_key_file);
  if (!identity_dsa_key_file.empty()) add("IDENTITY_DSA_KEY_FILE", identity_dsa_key_file);
  add("SNAPSHOT_CACHE", snapshot_cache.empty() ? "off" : snapshot_cache);
  add("LOG_LEVEL", log_level_name(log_level));
  add("LOG_FORMAT", format_name(log_format));
  add("TRUSTED_PROXIES", trusted_proxies_text.empty() ? "(none)" : trusted_proxies_text);
  add("TRUSTED_PROXY_HEADER", proxy_header_name(trusted_proxy_header));
  add("CALLER_BINDING", caller_binding_name(caller_binding));
  add("METRICS_PUBLIC", metrics_public ? "true" : "false");
  add("ADMIN_ALLOWED_HOSTS", joined(admin_allowed_hosts));
  return out;
}

std::string environment_help() {
  const Config defaults;
  std::ostringstream out;
  const auto row = [&](std::string_view name, std::string_view def, std::string_view meaning) {
    out << "  " << name << std::string(name.size() < 32 ? 32 - name.size() : 1, ' ') << meaning
        << "\n" << std::string(34, ' ') << "default: " << def << "\n";
  };
  for (const OtherSetting& s : kOtherSettings) row(s.name, s.default_text, s.meaning);
  for (const IntSetting& s : kIntSettings) {
    const std::string def = std::to_string(s.get(defaults)) + "; range " +
                            std::to_string(s.min) + ".." + std::to_string(s.max);
    row(s.name, def, s.meaning);
  }
  return out.str();
}

Config::Lookup environment_with_dotenv(const std::string& dotenv_path) {
  std::map<std::string, std::string> file_values;
  std::ifstream in(dotenv_path, std::ios::binary);
  if (in) {
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) throw ConfigError(dotenv_path + ": cannot be read");
    try {
      file_values = parse_dotenv(text.str());
    } catch (const ConfigError& e) {
      throw ConfigError(dotenv_path + ": " + e.what());
    }
  }
  return [file_values = std::move(file_values)](std::string_view name)
             -> std::optional<std::string> {
    // The environment wins over the file, as with foreman, honcho and docker compose.
    if (const char* value = std::getenv(std::string(name).c_str())) return std::string(value);
    if (auto it = file_values.find(std::string(name)); it != file_values.end()) return it->second;
    return std::nullopt;
  };
}

}  // namespace cloudmeta
