// The settings of `cloudmeta libvirt-hook` (docs/configuration.md, "libvirt hook"), read once
// from the same environment as every command (the process environment over ./.env). Apart from
// Config because the server never reads them and `serve --help` should not list them. Throws
// ConfigError naming the variable.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "cloudmeta/config.hpp"

namespace cloudmeta {

// What `release` does to the record: mark it stopped (kept, not served) or delete it.
enum class HookOnRelease { kStop, kDelete };
// What the hook answers libvirt when the server cannot be reached or fails (5xx): non-zero, so
// that libvirt refuses to start the guest, or 0, so that it boots without metadata.
enum class HookOnError { kFail, kIgnore };

struct LibvirtHookConfig {
  std::string bridge;  // LIBVIRT_HOOK_BRIDGE: the metadata bridge; "" = the first interface
  std::string token_file = "/etc/cloudmeta/libvirt-hook.token";
  std::string user_data_dir = "/etc/cloudmeta/user-data";
  HookOnRelease on_release = HookOnRelease::kStop;
  HookOnError on_error = HookOnError::kFail;
  std::size_t xml_limit = 1024 * 1024;  // bytes of domain XML read from standard input
  // Every exchange with the server of one hook call, connecting included, ends within this.
  std::chrono::milliseconds timeout{3000};

  static LibvirtHookConfig from_env(const Config::Lookup& lookup);
};

// The variables from_env reads, with default, range and meaning: `libvirt-hook --help`.
std::string libvirt_hook_environment_help();

}  // namespace cloudmeta
