-- DHCP guests (docs/hypervisor.md, "DHCP guests"): a record may carry a `mac` and no `ip`; the
-- server learns its address from the kernel's neighbour table when it first calls. Same
-- columns and meaning as schema/postgres/0005_dhcp_guests.sql.
--
-- The migrator refuses to apply this file while two rows share a MAC (it names them), since the
-- unique index below could not be built; the operator decides which record keeps it.
--
-- SQLite cannot drop a NOT NULL constraint, so the table is rebuilt: the rows are copied with
-- their rowids, then the views, triggers and indexes of 0004 are made again as they were, but
-- for the address key of a row without an address ('' instead of NULL).

-- ip NULL: no address yet (UNIQUE allows any number of NULLs). mac_key: the document's `mac`,
-- lower-cased, NULL when it has none (or is not JSON). ip_learned: the address was learned by
-- the server, not set by an operator; only a learned address may move. Both generated, so every
-- writer keeps them in step.
CREATE TABLE instances_0005 (
  instance_id TEXT PRIMARY KEY NOT NULL,
  ip TEXT UNIQUE,
  doc TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  hostname_key TEXT NOT NULL DEFAULT '',
  instance_type TEXT NOT NULL DEFAULT '',
  region TEXT NOT NULL DEFAULT '',
  ip_key TEXT NOT NULL DEFAULT '',
  mac_key TEXT GENERATED ALWAYS AS (
    CASE WHEN json_valid(doc) AND json_type(doc, '$.mac') = 'text'
         THEN NULLIF(lower(json_extract(doc, '$.mac')), '') END) STORED,
  ip_learned INTEGER GENERATED ALWAYS AS (
    CASE WHEN json_valid(doc) AND json_type(doc, '$.ip_learned') = 'true' THEN 1 ELSE 0 END)
    STORED
);
INSERT INTO instances_0005 (rowid, instance_id, ip, doc, created_at, updated_at, hostname_key,
                            instance_type, region, ip_key)
  SELECT rowid, instance_id, ip, doc, created_at, updated_at, hostname_key, instance_type, region,
         ip_key
  FROM instances;

DROP VIEW instance_listing_values;
DROP VIEW instance_tag_values;
DROP TABLE instances;  -- its triggers and indexes with it
ALTER TABLE instances_0005 RENAME TO instances;

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
     -- No address (NULL): '', which the IPv4 branch turns into ''.
     json_each(json_array(lower(COALESCE(i.ip, '')))) AS a,
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

CREATE VIEW instance_tag_values AS
SELECT i.instance_id AS instance_id, t.key AS tag_key, t.value AS tag_value,
       lower(t.value) AS tag_value_key
FROM instances AS i,
     json_each(CASE WHEN json_valid(i.doc) AND json_type(i.doc, '$.tags') = 'object'
                    THEN json_extract(i.doc, '$.tags') ELSE '{}' END) AS t;

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

CREATE INDEX instances_by_hostname_key ON instances (hostname_key, instance_id);
CREATE INDEX instances_by_instance_type ON instances (instance_type, instance_id);
CREATE INDEX instances_by_region ON instances (region, instance_id);
CREATE INDEX instances_by_ip_key ON instances (ip_key, instance_id);
CREATE INDEX instances_by_created_at ON instances (created_at, instance_id);
CREATE INDEX instances_by_updated_at ON instances (updated_at, instance_id);

-- Two records with one MAC: the second write is a conflict (the admin API's 409).
CREATE UNIQUE INDEX instances_mac_key ON instances (mac_key) WHERE mac_key IS NOT NULL;
