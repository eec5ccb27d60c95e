-- Incremental fleet sync. Same tables, columns and meaning as schema/sqlite/0003_change_log.sql;
-- only the types differ.

-- txid_current() of the transaction that last bumped the revision: the first instance write of a
-- transaction bumps it, later writes in the same transaction share that revision.
ALTER TABLE instance_revision ADD COLUMN bumped_by BIGINT;

-- One row per instance written per revision; ip_before is its address before ('' when it did
-- not exist), changed_at the Unix time of the database's clock. The primary key's index serves
-- the read (a revision range) and the prune (the oldest rows).
CREATE TABLE instance_changes (
  revision BIGINT NOT NULL,
  instance_id TEXT NOT NULL,
  ip_before TEXT NOT NULL,
  changed_at BIGINT NOT NULL,
  PRIMARY KEY (revision, instance_id)
);
