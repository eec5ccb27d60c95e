// BIND's address list -> Config::from_env (server/config/config.cpp): any bytes either parse or
// throw ConfigError; a parsed list holds 1..kMaxBindAddresses distinct addresses, each already
// in the canonical form that parsing it again gives back.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "cloudmeta/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string value(reinterpret_cast<const char*>(data), size);
  const auto lookup = [](const std::string& bind) {
    return [bind](std::string_view name) -> std::optional<std::string> {
      if (name == "BIND") return bind;
      return std::nullopt;
    };
  };
  try {
    const cloudmeta::Config config = cloudmeta::Config::from_env(lookup(value));
    const auto& list = config.bind;
    if (list.empty() || list.size() > cloudmeta::kMaxBindAddresses) std::abort();
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (std::count(list.begin(), list.end(), list[i]) != 1) std::abort();
      if (cloudmeta::Config::from_env(lookup(list[i])).bind.front() != list[i]) std::abort();
    }
  } catch (const cloudmeta::ConfigError&) {
  }
  return 0;
}
