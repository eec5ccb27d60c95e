// The instance row's document, the same way for every backend: what is written (the record's
// JSON without the timestamps, which are columns, plus the members a newer version wrote) and
// how a row is read back. A row that does not decode is returned flagged (InstanceRecord::
// invalid), not thrown, so that one bad row cannot take listing, export or its own repair down
// with it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cloudmeta/instance_record.hpp"

namespace cloudmeta::store {

// The record of a row; record.invalid says why when it does not decode (the document is not
// JSON, a field fails this version's checks, the columns and the document disagree).
InstanceRecord record_from_stored(std::string_view instance_id, std::string_view ip,
                                  std::string_view doc, std::string created_at,
                                  std::string updated_at);

// The record as it will be stored: validated and normalised exactly as the admin API would, so
// that every stored document reads back; unknown_fields go along. kInvalid when a rule fails,
// or when the record is flagged invalid (it holds nothing to write).
InstanceRecord normalised(const InstanceRecord& record);

// The document column for a normalised record. kInvalid when a string is not UTF-8.
std::string document_of(const InstanceRecord& record);

// What Store::write_instances refuses before writing anything: more than Store::kLookupBatch
// records, or an instance_id given twice (kInvalid).
void check_write_batch(const std::vector<InstanceRecord>& records);

}  // namespace cloudmeta::store
