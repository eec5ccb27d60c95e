#include "cloudmeta/libvirt_hook_config.hpp"

#include <algorithm>
#include <charconv>
#include <sstream>
#include <string_view>

namespace cloudmeta {
namespace {

constexpr std::size_t kMinXmlLimit = 4 * 1024;
constexpr std::size_t kMaxXmlLimit = 16 * 1024 * 1024;
constexpr long long kMinTimeoutMs = 100;
constexpr long long kMaxTimeoutMs = 10'000;

struct Variable {
  std::string_view name;
  std::string_view default_text;
  std::string_view meaning;
};

const Variable kVariables[] = {
    {"LIBVIRT_HOOK_BRIDGE", "(first interface)",
     "the metadata bridge: the domain's first <interface> with this <source bridge> gives the "
     "record's mac and interface"},
    {"LIBVIRT_HOOK_TOKEN_FILE", "/etc/cloudmeta/libvirt-hook.token",
     "file holding an admin API token (cloudmeta token create); mode 0600 or stricter"},
    {"LIBVIRT_HOOK_USER_DATA_DIR", "/etc/cloudmeta/user-data",
     "where <cloudmeta:user-data file=NAME/> files are read from (each at most 16 KiB)"},
    {"LIBVIRT_HOOK_ON_RELEASE", "stop",
     "stop | delete: what `release` does to the record (stop: kept, not served)"},
    {"LIBVIRT_HOOK_ON_ERROR", "fail",
     "fail | ignore: exit status when the server is down or fails (fail: libvirt refuses to "
     "start the guest; ignore: it boots without metadata)"},
    {"LIBVIRT_HOOK_XML_LIMIT", "1048576; range 4096..16777216",
     "bytes of domain XML read from standard input; more is refused"},
    {"LIBVIRT_HOOK_TIMEOUT_MS", "3000; range 100..10000",
     "all exchanges with the admin API of one hook call, connecting included, end within this"},
};

[[noreturn]] void fail(std::string_view name, std::string_view expected, std::string_view value) {
  throw ConfigError(std::string(name) + ": expected " + std::string(expected) + ", got '" +
                    std::string(value.substr(0, 64)) + (value.size() > 64 ? "...'" : "'"));
}

long long parse_int(std::string_view name, std::string_view value, long long min, long long max) {
  long long v = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (ec != std::errc() || end != value.data() + value.size() || v < min || v > max) {
    fail(name, "an integer " + std::to_string(min) + ".." + std::to_string(max), value);
  }
  return v;
}

// As the kernel takes a network interface name (dev_valid_name), the rule the record's
// `interface` follows too.
std::string parse_bridge(std::string_view value) {
  const bool ok = value.size() <= 15 && value != "." && value != ".." &&
                  std::none_of(value.begin(), value.end(), [](char c) {
                    return c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n' ||
                           c == '\r' || static_cast<unsigned char>(c) < 0x20;
                  });
  if (!ok) fail("LIBVIRT_HOOK_BRIDGE", "a network interface name (1..15 bytes)", value);
  return std::string(value);
}

std::string parse_path(std::string_view name, std::string_view value) {
  if (value.front() != '/') fail(name, "an absolute path", value);
  return std::string(value);
}

}  // namespace

LibvirtHookConfig LibvirtHookConfig::from_env(const Config::Lookup& lookup) {
  const auto get = [&](std::string_view name) -> std::optional<std::string> {
    auto value = lookup(name);
    if (value && value->empty()) return std::nullopt;  // empty = unset, as for Config
    return value;
  };
  LibvirtHookConfig c;
  if (auto v = get("LIBVIRT_HOOK_BRIDGE")) c.bridge = parse_bridge(*v);
  if (auto v = get("LIBVIRT_HOOK_TOKEN_FILE")) {
    c.token_file = parse_path("LIBVIRT_HOOK_TOKEN_FILE", *v);
  }
  if (auto v = get("LIBVIRT_HOOK_USER_DATA_DIR")) {
    c.user_data_dir = parse_path("LIBVIRT_HOOK_USER_DATA_DIR", *v);
  }
  if (auto v = get("LIBVIRT_HOOK_ON_RELEASE")) {
    if (*v == "stop") {
      c.on_release = HookOnRelease::kStop;
    } else if (*v == "delete") {
      c.on_release = HookOnRelease::kDelete;
    } else {
      fail("LIBVIRT_HOOK_ON_RELEASE", "stop or delete", *v);
    }
  }
  if (auto v = get("LIBVIRT_HOOK_ON_ERROR")) {
    if (*v == "fail") {
      c.on_error = HookOnError::kFail;
    } else if (*v == "ignore") {
      c.on_error = HookOnError::kIgnore;
    } else {
      fail("LIBVIRT_HOOK_ON_ERROR", "fail or ignore", *v);
    }
  }
  if (auto v = get("LIBVIRT_HOOK_XML_LIMIT")) {
    c.xml_limit = static_cast<std::size_t>(
        parse_int("LIBVIRT_HOOK_XML_LIMIT", *v, kMinXmlLimit, kMaxXmlLimit));
  }
  if (auto v = get("LIBVIRT_HOOK_TIMEOUT_MS")) {
    c.timeout = std::chrono::milliseconds(
        parse_int("LIBVIRT_HOOK_TIMEOUT_MS", *v, kMinTimeoutMs, kMaxTimeoutMs));
  }
  return c;
}

std::string libvirt_hook_environment_help() {
  std::ostringstream out;
  for (const Variable& v : kVariables) {
    out << "  " << v.name << std::string(v.name.size() < 32 ? 32 - v.name.size() : 1, ' ')
        << v.meaning << "\n" << std::string(34, ' ') << "default: " << v.default_text << "\n";
  }
  return out.str();
}

}  // namespace cloudmeta
