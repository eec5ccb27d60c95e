// Snapshot cache file bytes -> parse_snapshot_cache (server/snapshot/snapshot_cache.cpp): any
// bytes are refused with SnapshotCacheError or parsed; a parsed file hands over exactly the row
// count its trailer names, each field inside the input, and a refused one hands over none.
// Random bytes almost never carry a matching checksum, so an input whose last byte is even (a
// byte the checksum overwrites) gets its checksum made right first: that half reaches the
// version, trailer and row checks behind it.
#include <sodium.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "cloudmeta/snapshot_cache.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  if (size > crypto_generichash_BYTES && (data[size - 1] & 1) == 0) {
    const std::size_t body = size - crypto_generichash_BYTES;
    crypto_generichash(reinterpret_cast<unsigned char*>(bytes.data() + body),
                       crypto_generichash_BYTES,
                       reinterpret_cast<const unsigned char*>(bytes.data()), body, nullptr, 0);
  }
  const char* first = bytes.data();
  const char* last = bytes.data() + bytes.size();
  const auto inside = [&](std::string_view field) {
    return field.empty() || (field.data() >= first && field.data() + field.size() <= last);
  };
  std::uint64_t rows = 0;
  try {
    const auto visit = [&](const cloudmeta::StoredInstance& r) {
      if (!inside(r.instance_id) || !inside(r.ip) || !inside(r.doc) || !inside(r.created_at) ||
          !inside(r.updated_at)) {
        std::abort();
      }
      ++rows;
    };
    const auto info = cloudmeta::parse_snapshot_cache(bytes, visit);
    if (rows != info.rows) std::abort();
  } catch (const cloudmeta::SnapshotCacheError&) {
    if (rows != 0) std::abort();  // refused whole: nothing handed over first
  }
  return 0;
}
