-- DHCP guests (docs/hypervisor.md, "DHCP guests"): a record may carry a `mac` and no `ip`; the
-- server learns its address from the kernel's neighbour table when it first calls. Same
-- columns and meaning as schema/sqlite/0005_dhcp_guests.sql.
--
-- The migrator refuses to apply this file while two rows share a MAC (it names them), since the
-- unique index below could not be built; the operator decides which record keeps it.

-- NULL: no address yet (UNIQUE allows any number of NULLs).
ALTER TABLE instances ALTER COLUMN ip DROP NOT NULL;

-- The listing's address key of a row without an address is '', as for an address that does not
-- parse (cloudmeta_ip_key is STRICT: NULL in, NULL out).
CREATE OR REPLACE FUNCTION cloudmeta_instance_listing() RETURNS trigger LANGUAGE plpgsql AS $$
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
  NEW.ip_key := COALESCE(cloudmeta_ip_key(NEW.ip), '');
  RETURN NEW;
EXCEPTION WHEN others THEN  -- a member holding \u0000, which text cannot: no derived values
  NEW.ip_key := COALESCE(cloudmeta_ip_key(NEW.ip), '');
  RETURN NEW;
END
$$;

-- The document's `mac`, lower-cased; NULL when it has none (or is not JSON).
CREATE FUNCTION cloudmeta_doc_mac(doc TEXT) RETURNS TEXT LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
  j json := cloudmeta_doc_json(doc);
BEGIN
  IF json_typeof(j) = 'object' THEN
    RETURN NULLIF(cloudmeta_fold(COALESCE(j ->> 'mac', '')), '');
  END IF;
  RETURN NULL;
EXCEPTION WHEN others THEN
  RETURN NULL;
END
$$;

-- Whether the row's address was learned by the server (ip_learned), not set by an operator: only
-- a learned address may move when the guest calls from another one.
CREATE FUNCTION cloudmeta_doc_ip_learned(doc TEXT) RETURNS BOOLEAN LANGUAGE plpgsql IMMUTABLE
  STRICT AS $$
DECLARE
  j json := cloudmeta_doc_json(doc);
BEGIN
  RETURN json_typeof(j) = 'object' AND json_typeof(j -> 'ip_learned') = 'boolean'
         AND (j ->> 'ip_learned') = 'true';
EXCEPTION WHEN others THEN
  RETURN FALSE;
END
$$;

-- Derived from the document by every writer (generated columns), as 0004's listing values are.
ALTER TABLE instances
  ADD COLUMN mac_key TEXT COLLATE "C" GENERATED ALWAYS AS (cloudmeta_doc_mac(doc)) STORED,
  ADD COLUMN ip_learned BOOLEAN GENERATED ALWAYS AS
    (COALESCE(cloudmeta_doc_ip_learned(doc), FALSE)) STORED;

-- Two records with one MAC: the second write is a conflict (the admin API's 409).
CREATE UNIQUE INDEX instances_mac_key ON instances (mac_key) WHERE mac_key IS NOT NULL;

-- Adding the generated columns rewrote the table, which resets the planner's statistics: taken
-- again, as 0004 does, so that the first listings after the migration pick the indexes.
ANALYZE instances;
