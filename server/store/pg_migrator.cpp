#include "pg_migrator.hpp"

#include <string>

#include "cloudmeta/schema.hpp"
#include "shared_macs.hpp"

namespace cloudmeta::store {
namespace {

// Any fixed 64-bit number that no other application on the same database uses for
// pg_advisory_xact_lock; this one spells "cloudmet" in ASCII.
constexpr const char* kMigrationLockKey = "7164223657226364276";

constexpr const char* kCreateMigrationsTable =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)";

// Before migration 0005: the MACs two or more rows hold (cloudmeta_doc_json is 0004's).
void refuse_shared_macs(PgConnection& db) {
  const auto rows = db.exec(
      "SELECT m, string_agg(instance_id, ' ' ORDER BY instance_id) FROM"
      " (SELECT instance_id, cloudmeta_fold(cloudmeta_doc_json(doc) ->> 'mac') AS m"
      " FROM instances WHERE json_typeof(cloudmeta_doc_json(doc)) = 'object') AS macs"
      " WHERE m <> '' GROUP BY m HAVING count(*) > 1 ORDER BY m LIMIT $1::integer",
      {std::to_string(store::kSharedMacsNamed)});
  if (rows.empty()) return;
  std::vector<std::pair<std::string, std::string>> shared;
  for (int i = 0; i < rows.size(); ++i) shared.emplace_back(rows.text(i, 0), rows.text(i, 1));
  throw store::shared_macs_error(shared);
}

int latest_known() {
  const auto& all = migrations("postgres");
  return all.empty() ? 0 : all.back().version;
}

}  // namespace

int pg_schema_version(PgConnection& db) {
  // to_regclass: NULL rather than an error when the table does not exist yet.
  auto exists = db.exec("SELECT to_regclass('schema_migrations') IS NOT NULL");
  if (exists.text(0, 0) != "t") return 0;
  auto rows = db.exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  return static_cast<int>(rows.integer(0, 0));
}

int pg_migrate(PgConnection& db) {
  // Another host may hold the lock for as long as its migration takes, and a migration may
  // rewrite a big table: neither is a silent server.
  const PgConnection::Patience patience(db);
  for (const auto& migration : migrations("postgres")) {
    PgTransaction tx(db);
    db.exec_script("SET LOCAL statement_timeout = 0");
    db.exec("SELECT pg_advisory_xact_lock($1::bigint)", {kMigrationLockKey});
    db.exec(kCreateMigrationsTable);
    const std::string version = std::to_string(migration.version);
    if (!db.exec("SELECT 1 FROM schema_migrations WHERE version = $1::integer", {version})
             .empty()) {
      continue;  // applied earlier, or by another host while we waited for the lock
    }
    if (migration.version == store::kUniqueMacVersion) refuse_shared_macs(db);
    db.exec_script(std::string(migration.sql));
    db.exec(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1::integer, $2, "
        "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))",
        {version, migration.name});
    tx.commit();
  }
  const int version = pg_schema_version(db);
  if (version > latest_known()) {
    throw StoreError(StoreError::Kind::kCorrupt, "the database schema (version " +
                                                     std::to_string(version) +
                                                     ") is newer than this binary knows (" +
                                                     std::to_string(latest_known()) + ")");
  }
  return version;
}

}  // namespace cloudmeta::store
