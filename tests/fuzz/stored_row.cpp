// A stored instance row's document -> what every reader of the store makes of it
// (server/store/stored_record.cpp): record_from_stored, which must never throw (a row it cannot
// decode comes back flagged, so that one row cannot fail a listing, an export or its own
// repair), and decode(), the metadata surface's path, which refuses exactly the flagged rows.
// A row that decodes must be written back (normalised, document_of) as a document that decodes
// to the same record with the same members of a newer version: a host that is not upgraded
// yet must not change or drop them.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "cloudmeta/record_json.hpp"
#include "cloudmeta/store.hpp"
#include "store/stored_record.hpp"

namespace {

constexpr std::string_view kId = "i-0123456789abcdef0";
constexpr std::string_view kIp = "198.18.0.10";
constexpr std::string_view kAt = "2026-11-22T10:00:00Z";

void require(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view doc(reinterpret_cast<const char*>(data), size);
  const cloudmeta::InstanceRecord read =
      cloudmeta::store::record_from_stored(kId, kIp, doc, std::string(kAt), std::string(kAt));
  require(read.instance_id == kId && read.ip == kIp && read.created_at == kAt);

  bool refused = false;
  try {
    cloudmeta::decode(cloudmeta::StoredInstance{kId, kIp, doc, kAt, kAt});
  } catch (const cloudmeta::StoreError& e) {
    refused = e.kind() == cloudmeta::StoreError::Kind::kCorrupt;
  }
  require(refused == read.invalid.has_value());

  if (read.invalid) {
    require(read.invalid->document == doc && !read.invalid->reason.empty());
    require(cloudmeta::record_to_json(read).size() == 5);  // id, ip, reason, timestamps
    return 0;
  }
  // What this version writes back for it: it decoded by the rules a write checks, so it must be
  // writable.
  std::string written;
  try {
    written = cloudmeta::store::document_of(cloudmeta::store::normalised(read));
  } catch (const cloudmeta::StoreError&) {
    std::abort();
  }
  const cloudmeta::InstanceRecord again =
      cloudmeta::store::record_from_stored(kId, kIp, written, std::string(kAt), std::string(kAt));
  require(!again.invalid);
  require(cloudmeta::record_to_json(again) == cloudmeta::record_to_json(read));
  require(again.unknown_fields == read.unknown_fields);
  return 0;
}
