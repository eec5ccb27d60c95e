// Turns one stored instance row (the typed columns plus the JSON document) back into a record,
// the same way for every backend. A row that does not decode is kCorrupt naming the instance.
#pragma once

#include <string>
#include <string_view>

#include "cloudmeta/instance_record.hpp"

namespace cloudmeta::store {

InstanceRecord record_from_stored(std::string_view instance_id, std::string_view ip,
                                  std::string_view doc, std::string created_at,
                                  std::string updated_at);

}  // namespace cloudmeta::store
