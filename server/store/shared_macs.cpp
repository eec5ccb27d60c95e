#include "shared_macs.hpp"

namespace cloudmeta::store {

StoreError shared_macs_error(const std::vector<std::pair<std::string, std::string>>& shared) {
  std::string named;
  for (const auto& [mac, ids] : shared) {
    if (!named.empty()) named += "; ";
    named += mac + " (" + ids + ")";
  }
  if (shared.size() >= static_cast<std::size_t>(kSharedMacsNamed)) named += "; and maybe more";
  return StoreError(StoreError::Kind::kConflict,
                    "cannot apply migration 0005: a MAC must belong to one instance from now on, "
                    "and these are shared: " +
                        named + ". Give each instance its own mac (or clear it), then migrate "
                                "again");
}

}  // namespace cloudmeta::store
