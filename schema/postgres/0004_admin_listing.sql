-- The admin listing in the store (issue 17). Same columns, table, values and indexes as
-- schema/sqlite/0004_admin_listing.sql, which says why; here the derived values are set by a
-- BEFORE trigger (no second write of the row) and the tags by an AFTER trigger.
--
-- Text that is sorted or compared is in the "C" collation: byte order, as SQLite's BINARY, so
-- that both backends list in the same order whatever the database's locale, and a range on an
-- index serves the q= prefix search.
ALTER TABLE instances ALTER COLUMN instance_id TYPE TEXT COLLATE "C";
ALTER TABLE instances ALTER COLUMN ip TYPE TEXT COLLATE "C";
ALTER TABLE instances ALTER COLUMN created_at TYPE TEXT COLLATE "C";
ALTER TABLE instances ALTER COLUMN updated_at TYPE TEXT COLLATE "C";
ALTER TABLE instances ADD COLUMN hostname_key TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE instances ADD COLUMN instance_type TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE instances ADD COLUMN region TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE instances ADD COLUMN ip_key TEXT COLLATE "C" NOT NULL DEFAULT '';

CREATE TABLE instance_tags (
  instance_id TEXT COLLATE "C" NOT NULL,
  tag_key TEXT COLLATE "C" NOT NULL,
  tag_value TEXT COLLATE "C" NOT NULL,
  tag_value_key TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (instance_id, tag_key)
);

