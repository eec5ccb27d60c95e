// `cloudmeta export` and `cloudmeta import`: every instance record as one JSON object per line
// (record_to_json with secrets, the admin API's format), to move a fleet between SQLite and
// Postgres or to back it up. Users and API tokens are not part of it: they belong to a site, not
// to the fleet's records. Throws CommandError (bad input, naming its line) or StoreError.
#pragma once

#include <cstddef>
#include <istream>
#include <ostream>
#include <string>
#include <vector>

#include "cloudmeta/config.hpp"

namespace cloudmeta::cli {

struct ExportCounts {
  std::size_t exported = 0;
  // "instance ID: reason" for each stored row that could not be decoded, left out of the
  // output so that the output stays importable.
  std::vector<std::string> left_out;
};

// Writes the records that decode, ordered by instance_id (only the fields this version knows:
// a newer version's members stay behind).
ExportCounts export_instances(const Config& config, std::ostream& out);

struct ImportCounts {
  std::size_t created = 0;
  std::size_t replaced = 0;
  std::size_t unchanged = 0;  // already stored exactly so: importing twice changes nothing
};

// Creates or replaces records by instance_id, in one transaction, reading and writing a batch of
// Store::kLookupBatch lines at a time: the cost is the records imported (one lookup per batch),
// not the fleet stored, and the memory a batch plus each line's id and address. Every line is
// checked (JSON, validation, rendering, duplicates within the input, an ip held by another stored
// instance) before its batch is written; a bad line names its number and nothing of the import
// is kept. Blank lines are skipped.
ImportCounts import_instances(const Config& config, std::istream& in);

}  // namespace cloudmeta::cli
