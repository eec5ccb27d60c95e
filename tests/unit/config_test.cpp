#include "cloudmeta/config.hpp"
#include "cloudmeta/store.hpp"

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

using cloudmeta::Config;
using cloudmeta::ConfigError;
using cloudmeta::LogFormat;
using cloudmeta::LogLevel;

namespace {

Config::Lookup env(std::map<std::string, std::string> values) {
  return [values = std::move(values)](std::string_view name) -> std::optional<std::string> {
    auto it = values.find(std::string(name));
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

Config parse(std::map<std::string, std::string> values) {
  return Config::from_env(env(std::move(values)));
}

std::string error_of(const std::string& name, const std::string& value) {
  try {
    Config::from_env(env({{name, value}}));
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("defaults when nothing is set") {
  const Config c = parse({});
  CHECK(c.port == 8000);
  CHECK(c.bind == std::vector<std::string>{"0.0.0.0"});
  CHECK(c.admin_port == 8001);
  CHECK(c.admin_bind == "127.0.0.1");
  CHECK(c.threads == 0);
  CHECK(c.database_url.empty());
  CHECK(c.secret_key.empty());
  CHECK(c.log_level == LogLevel::kInfo);
  CHECK(c.log_format == LogFormat::kText);
  CHECK(c.trusted_proxies.empty());
  CHECK(c.imds_limits.body_limit == 1024);
  CHECK(c.admin_limits.body_limit == 1024 * 1024);
  CHECK(c.imds_limits.header_limit == 8 * 1024);
  CHECK(c.refresh_interval == std::chrono::milliseconds(1000));
  CHECK(c.full_resync_interval == std::chrono::seconds(300));
  CHECK(c.snapshot_cache_interval == std::chrono::seconds(60));
  CHECK(c.change_log_retention == std::chrono::seconds(3600));
  // The Store's own defaults (used by the CLI) are the server's.
  const cloudmeta::StoreOptions store_defaults;
  CHECK(c.database_pool_size == store_defaults.pool_size);
  CHECK(c.database_pool_timeout == store_defaults.pool_wait);
  CHECK(c.database_timeout == store_defaults.timeout);
  CHECK(c.snapshot_cache == "snapshot.cache");
}

TEST_CASE("SNAPSHOT_CACHE: a path, or off") {
  CHECK(parse({{"SNAPSHOT_CACHE", "/var/lib/cloudmeta/last.snapshot"}}).snapshot_cache ==
        "/var/lib/cloudmeta/last.snapshot");
  CHECK(parse({{"SNAPSHOT_CACHE", "off"}}).snapshot_cache.empty());
  CHECK(parse({{"SNAPSHOT_CACHE", "OFF"}}).describe().find("SNAPSHOT_CACHE=off") !=
        std::string::npos);
}

TEST_CASE("every integer variable: accepted at its bounds, rejected past them") {
  struct Row {
    const char* name;
    const char* low;
    const char* high;
    const char* below;
    const char* above;
  };
  const Row rows[] = {
      {"PORT", "0", "65535", "-1", "65536"},
      {"ADMIN_PORT", "0", "65535", "-1", "65536"},
      {"THREADS", "0", "256", "-1", "257"},
      {"IMDS_HEADER_LIMIT", "1024", "1048576", "1023", "1048577"},
      {"IMDS_READ_TIMEOUT_MS", "100", "600000", "99", "600001"},
      {"IMDS_IDLE_TIMEOUT_MS", "100", "3600000", "99", "3600001"},
      {"IMDS_MAX_CONNECTIONS", "1", "1000000", "0", "1000001"},
      {"IMDS_MAX_CONNECTIONS_PER_SOURCE", "1", "1000000", "0", "1000001"},
      {"IMDS_RATE_LIMIT", "0", "1000000", "-1", "1000001"},
      {"IMDS_RATE_BURST", "0", "1000000", "-1", "1000001"},
      {"ADMIN_HEADER_LIMIT", "1024", "1048576", "1023", "1048577"},
      {"ADMIN_BODY_LIMIT", "1024", "67108864", "1023", "67108865"},
      {"ADMIN_READ_TIMEOUT_MS", "100", "600000", "99", "600001"},
      {"ADMIN_IDLE_TIMEOUT_MS", "100", "3600000", "99", "3600001"},
      {"ADMIN_MAX_CONNECTIONS", "1", "1000000", "0", "1000001"},
      {"REFRESH_INTERVAL_MS", "10", "3600000", "9", "3600001"},
      {"FULL_RESYNC_INTERVAL_S", "0", "86400", "-1", "86401"},
      {"SNAPSHOT_CACHE_INTERVAL_S", "0", "86400", "-1", "86401"},
      {"CHANGE_LOG_RETENTION_S", "1", "2592000", "0", "2592001"},
      {"DATABASE_POOL_SIZE", "1", "64", "0", "65"},
      {"DATABASE_POOL_TIMEOUT_MS", "100", "600000", "99", "600001"},
      {"DATABASE_TIMEOUT_MS", "100", "600000", "99", "600001"},
  };
  for (const Row& r : rows) {
    CAPTURE(r.name);
    CHECK_NOTHROW(parse({{r.name, r.low}}));
    CHECK_NOTHROW(parse({{r.name, r.high}}));
    for (const char* bad : {r.below, r.above, "abc", "12x", " 5", "1.5", "99999999999999999999"}) {
      CAPTURE(bad);
      const std::string message = error_of(r.name, bad);
      CHECK(message.find(std::string(r.name) + ": expected an integer ") == 0);
      CHECK(message.find(std::string("got '") + bad + "'") != std::string::npos);
    }
  }
}

TEST_CASE("integer values land in the right fields") {
  const Config c = parse({{"PORT", "80"},
                          {"ADMIN_PORT", "0"},
                          {"THREADS", "3"},
                          {"IMDS_HEADER_LIMIT", "4096"},
                          {"IMDS_READ_TIMEOUT_MS", "2000"},
                          {"IMDS_IDLE_TIMEOUT_MS", "3000"},
                          {"IMDS_MAX_CONNECTIONS", "50"},
                          {"IMDS_MAX_CONNECTIONS_PER_SOURCE", "5"},
                          {"IMDS_RATE_LIMIT", "20"},
                          {"IMDS_RATE_BURST", "40"},
                          {"ADMIN_HEADER_LIMIT", "16384"},
                          {"ADMIN_BODY_LIMIT", "2048"},
                          {"ADMIN_READ_TIMEOUT_MS", "4000"},
                          {"ADMIN_IDLE_TIMEOUT_MS", "5000"},
                          {"ADMIN_MAX_CONNECTIONS", "7"},
                          {"REFRESH_INTERVAL_MS", "250"},
                          {"FULL_RESYNC_INTERVAL_S", "0"},
                          {"DATABASE_POOL_SIZE", "16"},
                          {"DATABASE_POOL_TIMEOUT_MS", "750"}});
  CHECK(c.port == 80);
  CHECK(c.admin_port == 0);
  CHECK(c.threads == 3);
  CHECK(c.imds_limits.header_limit == 4096);
  CHECK(c.imds_limits.read_timeout.count() == 2000);
  CHECK(c.imds_limits.idle_timeout.count() == 3000);
  CHECK(c.imds_limits.max_connections == 50);
  CHECK(c.imds_limits.max_connections_per_source == 5);
  CHECK(c.imds_limits.rate_per_source == 20);
  CHECK(c.imds_limits.burst_per_source == 40);
  CHECK(c.admin_limits.rate_per_source == 0);
  CHECK(c.imds_limits.body_limit == 1024);  // not configurable: IMDS requests carry no body
  CHECK(c.admin_limits.header_limit == 16384);
  CHECK(c.admin_limits.body_limit == 2048);
  CHECK(c.admin_limits.read_timeout.count() == 4000);
  CHECK(c.admin_limits.idle_timeout.count() == 5000);
  CHECK(c.admin_limits.max_connections == 7);
  CHECK(c.refresh_interval.count() == 250);
  CHECK(c.full_resync_interval.count() == 0);
  CHECK(c.database_pool_size == 16);
  CHECK(c.database_pool_timeout.count() == 750);
}

TEST_CASE("the error message is the one the brief promises") {
  CHECK(error_of("PORT", "abc") == "PORT: expected an integer 0..65535, got 'abc'");
}

TEST_CASE("bind addresses") {
  using List = std::vector<std::string>;
  CHECK(parse({{"BIND", "169.254.169.254"}}).bind == List{"169.254.169.254"});
  CHECK(parse({{"BIND", "::"}}).bind == List{"::"});
  CHECK(parse({{"ADMIN_BIND", "::1"}}).admin_bind == "::1");
  CHECK(parse({{"ADMIN_BIND", "fd00::0:1"}}).admin_bind == "fd00::1");
  for (const char* bad : {"localhost", "1.2.3", "256.0.0.1", "1.2.3.4/8", "::g"}) {
    CAPTURE(bad);
    CHECK(error_of("BIND", bad).find("BIND: expected an IPv4 or IPv6 address") == 0);
    CHECK(error_of("ADMIN_BIND", bad).find("ADMIN_BIND: expected") == 0);
  }
}

TEST_CASE("BIND: a list of up to 8 distinct addresses, each in canonical form") {
  using List = std::vector<std::string>;
  CHECK(parse({{"BIND", "169.254.169.254,fd00:ec2::254"}}).bind ==
        List{"169.254.169.254", "fd00:ec2::254"});
  CHECK(parse({{"BIND", " 169.254.169.254 , fd00:ec2:0::0254 "}}).bind ==
        List{"169.254.169.254", "fd00:ec2::254"});
  CHECK(parse({{"BIND", "169.254.169.254,fd00:ec2::254"}}).describe().find(
            "BIND=169.254.169.254,fd00:ec2::254") != std::string::npos);
  std::string eight = "10.0.0.1";
  for (int i = 2; i <= 8; ++i) eight += ",10.0.0." + std::to_string(i);
  CHECK(parse({{"BIND", eight}}).bind.size() == 8);
  CHECK(error_of("BIND", eight + ",10.0.0.9").find(
            "BIND: expected at most 8 comma-separated addresses") == 0);
  CHECK(error_of("BIND", "169.254.169.254,fd00:ec2::254,169.254.169.254").find(
            "BIND: expected distinct addresses (169.254.169.254 is listed twice)") == 0);
  CHECK(error_of("BIND", "fd00:ec2::254,fd00:ec2:0:0::254").find(
            "(fd00:ec2::254 is listed twice)") != std::string::npos);
  for (const char* bad : {"169.254.169.254,", ",::1", "169.254.169.254,,::1", "1.2.3.4,nope",
                          "[fd00:ec2::254]", "1.2.3.4;::1"}) {
    CAPTURE(bad);
    CHECK(error_of("BIND", bad).find("BIND: expected an IPv4 or IPv6 address") == 0);
  }
}

TEST_CASE("log level and format") {
  CHECK(parse({{"LOG_LEVEL", "debug"}}).log_level == LogLevel::kDebug);
  CHECK(parse({{"LOG_LEVEL", "info"}}).log_level == LogLevel::kInfo);
  CHECK(parse({{"LOG_LEVEL", "warn"}}).log_level == LogLevel::kWarn);
  CHECK(parse({{"LOG_LEVEL", "ERROR"}}).log_level == LogLevel::kError);
  CHECK(parse({{"LOG_FORMAT", "json"}}).log_format == LogFormat::kJson);
  CHECK(parse({{"LOG_FORMAT", "text"}}).log_format == LogFormat::kText);
  CHECK(error_of("LOG_LEVEL", "verbose") ==
        "LOG_LEVEL: expected one of debug, info, warn, error, got 'verbose'");
  CHECK(error_of("LOG_FORMAT", "xml") == "LOG_FORMAT: expected one of text, json, got 'xml'");
}

TEST_CASE("SECRET_KEY must be long, and the message never shows it") {
  const std::string good(32, 'k');
  CHECK(parse({{"SECRET_KEY", good}}).secret_key == good);
  const std::string message = error_of("SECRET_KEY", "short-secret-value");
  CHECK(message == "SECRET_KEY: must be at least 32 characters, got 18");
  CHECK(message.find("short-secret-value") == std::string::npos);
}

TEST_CASE("TRUSTED_PROXIES") {
  const Config c = parse({{"TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7 fd00::/8"}});
  REQUIRE(c.trusted_proxies.size() == 3);
  CHECK(c.trusted_proxies[0].contains(*cloudmeta::IpKey::parse("10.1.2.3")));
  CHECK_FALSE(c.trusted_proxies[0].contains(*cloudmeta::IpKey::parse("11.1.2.3")));
  CHECK(c.trusted_proxies[1].contains(*cloudmeta::IpKey::parse("192.0.2.7")));
  CHECK(error_of("TRUSTED_PROXIES", "10.0.0.0/33").find("TRUSTED_PROXIES: expected") == 0);
  CHECK(error_of("TRUSTED_PROXIES", "nonsense").find("got 'nonsense'") != std::string::npos);
}

TEST_CASE("ADMIN_ALLOWED_HOSTS: names without port, lower-cased, * alone, localhost by default") {
  CHECK(parse({}).admin_allowed_hosts == std::vector<std::string>{"localhost"});
  CHECK(parse({{"ADMIN_ALLOWED_HOSTS", "Admin.Example, localhost hv1.mgmt.example"}})
            .admin_allowed_hosts ==
        std::vector<std::string>{"admin.example", "localhost", "hv1.mgmt.example"});
  CHECK(parse({{"ADMIN_ALLOWED_HOSTS", "*"}}).admin_allowed_hosts ==
        std::vector<std::string>{"*"});
  for (const char* bad : {"admin.example:8001", "*.example", "*, localhost", "a/b", " , "}) {
    CAPTURE(bad);
    CHECK(error_of("ADMIN_ALLOWED_HOSTS", bad).find("ADMIN_ALLOWED_HOSTS: expected") == 0);
  }
  CHECK(parse({{"ADMIN_ALLOWED_HOSTS", "a.example,b.example"}}).describe().find(
            "ADMIN_ALLOWED_HOSTS=a.example,b.example") != std::string::npos);
}

TEST_CASE("TRUSTED_PROXY_HEADER names one header: X-Forwarded-For unless told X-Real-IP") {
  using cloudmeta::ProxyHeader;
  CHECK(parse({}).trusted_proxy_header == ProxyHeader::kXForwardedFor);
  CHECK(parse({{"TRUSTED_PROXY_HEADER", "X-Real-IP"}}).trusted_proxy_header ==
        ProxyHeader::kXRealIp);
  CHECK(parse({{"TRUSTED_PROXY_HEADER", "x-forwarded-for"}}).trusted_proxy_header ==
        ProxyHeader::kXForwardedFor);
  CHECK(error_of("TRUSTED_PROXY_HEADER", "both") ==
        "TRUSTED_PROXY_HEADER: expected one of x-forwarded-for, x-real-ip, got 'both'");
  CHECK(parse({{"TRUSTED_PROXY_HEADER", "x-real-ip"}}).describe().find(
            "TRUSTED_PROXY_HEADER=x-real-ip") != std::string::npos);
}

TEST_CASE("an empty value means the default") {
  const Config c = parse({{"PORT", ""}, {"SECRET_KEY", ""}, {"LOG_LEVEL", ""}, {"BIND", ""}});
  CHECK(c.port == 8000);
  CHECK(c.secret_key.empty());
  CHECK(c.log_level == LogLevel::kInfo);
  CHECK(c.bind == std::vector<std::string>{"0.0.0.0"});
}

TEST_CASE("values in errors stay on one line and short") {
  const std::string message = error_of("PORT", "1\n2" + std::string(200, 'x'));
  CHECK(message.find('\n') == std::string::npos);
  CHECK(message.find("'1\\x0a2xxx") != std::string::npos);
  CHECK(message.size() < 120);
}

TEST_CASE("describe lists every setting and redacts secrets") {
  const Config c = parse({{"SECRET_KEY", "super-secret-key-material-0123456789"},
                          {"DATABASE_URL", "postgres://app:hunter2pass@db.example:5432/meta"},
                          {"TRUSTED_PROXIES", "10.0.0.0/8"}});
  const std::string d = c.describe();
  CHECK(d.find("super-secret") == std::string::npos);
  CHECK(d.find("hunter2pass") == std::string::npos);
  CHECK(d.find("SECRET_KEY=(redacted)") != std::string::npos);
  CHECK(d.find("DATABASE_URL=postgres://app:***@db.example:5432/meta") != std::string::npos);
  CHECK(d.find("TRUSTED_PROXIES=10.0.0.0/8") != std::string::npos);
  for (const char* name :
       {"PORT=8000", "BIND=0.0.0.0", "ADMIN_PORT=8001", "ADMIN_BIND=127.0.0.1", "THREADS=0",
        "LOG_LEVEL=info", "LOG_FORMAT=text", "IMDS_HEADER_LIMIT=8192", "IMDS_READ_TIMEOUT_MS=",
        "IMDS_IDLE_TIMEOUT_MS=", "IMDS_MAX_CONNECTIONS=", "IMDS_MAX_CONNECTIONS_PER_SOURCE=",
        "IMDS_RATE_LIMIT=0", "IMDS_RATE_BURST=0",
        "ADMIN_HEADER_LIMIT=", "ADMIN_BODY_LIMIT=1048576", "ADMIN_READ_TIMEOUT_MS=",
        "ADMIN_IDLE_TIMEOUT_MS=", "ADMIN_MAX_CONNECTIONS=", "REFRESH_INTERVAL_MS=1000",
        "FULL_RESYNC_INTERVAL_S=300", "DATABASE_POOL_SIZE=4", "DATABASE_POOL_TIMEOUT_MS=5000"}) {
    CAPTURE(name);
    CHECK(d.find(name) != std::string::npos);
  }
  CHECK(d.find('\n') == std::string::npos);
}

TEST_CASE("describe redacts passwords given as parameters") {
  const auto described = [](const std::string& url) {
    return parse({{"DATABASE_URL", url}}).describe();
  };
  const std::string query =
      described("postgresql://db/meta?user=a&password=s3cr3t&sslmode=require");
  CHECK(query.find("s3cr3t") == std::string::npos);
  CHECK(query.find("password=***&sslmode=require") != std::string::npos);
  const std::string keywords = described("host=db PASSWORD=s3cr3t dbname=meta");
  CHECK(keywords.find("s3cr3t") == std::string::npos);
  CHECK(described("sqlite:///var/lib/cloudmeta/x.db").find("sqlite:///var/lib/cloudmeta/x.db") !=
        std::string::npos);
  CHECK(parse({}).describe().find("SECRET_KEY=(unset)") != std::string::npos);
}

TEST_CASE("environment_help names every variable with its default") {
  const std::string help = cloudmeta::environment_help();
  for (const char* name :
       {"PORT", "BIND", "ADMIN_PORT", "ADMIN_BIND", "THREADS", "DATABASE_URL", "SECRET_KEY",
        "LOG_LEVEL", "LOG_FORMAT", "TRUSTED_PROXIES", "TRUSTED_PROXY_HEADER", "IMDS_HEADER_LIMIT",
        "IMDS_READ_TIMEOUT_MS", "IMDS_IDLE_TIMEOUT_MS", "IMDS_MAX_CONNECTIONS",
        "IMDS_MAX_CONNECTIONS_PER_SOURCE", "IMDS_RATE_LIMIT", "IMDS_RATE_BURST",
        "ADMIN_HEADER_LIMIT", "ADMIN_BODY_LIMIT", "ADMIN_READ_TIMEOUT_MS", "ADMIN_IDLE_TIMEOUT_MS",
        "ADMIN_MAX_CONNECTIONS", "REFRESH_INTERVAL_MS", "FULL_RESYNC_INTERVAL_S",
        "DATABASE_POOL_SIZE", "DATABASE_POOL_TIMEOUT_MS", "ADMIN_ALLOWED_HOSTS"}) {
    CAPTURE(name);
    CHECK(help.find(std::string("  ") + name + " ") != std::string::npos);
  }
  CHECK(help.find("default: 8000; range 0..65535") != std::string::npos);
  CHECK(help.find("default: 1048576; range 1024..67108864") != std::string::npos);
}

TEST_CASE("CALLER_BINDING: address unless told mac or port") {
  using cloudmeta::CallerBinding;
  CHECK(parse({}).caller_binding == CallerBinding::kAddress);
  CHECK(parse({{"CALLER_BINDING", "MAC"}}).caller_binding == CallerBinding::kMac);
  CHECK(parse({{"CALLER_BINDING", "port"}}).caller_binding == CallerBinding::kPort);
  CHECK(error_of("CALLER_BINDING", "ip") ==
        "CALLER_BINDING: expected one of address, mac, port, got 'ip'");
  CHECK(parse({{"CALLER_BINDING", "port"}}).describe().find("CALLER_BINDING=port") !=
        std::string::npos);
}
