-- Initial schema. schema_migrations itself is created by the migrator (it must exist before this
-- file runs). Instances keep queried or unique values in columns and the rest of the record in
-- doc (record_to_json without created_at/updated_at), so new record fields need no migration.
CREATE TABLE instances (
  instance_id TEXT PRIMARY KEY NOT NULL,
  ip TEXT NOT NULL UNIQUE,
  doc TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);

-- One row; bumped in the same transaction as every instance write so that any process can tell
-- cheaply whether its snapshot is stale.
CREATE TABLE instance_revision (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  value INTEGER NOT NULL
);
INSERT INTO instance_revision (id, value) VALUES (1, 0);

CREATE TABLE users (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  username TEXT NOT NULL UNIQUE,
  email TEXT NOT NULL DEFAULT '',
  password_hash TEXT NOT NULL,
  created_at TEXT NOT NULL
);

CREATE TABLE api_tokens (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  token_hash TEXT NOT NULL UNIQUE,
  prefix TEXT NOT NULL,
  created_at TEXT NOT NULL,
  last_used_at TEXT NOT NULL DEFAULT ''
);

CREATE TABLE settings (
  key TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL
);
