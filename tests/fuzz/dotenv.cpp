// .env text -> parse_dotenv (server/config/dotenv.cpp): any bytes either parse or throw
// ConfigError naming the line; a parsed key is never empty.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "cloudmeta/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    for (const auto& [key, value] : cloudmeta::parse_dotenv(text)) {
      if (key.empty()) std::abort();
    }
  } catch (const cloudmeta::ConfigError&) {
  }
  return 0;
}
