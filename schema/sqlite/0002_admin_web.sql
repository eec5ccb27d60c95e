-- The admin web page: browser sessions and the audit log.

-- One row per logged-in browser. id_hash is the hex SHA-256 of the random session id the cookie
-- carries, so a copy of the database lets no one take over a session. expires_at (Unix seconds)
-- is checked on every request; logout deletes the row, so a stolen cookie dies with it.
CREATE TABLE admin_sessions (
  id_hash TEXT PRIMARY KEY NOT NULL,
  username TEXT NOT NULL,
  peer TEXT NOT NULL,
  created_at TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX admin_sessions_expires_at ON admin_sessions (expires_at);

-- Every change made through the admin surface: who (user:NAME or token:NAME), when (RFC 3339
-- UTC), from where (peer address), what (action, instance), which fields, and the record before
-- and after as JSON with IAM secrets redacted. Append-only; newest first by id.
CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  logged_at TEXT NOT NULL,
  actor TEXT NOT NULL,
  peer TEXT NOT NULL,
  action TEXT NOT NULL,
  instance_id TEXT NOT NULL DEFAULT '',
  fields TEXT NOT NULL DEFAULT '[]',
  before_doc TEXT NOT NULL DEFAULT '',
  after_doc TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_instance_id ON audit_log (instance_id, id);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
