#include "cloudmeta/libvirt_hook_config.hpp"

#include <doctest/doctest.h>

#include <map>
#include <string>

using cloudmeta::ConfigError;
using cloudmeta::HookOnError;
using cloudmeta::HookOnRelease;
using cloudmeta::LibvirtHookConfig;

namespace {

LibvirtHookConfig from(std::map<std::string, std::string> env) {
  return LibvirtHookConfig::from_env([env](std::string_view name) -> std::optional<std::string> {
    const auto it = env.find(std::string(name));
    if (it == env.end()) return std::nullopt;
    return it->second;
  });
}

}  // namespace

TEST_CASE("libvirt hook settings: defaults") {
  const LibvirtHookConfig c = from({});
  CHECK(c.bridge.empty());
  CHECK(c.token_file == "/etc/cloudmeta/libvirt-hook.token");
  CHECK(c.on_release == HookOnRelease::kStop);
  CHECK(c.on_error == HookOnError::kFail);
  CHECK(c.xml_limit == 1024 * 1024);
  CHECK(c.timeout == std::chrono::milliseconds(3000));
  CHECK(cloudmeta::libvirt_hook_environment_help().find("LIBVIRT_HOOK_ON_ERROR") !=
        std::string::npos);
}

TEST_CASE("libvirt hook settings: each value and its limits") {
  const LibvirtHookConfig c = from({{"LIBVIRT_HOOK_BRIDGE", "virbr-md"},
                                    {"LIBVIRT_HOOK_ON_RELEASE", "delete"},
                                    {"LIBVIRT_HOOK_ON_ERROR", "ignore"},
                                    {"LIBVIRT_HOOK_XML_LIMIT", "4096"},
                                    {"LIBVIRT_HOOK_TIMEOUT_MS", "10000"},
                                    {"LIBVIRT_HOOK_TOKEN_FILE", "/run/hook.token"}});
  CHECK(c.bridge == "virbr-md");
  CHECK(c.on_release == HookOnRelease::kDelete);
  CHECK(c.on_error == HookOnError::kIgnore);
  CHECK(c.xml_limit == 4096);
  CHECK(c.timeout == std::chrono::milliseconds(10000));
  CHECK(c.token_file == "/run/hook.token");
  CHECK(from({{"LIBVIRT_HOOK_ON_ERROR", ""}}).on_error == HookOnError::kFail);  // empty = unset
  for (const auto& setting :
       std::map<std::string, std::string>{{"LIBVIRT_HOOK_BRIDGE", "a-name-longer-than-15"},
                                          {"LIBVIRT_HOOK_ON_RELEASE", "pause"},
                                          {"LIBVIRT_HOOK_ON_ERROR", "retry"},
                                          {"LIBVIRT_HOOK_XML_LIMIT", "4095"},
                                          {"LIBVIRT_HOOK_TIMEOUT_MS", "10001"},
                                          {"LIBVIRT_HOOK_TOKEN_FILE", "relative.token"}}) {
    // A variable, not a structured binding: clang 14 (the sanitizer builds) cannot capture one.
    const std::string& name = setting.first;
    CAPTURE(name);
    CHECK_THROWS_AS(from({{name, setting.second}}), ConfigError);
  }
  CHECK_THROWS_WITH(from({{"LIBVIRT_HOOK_BRIDGE", "br/0"}}),
                    doctest::Contains("LIBVIRT_HOOK_BRIDGE"));
}
