#include "cli/cli_transfer.hpp"

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/cli_commands.hpp"
#include "cloudmeta/json_input.hpp"
#include "cloudmeta/metadata_tree.hpp"
#include "cloudmeta/record_json.hpp"
#include "cloudmeta/store.hpp"

namespace cloudmeta::cli {
namespace {

using nlohmann::json;

struct Line {
  std::size_t number = 0;
  InstanceRecord record;
};

[[noreturn]] void fail_at(std::size_t line, const std::string& message) {
  throw CommandError("line " + std::to_string(line) + ": " + message);
}

// What the import compares: the stored content, not when it was stored.
json content_of(const InstanceRecord& record) {
  json doc = record_to_json(record, /*include_secrets=*/true);
  doc.erase("created_at");
  doc.erase("updated_at");
  return doc;
}

// Parses and checks one line as the admin API's POST would, so that what is imported can be
// served (render) and nothing is refused halfway through the writes.
InstanceRecord parse_line(const std::string& text, std::size_t number) {
  json doc;
  try {
    doc = parse_json_input(text);
  } catch (const JsonInputError& e) {
    fail_at(number, std::string("invalid JSON: ") + e.what());
  }
  try {
    InstanceRecord record = record_from_json(doc);
    render(record);
    return record;
  } catch (const ValidationError& e) {
    fail_at(number, e.what());
  }
}

// Reads the input a batch of lines at a time, so an import of a million records holds a batch of
// decoded records, not the fleet; what it keeps of every line is its id and address, to refuse a
// duplicate within the input by both line numbers.
class LineReader {
 public:
  explicit LineReader(std::istream& in) : in_(in) {}

  // Up to `count` parsed and checked lines; empty at the end of the input.
  std::vector<Line> next(std::size_t count) {
    std::vector<Line> lines;
    std::string text;
    while (lines.size() < count && std::getline(in_, text)) {
      const std::size_t number = ++number_;
      if (!text.empty() && text.back() == '\r') text.pop_back();
      if (text.find_first_not_of(" \t") == std::string::npos) continue;
      InstanceRecord record = parse_line(text, number);
      const auto [id_at, new_id] = line_of_id_.emplace(record.instance_id, number);
      if (!new_id) {
        fail_at(number, "instance_id " + record.instance_id + " is also on line " +
                            std::to_string(id_at->second));
      }
      // A DHCP guest's record has no address yet; its MAC is as unique as an address.
      if (!record.ip.empty()) {
        const auto [ip_at, new_ip] = line_of_ip_.emplace(record.ip, number);
        if (!new_ip) {
          fail_at(number, "ip " + record.ip + " is also on line " + std::to_string(ip_at->second));
        }
      }
      if (!record.mac.empty()) {
        const auto [mac_at, new_mac] = line_of_mac_.emplace(record.mac, number);
        if (!new_mac) {
          fail_at(number,
                  "mac " + record.mac + " is also on line " + std::to_string(mac_at->second));
        }
      }
      lines.push_back({number, std::move(record)});
    }
    if (in_.bad()) throw CommandError("cannot read the input");
    return lines;
  }

