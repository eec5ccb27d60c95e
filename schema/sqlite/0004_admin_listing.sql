-- The admin listing in the store (issue 17): what GET /api/v1/instances filters, searches and
-- sorts by, beside the document, with an index for each, so that a page costs what its rows cost
-- at any fleet size (admin/instance_query.hpp has the query semantics).
--
-- The values are derived from doc and ip by triggers, not by the code that writes rows: every
-- writer keeps them in step that way, this binary, an older one sharing the database during a
-- rolling upgrade, `cloudmeta import`, a hand edit with the sqlite3 shell. A document that is not
-- JSON (a hand edit) derives empty values, never an error, so that the row can still be written,
-- listed and repaired. The expressions are written once, in the two views below; the triggers
-- and the backfill of existing rows read them. Same values as schema/postgres/0004, byte for
-- byte (tests/store/instance_listing_test.cpp compares them): text is compared byte by byte
-- (SQLite's BINARY, Postgres' "C"), and lower() folds ASCII letters only on both.
--
-- Coming record fields that the page sorts or filters by (project, profile, expiry) get a
-- column in instance_listing_values and an index the same way, in their own migration.

-- hostname_key: the host name lower-cased, for sort=hostname and the q= prefix search.
-- ip_key: the address as 32 hex digits of its 16 bytes (IPv4 as ::ffff:a.b.c.d, as IpKey holds
-- it), so that text order is numeric order (10.0.0.9 before 10.0.0.10).
ALTER TABLE instances ADD COLUMN hostname_key TEXT NOT NULL DEFAULT '';
ALTER TABLE instances ADD COLUMN instance_type TEXT NOT NULL DEFAULT '';
ALTER TABLE instances ADD COLUMN region TEXT NOT NULL DEFAULT '';
ALTER TABLE instances ADD COLUMN ip_key TEXT NOT NULL DEFAULT '';

-- One row per tag of an instance: tag=KEY and tag=KEY=VALUE filters (tag_key, tag_value), the
-- q= prefix search over tag values (tag_value_key, lower-cased).
CREATE TABLE instance_tags (
  instance_id TEXT NOT NULL,
  tag_key TEXT NOT NULL,
  tag_value TEXT NOT NULL,
  tag_value_key TEXT NOT NULL,
  PRIMARY KEY (instance_id, tag_key)
);

-- The derived values of each row. json_each over a one-element array binds a name to a value
-- (SQLite has no LET), so each step below reads the one before it.
CREATE VIEW instance_listing_values AS
SELECT
  i.rowid AS row_id,
  CASE WHEN json_valid(i.doc) THEN lower(COALESCE(json_extract(i.doc, '$.hostname'), ''))
       ELSE '' END AS hostname_key,
  CASE WHEN json_valid(i.doc) THEN COALESCE(json_extract(i.doc, '$.instance_type'), '')
       ELSE '' END AS instance_type,
  CASE WHEN json_valid(i.doc) THEN COALESCE(json_extract(i.doc, '$.region'), '')
       ELSE '' END AS region,
  (SELECT
     CASE
       -- IPv4: a.b.c.d -> the JSON array [a,b,c,d]
       WHEN instr(a.value, ':') = 0 THEN
         CASE WHEN json_valid(v4.value) AND json_array_length(v4.value) = 4
              THEN printf('00000000000000000000ffff%02x%02x%02x%02x', v4.value ->> 0,
                          v4.value ->> 1, v4.value ->> 2, v4.value ->> 3)
              ELSE '' END
       -- IPv6, "::" expanded to its zero groups: eight groups, each padded to four digits
       WHEN json_valid(g.value) AND json_array_length(g.value) = 8 THEN
         substr('0000' || (g.value ->> 0), -4) || substr('0000' || (g.value ->> 1), -4) ||
         substr('0000' || (g.value ->> 2), -4) || substr('0000' || (g.value ->> 3), -4) ||
         substr('0000' || (g.value ->> 4), -4) || substr('0000' || (g.value ->> 5), -4) ||
         substr('0000' || (g.value ->> 6), -4) || substr('0000' || (g.value ->> 7), -4)
       ELSE ''
     END
   FROM
     json_each(json_array(lower(i.ip))) AS a,
     json_each(json_array('[' || replace(a.value, '.', ',') || ']')) AS v4,
     -- An IPv6 address ending in a dotted quad ("::1.2.3.4", as inet_ntop prints an
     -- IPv4-compatible one): the quad as two hex groups.
     json_each(json_array(rtrim(a.value, '0123456789.'))) AS head,
     json_each(json_array('[' || replace(substr(a.value, length(head.value) + 1), '.', ',')
                          || ']')) AS quad,
     json_each(json_array(
       CASE WHEN instr(a.value, '.') = 0 OR NOT json_valid(quad.value)
                 OR json_array_length(quad.value) <> 4 THEN a.value
            ELSE head.value || printf('%x:%x', (quad.value ->> 0) * 256 + (quad.value ->> 1),
                                      (quad.value ->> 2) * 256 + (quad.value ->> 3))
       END)) AS t,
     json_each(json_array(instr(t.value, '::'))) AS p,
     json_each(json_array(CASE WHEN p.value = 0 THEN '' ELSE substr(t.value, 1, p.value - 1)
                          END)) AS l,
     json_each(json_array(CASE WHEN p.value = 0 THEN '' ELSE substr(t.value, p.value + 2)
                          END)) AS r,
     json_each(json_array(
       CASE WHEN p.value = 0 THEN t.value
            ELSE l.value || CASE WHEN l.value = '' THEN '' ELSE ':' END ||
                 substr('0:0:0:0:0:0:0:0', 1, 2 * (8
                   - CASE WHEN l.value = '' THEN 0
                          ELSE length(l.value) - length(replace(l.value, ':', '')) + 1 END
                   - CASE WHEN r.value = '' THEN 0
                          ELSE length(r.value) - length(replace(r.value, ':', '')) + 1 END) - 1)
                 || CASE WHEN r.value = '' THEN '' ELSE ':' END || r.value
       END)) AS e,
     json_each(json_array('["' || replace(e.value, ':', '","') || '"]')) AS g
  ) AS ip_key
