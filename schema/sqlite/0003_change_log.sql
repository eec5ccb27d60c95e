-- Incremental fleet sync (docs/architecture.md, "Fleet sync"): every instance write also records
-- which instance it changed, in the same transaction, so that a host whose snapshot is at
-- revision R reads only the instances written since R instead of the whole fleet.

-- The top-level transaction that last bumped the revision: the first instance write of a
-- transaction bumps it, later writes in the same transaction share that revision (an import of
-- many records is one revision). A column rather than memory, so that a write rolled back to its
-- savepoint takes its bump with it. SqliteStore writes a token unique to each transaction.
ALTER TABLE instance_revision ADD COLUMN bumped_by INTEGER;

-- One row per instance written per revision (several rows share the revision of a
-- multi-record transaction). ip_before is the address the instance had before that revision's
-- first write of it ('' when it did not exist), so a reader can drop the entry it serves at that
-- address. changed_at (Unix seconds) decides pruning: rows older than CHANGE_LOG_RETENTION_S are
-- deleted, oldest revision first, a bounded batch at a time; a reader whose revision the log no
-- longer reaches loads the whole fleet instead. Clustered by revision (WITHOUT ROWID), so both
-- the read (a revision range) and the prune (the oldest rows) walk one b-tree range.
CREATE TABLE instance_changes (
  revision INTEGER NOT NULL,
  instance_id TEXT NOT NULL,
  ip_before TEXT NOT NULL,
  changed_at INTEGER NOT NULL,
  PRIMARY KEY (revision, instance_id)
) WITHOUT ROWID;
