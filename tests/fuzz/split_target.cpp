// A request-target -> imds::split_target and route_of (server/imds/imds.cpp), checking what the
// lookup relies on: the version has no '/', the path neither starts nor ends with '/' nor holds
// "//", both views point into the target or the scratch, and neither holds the query or fragment.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "cloudmeta/imds.hpp"

namespace {

bool inside(std::string_view part, std::string_view whole) {
  return part.empty() ||
         (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

void require(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view target(reinterpret_cast<const char*>(data), size);
  static std::string scratch;
  const auto split = cloudmeta::imds::split_target(target, scratch);
  require(split.version.find('/') == std::string_view::npos);
  require(split.path.find("//") == std::string_view::npos);
  require(split.path.empty() || (split.path.front() != '/' && split.path.back() != '/'));
  require(split.version.find_first_of("?#") == std::string_view::npos);
  require(split.path.find_first_of("?#") == std::string_view::npos);
  require(inside(split.version, target) || inside(split.version, scratch));
  require(inside(split.path, target) || inside(split.path, scratch));
  (void)cloudmeta::imds::route_of(target);
  (void)cloudmeta::imds::is_known_version(split.version);
  return 0;
}