FROM instances AS i;

-- The tags of each row; a document that is not JSON, or whose tags are not an object, has none.
CREATE VIEW instance_tag_values AS
SELECT i.instance_id AS instance_id, t.key AS tag_key, t.value AS tag_value,
       lower(t.value) AS tag_value_key
FROM instances AS i,
     json_each(CASE WHEN json_valid(i.doc) AND json_type(i.doc, '$.tags') = 'object'
                    THEN json_extract(i.doc, '$.tags') ELSE '{}' END) AS t;

-- Existing rows, in one pass each (a million rows: seconds, docs/benchmarks.md).
UPDATE instances SET (hostname_key, instance_type, region, ip_key) =
  (SELECT v.hostname_key, v.instance_type, v.region, v.ip_key
   FROM instance_listing_values AS v WHERE v.row_id = instances.rowid);
INSERT INTO instance_tags (instance_id, tag_key, tag_value, tag_value_key)
  SELECT instance_id, tag_key, tag_value, tag_value_key FROM instance_tag_values;

-- Kept in step from now on. The triggers' own UPDATE sets only the derived columns, so it does
-- not fire the UPDATE OF trigger again.
CREATE TRIGGER instances_listing_insert AFTER INSERT ON instances
BEGIN
  UPDATE instances SET (hostname_key, instance_type, region, ip_key) =
    (SELECT v.hostname_key, v.instance_type, v.region, v.ip_key
     FROM instance_listing_values AS v WHERE v.row_id = NEW.rowid)
  WHERE rowid = NEW.rowid;
  INSERT INTO instance_tags (instance_id, tag_key, tag_value, tag_value_key)
    SELECT instance_id, tag_key, tag_value, tag_value_key FROM instance_tag_values
    WHERE instance_id = NEW.instance_id;
END;

CREATE TRIGGER instances_listing_update AFTER UPDATE OF instance_id, ip, doc ON instances
BEGIN
  UPDATE instances SET (hostname_key, instance_type, region, ip_key) =
    (SELECT v.hostname_key, v.instance_type, v.region, v.ip_key
     FROM instance_listing_values AS v WHERE v.row_id = NEW.rowid)
  WHERE rowid = NEW.rowid;
  DELETE FROM instance_tags WHERE instance_id = OLD.instance_id;
  INSERT INTO instance_tags (instance_id, tag_key, tag_value, tag_value_key)
    SELECT instance_id, tag_key, tag_value, tag_value_key FROM instance_tag_values
    WHERE instance_id = NEW.instance_id;
END;

CREATE TRIGGER instances_listing_delete AFTER DELETE ON instances
BEGIN
  DELETE FROM instance_tags WHERE instance_id = OLD.instance_id;
END;

-- Every sort key with instance_id as the tie-breaker, so that a cursor (the last row's key and
-- id) starts the next page with one index seek. instance_id itself is the primary key; ip is
-- UNIQUE already (its index serves the ip= filter and the q= prefix on addresses).
CREATE INDEX instances_by_hostname_key ON instances (hostname_key, instance_id);
CREATE INDEX instances_by_instance_type ON instances (instance_type, instance_id);
CREATE INDEX instances_by_region ON instances (region, instance_id);
CREATE INDEX instances_by_ip_key ON instances (ip_key, instance_id);
CREATE INDEX instances_by_created_at ON instances (created_at, instance_id);
CREATE INDEX instances_by_updated_at ON instances (updated_at, instance_id);
CREATE INDEX instance_tags_key_value ON instance_tags (tag_key, tag_value, instance_id);
CREATE INDEX instance_tags_value_key ON instance_tags (tag_value_key, instance_id);
