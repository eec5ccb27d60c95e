#include "stored_record.hpp"

#include <nlohmann/json.hpp>

#include "cloudmeta/record_json.hpp"
#include "cloudmeta/store.hpp"

namespace cloudmeta::store {

InstanceRecord record_from_stored(std::string_view id_view, std::string_view ip,
                                  std::string_view doc_text, std::string created_at,
                                  std::string updated_at) {
  using Kind = StoreError::Kind;
  const std::string id(id_view);
  const auto doc = nlohmann::json::parse(doc_text.begin(), doc_text.end(), nullptr, false);
  if (doc.is_discarded()) {
    throw StoreError(Kind::kCorrupt, "instance " + id + ": the stored document is not JSON");
  }
  InstanceRecord record;
  try {
    record = record_from_json(doc);
  } catch (const ValidationError& e) {
    throw StoreError(Kind::kCorrupt,
                     "instance " + id + ": the stored document is invalid (" + e.field() + ")");
  }
  if (record.instance_id != id || record.ip != ip) {
    throw StoreError(Kind::kCorrupt, "instance " + id + ": columns and document disagree");
  }
  record.created_at = std::move(created_at);
  record.updated_at = std::move(updated_at);
  return record;
}

}  // namespace cloudmeta::store

namespace cloudmeta {

InstanceRecord decode(const StoredInstance& row) {
  return store::record_from_stored(row.instance_id, row.ip, row.doc, std::string(row.created_at),
                                   std::string(row.updated_at));
}

}  // namespace cloudmeta