-- ASCII letters only, as SQLite's lower(): Postgres' lower() follows the locale.
CREATE FUNCTION cloudmeta_fold(s TEXT) RETURNS TEXT LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT translate(s, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
$$;

-- The document as JSON, or NULL when it is not (a hand edit): never an error, so such a row can
-- still be written and repaired. json, not jsonb: jsonb refuses the \u0000 that user-data holds.
CREATE FUNCTION cloudmeta_doc_json(doc TEXT) RETURNS json LANGUAGE plpgsql IMMUTABLE STRICT AS $$
BEGIN
  RETURN doc::json;
EXCEPTION WHEN others THEN
  RETURN NULL;
END
$$;

-- The address as 32 hex digits of its 16 bytes (IPv4 as ::ffff:a.b.c.d); '' when it is not an
-- address. The same steps as SQLite's instance_listing_values.
CREATE FUNCTION cloudmeta_ip_key(ip TEXT) RETURNS TEXT LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
  t TEXT := lower(ip);
  head TEXT;
  quad TEXT[];
  l TEXT;
  r TEXT;
  p INTEGER;
  groups TEXT[];
  key TEXT := '';
BEGIN
  IF strpos(t, ':') = 0 THEN
    quad := string_to_array(t, '.');
    IF array_length(quad, 1) <> 4 THEN RETURN ''; END IF;
    RETURN '00000000000000000000ffff' || lpad(to_hex(quad[1]::int), 2, '0')
        || lpad(to_hex(quad[2]::int), 2, '0') || lpad(to_hex(quad[3]::int), 2, '0')
        || lpad(to_hex(quad[4]::int), 2, '0');
  END IF;
  IF strpos(t, '.') > 0 THEN  -- "::1.2.3.4": the quad as two hex groups
    head := rtrim(t, '0123456789.');
    quad := string_to_array(substr(t, length(head) + 1), '.');
    IF array_length(quad, 1) = 4 THEN
      t := head || to_hex(quad[1]::int * 256 + quad[2]::int) || ':'
          || to_hex(quad[3]::int * 256 + quad[4]::int);
    END IF;
  END IF;
  p := strpos(t, '::');
  IF p > 0 THEN
    l := substr(t, 1, p - 1);
    r := substr(t, p + 2);
    t := l || CASE WHEN l = '' THEN '' ELSE ':' END
        || substr('0:0:0:0:0:0:0:0', 1, 2 * (8
             - CASE WHEN l = '' THEN 0 ELSE length(l) - length(replace(l, ':', '')) + 1 END
             - CASE WHEN r = '' THEN 0 ELSE length(r) - length(replace(r, ':', '')) + 1 END) - 1)
        || CASE WHEN r = '' THEN '' ELSE ':' END || r;
  END IF;
  groups := string_to_array(t, ':');
  IF array_length(groups, 1) <> 8 THEN RETURN ''; END IF;
  FOR i IN 1..8 LOOP
    key := key || right('0000' || groups[i], 4);
  END LOOP;
  RETURN key;
EXCEPTION WHEN others THEN
  RETURN '';
END
$$;

CREATE FUNCTION cloudmeta_instance_listing() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  j json := cloudmeta_doc_json(NEW.doc);
BEGIN
  NEW.hostname_key := '';
  NEW.instance_type := '';
  NEW.region := '';
  IF json_typeof(j) = 'object' THEN
    NEW.hostname_key := cloudmeta_fold(COALESCE(j ->> 'hostname', ''));
    NEW.instance_type := COALESCE(j ->> 'instance_type', '');
    NEW.region := COALESCE(j ->> 'region', '');
  END IF;
  NEW.ip_key := cloudmeta_ip_key(NEW.ip);
  RETURN NEW;
EXCEPTION WHEN others THEN  -- a member holding \u0000, which text cannot: no derived values
  NEW.ip_key := cloudmeta_ip_key(NEW.ip);
  RETURN NEW;
END
$$;

-- The tags of a document as rows; none when it is not JSON or its tags are not an object.
CREATE FUNCTION cloudmeta_doc_tags(doc TEXT)
  RETURNS TABLE (tag_key TEXT, tag_value TEXT) LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
  j json := cloudmeta_doc_json(doc);
BEGIN
  IF json_typeof(j) = 'object' AND json_typeof(j -> 'tags') = 'object' THEN
    RETURN QUERY SELECT t.key, t.value FROM json_each_text(j -> 'tags') AS t;
  END IF;
EXCEPTION WHEN others THEN
  RETURN;
END
$$;

CREATE FUNCTION cloudmeta_instance_tags() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    DELETE FROM instance_tags WHERE instance_id = OLD.instance_id;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    INSERT INTO instance_tags (instance_id, tag_key, tag_value, tag_value_key)
      SELECT NEW.instance_id, t.tag_key, t.tag_value, cloudmeta_fold(t.tag_value)
      FROM cloudmeta_doc_tags(NEW.doc) AS t;
  END IF;
  RETURN NULL;
END
$$;

-- Existing rows: the BEFORE trigger first, so one rewrite of the table derives every value; the
-- tags in one set-based pass; the indexes after, built once rather than row by row.
CREATE TRIGGER instances_listing BEFORE INSERT OR UPDATE OF instance_id, ip, doc ON instances
  FOR EACH ROW EXECUTE FUNCTION cloudmeta_instance_listing();
UPDATE instances SET doc = doc;
INSERT INTO instance_tags (instance_id, tag_key, tag_value, tag_value_key)
  SELECT i.instance_id, t.tag_key, t.tag_value, cloudmeta_fold(t.tag_value)
  FROM instances AS i, cloudmeta_doc_tags(i.doc) AS t;
CREATE TRIGGER instances_tags AFTER INSERT OR UPDATE OF instance_id, ip, doc OR DELETE
  ON instances FOR EACH ROW EXECUTE FUNCTION cloudmeta_instance_tags();

CREATE INDEX instances_by_hostname_key ON instances (hostname_key, instance_id);
CREATE INDEX instances_by_instance_type ON instances (instance_type, instance_id);
CREATE INDEX instances_by_region ON instances (region, instance_id);
CREATE INDEX instances_by_ip_key ON instances (ip_key, instance_id);
CREATE INDEX instances_by_created_at ON instances (created_at, instance_id);
CREATE INDEX instances_by_updated_at ON instances (updated_at, instance_id);
CREATE INDEX instance_tags_key_value ON instance_tags (tag_key, tag_value, instance_id);
CREATE INDEX instance_tags_value_key ON instance_tags (tag_value_key, instance_id);
-- The planner's statistics for the new columns and table, so that the first listings after the
-- migration pick the indexes (autovacuum would analyse them later).
ANALYZE instances;
ANALYZE instance_tags;
