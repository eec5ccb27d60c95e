// Applies schema/postgres (embedded, see schema.hpp) to a PostgreSQL database. Each migration runs
// in its own transaction holding a transaction-level advisory lock, so several hosts may run
// `cloudmeta migrate` (or start) at once: one applies, the others wait, then find it applied.
#pragma once

#include "pg_connection.hpp"

namespace cloudmeta::store {

// Returns the schema version afterwards. kCorrupt when the database is newer than this binary.
int pg_migrate(PgConnection& db);
// 0 for an empty database.
int pg_schema_version(PgConnection& db);

}  // namespace cloudmeta::store
