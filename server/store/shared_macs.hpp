// Migration 0005 makes a record's MAC unique (docs/hypervisor.md, "DHCP guests"). A database
// whose records already share one cannot take the unique index: each store's migrator asks
// which MACs are shared before it applies that migration and refuses, naming them, so that the
// operator decides which record keeps each (a bare constraint error would name none).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "cloudmeta/store.hpp"

namespace cloudmeta::store {

inline constexpr int kUniqueMacVersion = 5;
// At most this many shared MACs are named (the query stops there).
inline constexpr int kSharedMacsNamed = 20;

// (mac, the instance ids holding it, space-separated), as the stores' queries return them:
// the StoreError (kConflict) that refuses the migration. `shared` is not empty.
StoreError shared_macs_error(const std::vector<std::pair<std::string, std::string>>& shared);

}  // namespace cloudmeta::store