 private:
  std::istream& in_;
  std::size_t number_ = 0;
  std::unordered_map<std::string, std::size_t> line_of_id_;
  std::unordered_map<std::string, std::size_t> line_of_ip_;
  std::unordered_map<std::string, std::size_t> line_of_mac_;
};

// Writes one batch of lines inside the import's transaction. An address may not move from one
// stored instance to another (the outcome would depend on the order of the lines): its holder
// before the import is found with one lookup per batch, and an address a record of this import
// gave up in an earlier batch is remembered in `vacated`, so the refusal does not depend on which
// batch comes first either.
void import_batch(Store& store, const std::vector<Line>& lines,
                  std::unordered_map<std::string, std::string>& vacated, ImportCounts& counts) {
  std::vector<std::string> ids;
  std::vector<std::string> ips;
  for (const auto& line : lines) {
    ids.push_back(line.record.instance_id);
    ips.push_back(line.record.ip);
  }
  std::unordered_map<std::string, InstanceRecord> stored_by_id;
  for (auto& record : store.find_instances(ids)) {
    std::string id = record.instance_id;
    stored_by_id.emplace(std::move(id), std::move(record));
  }
  std::unordered_map<std::string, std::string> holder_of_ip;
  for (auto& [ip, id] : store.holders_of(ips)) holder_of_ip.emplace(std::move(ip), std::move(id));
  for (const auto& line : lines) {
    const std::string& id = line.record.instance_id;
    for (const auto* holders : {&holder_of_ip, &vacated}) {
      const auto holder = holders->find(line.record.ip);
      if (holder != holders->end() && holder->second != id) {
        fail_at(line.number, "ip " + line.record.ip + " belongs to instance " + holder->second +
                                 " in the database");
      }
    }
  }
  // What to write: the new records and the changed ones, which keep the members a newer
  // version wrote, as Fleet::replace does (a row that did not decode has none and is replaced
  // whole).
  std::vector<InstanceRecord> writes;
  std::vector<std::size_t> line_of_write;
  for (const auto& line : lines) {
    const auto existing = stored_by_id.find(line.record.instance_id);
    if (existing == stored_by_id.end()) {
      ++counts.created;
    } else if (content_of(existing->second) == content_of(line.record)) {
      ++counts.unchanged;
      continue;
    } else {
      if (!existing->second.ip.empty() && existing->second.ip != line.record.ip) {
        vacated.emplace(existing->second.ip, line.record.instance_id);
      }
      ++counts.replaced;
    }
    writes.push_back(line.record);
    if (existing != stored_by_id.end()) {
      writes.back().unknown_fields = existing->second.unknown_fields;
    }
    line_of_write.push_back(line.number);
  }
  try {
    store.write_instances(writes);
  } catch (const StoreError& e) {
    // The batch was undone whole. A record refused (a taken address, a rule of the store) is
    // found by writing them again one by one, and its line named; a database that fails says
    // so as it is.
    if (e.kind() != StoreError::Kind::kConflict && e.kind() != StoreError::Kind::kInvalid) throw;
    for (std::size_t i = 0; i < writes.size(); ++i) {
      try {
        if (stored_by_id.count(writes[i].instance_id) != 0) {
          store.update_instance(writes[i]);
        } else {
          store.insert_instance(writes[i]);
        }
      } catch (const StoreError& e) {
        throw StoreError(e.kind(), "line " + std::to_string(line_of_write[i]) + ": " + e.what() +
                                       " (nothing was imported)");
      }
    }
  }
}

}  // namespace

ExportCounts export_instances(const Config& config, std::ostream& out) {
  auto store = open_store(config.database_url);
  ExportCounts counts;
  // A page of 1,000 rows at a time, by instance_id (the admin listing's keyset paging): a fleet
  // of any size streams out in the memory of one page, and each page is a short read, so a long
  // export neither holds a read transaction open nor stalls writers.
  InstanceKeysQuery page;
  page.limit = 1000;
  for (;;) {
    const std::vector<InstanceKey> keys = store->list_instance_keys(page);
    if (keys.empty()) break;
    std::vector<std::string> ids;
    ids.reserve(keys.size());
    for (const auto& key : keys) ids.push_back(key.position.instance_id);
    std::vector<InstanceRecord> records = store->find_instances(ids);
    std::sort(records.begin(), records.end(),
              [](const InstanceRecord& a, const InstanceRecord& b) {
                return a.instance_id < b.instance_id;
              });
    for (const auto& record : records) {
      // Written, a row that did not decode would make the file fail to import (or import as an
      // empty record): it is reported instead, and the rest of the fleet still gets out.
      if (record.invalid) {
        counts.left_out.push_back("instance " + record.instance_id + ": " +
                                  record.invalid->reason);
        continue;
      }
      out << record_to_json(record, true).dump() << "\n";
      ++counts.exported;
    }
    if (keys.size() < page.limit) break;
    page.after = keys.back().position;
  }
  out.flush();
  if (!out) throw CommandError("cannot write the output");
  return counts;
}

ImportCounts import_instances(const Config& config, std::istream& in) {
  LineReader reader(in);
  // The first batch is read before the database is opened: a file that is not an import at all
  // fails without touching (or migrating) anything.
  std::vector<Line> batch = reader.next(Store::kLookupBatch);
  auto store = open_store(config.database_url);
  store->migrate();  // importing into a fresh database is the point of a move

  // One transaction: the import lands whole or not at all (a bad line further on undoes the
  // batches before it), and another writer cannot slip in between a lookup and the writes.
  ImportCounts counts;
  const std::size_t rows_before = store->instance_count_hint();
  store->transaction([&] {
    std::unordered_map<std::string, std::string> vacated;
    for (; !batch.empty(); batch = reader.next(Store::kLookupBatch)) {
      import_batch(*store, batch, vacated, counts);
    }
    // One entry per import, with its counts: an import of a whole fleet would otherwise add a
    // row per instance and bury the rest of the log.
    append_cli_audit(*store, "instance.import",
                     {{"created", counts.created},
                      {"replaced", counts.replaced},
                      {"unchanged", counts.unchanged}});
  });
  // As autovacuum's own rule (a tenth of the table changed), but now rather than at its next
  // round: the admin page opened right after a fleet's import is planned for the fleet.
  const std::size_t written = counts.created + counts.replaced;
  if (written >= Store::kLookupBatch && written * 10 >= rows_before) {
    try {
      store->update_planner_statistics();
    } catch (const StoreError&) {
      // The import is committed; the database's autovacuum gets to the statistics later.
    }
  }
  return counts;
}

}  // namespace cloudmeta::cli
