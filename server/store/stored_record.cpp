#include "stored_record.hpp"

#include <string_view>
#include <unordered_set>
#include <utility>

#include <nlohmann/json.hpp>

#include "cloudmeta/record_json.hpp"
#include "cloudmeta/store.hpp"

namespace cloudmeta::store {
namespace {

using Kind = StoreError::Kind;
using nlohmann::json;

// Puts back the members a newer version wrote: those `doc` lacks, descending into the objects
// both hold (iam, metadata_options), whose other members this version has just written.
void add_unknown(json& doc, const json& kept) {
  if (!kept.is_object()) return;
  for (const auto& [key, value] : kept.items()) {
    const auto it = doc.find(key);
    if (it == doc.end()) {
      doc[key] = value;
    } else if (it->is_object() && value.is_object()) {
      add_unknown(*it, value);
    }
  }
}

}  // namespace

InstanceRecord record_from_stored(std::string_view id, std::string_view ip,
                                  std::string_view doc_text, std::string created_at,
                                  std::string updated_at) {
  InstanceRecord record;
  std::string reason;
  // nlohmann's parser does not recurse, whatever the nesting; record_from_stored_json bounds the
  // members it keeps, and every member it knows bounds itself.
  const auto doc = json::parse(doc_text.begin(), doc_text.end(), nullptr, false);
  if (doc.is_discarded()) {
    reason = "the stored document is not JSON";
  } else {
    try {
      record = record_from_stored_json(doc);
      if (record.instance_id != id || record.ip != ip) {
        reason = "the stored document's instance_id or ip disagrees with the row's columns";
      }
    } catch (const ValidationError& e) {
      // Names the field and the rule; the rules' messages never quote a value.
      reason = std::string("the stored document is invalid: ") + e.what();
    } catch (const json::exception& e) {
      // A value of a type record_json did not expect where it did not check first.
      reason = std::string("the stored document is invalid: ") + e.what();
    }
  }
  if (!reason.empty()) {
    record = InstanceRecord{};
    record.instance_id = id;
    record.ip = ip;
    record.invalid = InstanceRecord::Undecodable{std::move(reason), std::string(doc_text)};
  }
  record.created_at = std::move(created_at);
  record.updated_at = std::move(updated_at);
  return record;
}

InstanceRecord normalised(const InstanceRecord& record) {
  if (record.invalid) {
    throw StoreError(Kind::kInvalid, "instance " + record.instance_id +
                                         ": a stored row that did not decode holds no record to "
                                         "write");
  }
  try {
    InstanceRecord out = record_from_json(record_to_json(record, true));
    out.unknown_fields = record.unknown_fields;
    return out;
  } catch (const ValidationError& e) {
    throw StoreError(Kind::kInvalid, e.what());
  }
}

std::string document_of(const InstanceRecord& record) {
  json doc = record_to_json(record, /*include_secrets=*/true);
  doc.erase("created_at");  // columns hold them; a copy in doc could only drift
  doc.erase("updated_at");
  add_unknown(doc, record.unknown_fields);
  try {
    return doc.dump();
  } catch (const json::exception&) {
    throw StoreError(Kind::kInvalid, "the record holds text that is not valid UTF-8");
  }
}

void check_write_batch(const std::vector<InstanceRecord>& records) {
  if (records.size() > Store::kLookupBatch) {
    throw StoreError(Kind::kInvalid, "a batch holds at most " +
                                         std::to_string(Store::kLookupBatch) + " records");
  }
  std::unordered_set<std::string_view> ids;
  for (const auto& record : records) {
    if (!ids.insert(record.instance_id).second) {
      throw StoreError(Kind::kInvalid, "instance_id " + record.instance_id + " is twice in a batch");
    }
  }
}

}  // namespace cloudmeta::store

namespace cloudmeta {

InstanceRecord decode(const StoredInstance& row) {
  InstanceRecord record = store::record_from_stored(row.instance_id, row.ip, row.doc,
                                                    std::string(row.created_at),
                                                    std::string(row.updated_at));
  if (record.invalid) {
    throw StoreError(StoreError::Kind::kCorrupt,
                     "instance " + record.instance_id + ": " + record.invalid->reason);
  }
  return record;
}

}  // namespace cloudmeta
