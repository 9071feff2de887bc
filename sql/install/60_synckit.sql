
-- ============================================================================================
-- SyncKit documents (docs/protocols/synckit.md; the WebSocket endpoint at /ws): per-field
-- last-writer-wins on (timestamp, clientId), a per-document Lamport counter, tombstones.
-- A schema of its own: the engine's decoding skips schema electric_sync, and these tables are
-- decoded so that they can be read as Electric shapes (table=electric_sync_docs.fields).
-- Superuser only: nothing here is granted to PUBLIC.
-- ============================================================================================

CREATE SCHEMA electric_sync_docs;
REVOKE ALL ON SCHEMA electric_sync_docs FROM PUBLIC;
COMMENT ON SCHEMA electric_sync_docs IS
    'SyncKit documents of electric_sync: one row per document, one per field (last-writer-wins).';

CREATE TABLE electric_sync_docs.documents (
    id         text PRIMARY KEY CHECK (octet_length(id) BETWEEN 1 AND 256),
    counter    bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE electric_sync_docs.documents IS
    'One row per SyncKit document (documentId). Deleting a row deletes its fields.';
COMMENT ON COLUMN electric_sync_docs.documents.id IS 'The documentId, 1 to 256 bytes.';
COMMENT ON COLUMN electric_sync_docs.documents.counter IS
    'Lamport counter of the document: raised by every accepted write (WebSocket or SQL), sent to clients as clock {"electric_sync": counter}.';
COMMENT ON COLUMN electric_sync_docs.documents.updated_at IS 'Time of the last write to the document.';

-- client_id is COLLATE "C" so that the LWW tie-break is a byte comparison (the endpoint
-- refuses clientIds for which byte order and JavaScript's UTF-16 order differ).
CREATE TABLE electric_sync_docs.fields (
    document_id text NOT NULL REFERENCES electric_sync_docs.documents (id) ON DELETE CASCADE,
    field       text NOT NULL CHECK (octet_length(field) BETWEEN 1 AND 1024),
    value       jsonb,
    deleted     boolean NOT NULL DEFAULT false,
    ts          bigint NOT NULL DEFAULT 0,
    client_id   text COLLATE "C" NOT NULL DEFAULT '',
    counter     bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (document_id, field)
);
COMMENT ON TABLE electric_sync_docs.fields IS
    'The current value of each field of each document: the winner of last-writer-wins on (ts, client_id). Plain SQL writes are stamped by a trigger and sent to subscribed clients.';
COMMENT ON COLUMN electric_sync_docs.fields.value IS 'The field''s JSON value; NULL for a deleted field.';
COMMENT ON COLUMN electric_sync_docs.fields.deleted IS
    'A tombstone: the field was deleted (kept so that an older write cannot bring it back).';
COMMENT ON COLUMN electric_sync_docs.fields.ts IS 'LWW timestamp of the winning write, milliseconds since 1970.';
COMMENT ON COLUMN electric_sync_docs.fields.client_id IS
    'clientId of the winning write (''sql'' for SQL writes); the tie-break on equal ts, byte order.';
COMMENT ON COLUMN electric_sync_docs.fields.counter IS
    'Document counter at the last write to the field (a losing write re-stamps it): what clients order by.';
COMMENT ON COLUMN electric_sync_docs.fields.updated_at IS 'Time of the last write to the field.';

-- Documents are user data: pg_dump keeps them (unlike the derived shape state).
SELECT pg_catalog.pg_extension_config_dump('electric_sync_docs.documents', '');
SELECT pg_catalog.pg_extension_config_dump('electric_sync_docs.fields', '');

-- The WebSocket write path (the worker calls it with bound parameters, one call per delta).
-- One statement decides: the document's counter becomes greatest(counter, p_clock_max) + 1
-- (the row lock orders concurrent writers of a document), then the field keeps the greater
-- (ts, client_id) of the stored and the incoming write; a full tie takes the incoming one, so
-- a replay is idempotent. The field is re-stamped with the new counter even when the incoming
-- write loses: the winner, sent again, then beats whatever the losing client holds.
-- p_create: upsert a missing document; else a missing document gives no row.
-- won: the resulting field is the incoming write.
CREATE FUNCTION electric_sync._synckit_apply(p_doc text, p_field text, p_value jsonb, p_deleted boolean,
                                             p_ts bigint, p_client text, p_clock_max bigint, p_create boolean)
RETURNS TABLE (value jsonb, deleted boolean, ts bigint, client_id text, counter bigint, won boolean)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    -- Locks in the order a plain SQL UPDATE of the field takes them (the row, then in its
    -- BEFORE trigger the document), so that the two never deadlock.
    PERFORM 1 FROM electric_sync_docs.fields AS l WHERE l.document_id = p_doc AND l.field = p_field FOR UPDATE;
    RETURN QUERY
WITH created AS (
    INSERT INTO electric_sync_docs.documents AS d (id, counter)
    SELECT p_doc, greatest(coalesce(p_clock_max, 0), 0) + 1 WHERE p_create
    ON CONFLICT (id) DO UPDATE
       SET counter = greatest(d.counter, coalesce(p_clock_max, 0)) + 1, updated_at = now()
    RETURNING d.id, d.counter
), existing AS (
    UPDATE electric_sync_docs.documents AS d
       SET counter = greatest(d.counter, coalesce(p_clock_max, 0)) + 1, updated_at = now()
     WHERE d.id = p_doc AND p_create IS NOT TRUE
    RETURNING d.id, d.counter
), doc AS (
    SELECT id, counter FROM created UNION ALL SELECT id, counter FROM existing
), w AS (
    INSERT INTO electric_sync_docs.fields AS f (document_id, field, value, deleted, ts, client_id, counter)
    SELECT doc.id, p_field, CASE WHEN p_deleted THEN NULL ELSE p_value END, p_deleted, p_ts, p_client, doc.counter
      FROM doc
    ON CONFLICT (document_id, field) DO UPDATE SET
        value     = CASE WHEN (excluded.ts, excluded.client_id) >= (f.ts, f.client_id) THEN excluded.value ELSE f.value END,
        deleted   = CASE WHEN (excluded.ts, excluded.client_id) >= (f.ts, f.client_id) THEN excluded.deleted ELSE f.deleted END,
        ts        = CASE WHEN (excluded.ts, excluded.client_id) >= (f.ts, f.client_id) THEN excluded.ts ELSE f.ts END,
        client_id = CASE WHEN (excluded.ts, excluded.client_id) >= (f.ts, f.client_id) THEN excluded.client_id ELSE f.client_id END,
        counter   = excluded.counter,
        updated_at = now()
    RETURNING f.value, f.deleted, f.ts, f.client_id, f.counter
)
SELECT w.value, w.deleted, w.ts, w.client_id::text, w.counter,
       w.ts = p_ts AND w.client_id = p_client AND w.deleted = p_deleted
       AND w.value IS NOT DISTINCT FROM (CASE WHEN p_deleted THEN NULL ELSE p_value END)
  FROM w;
END
$$;

-- Milliseconds since 1970, now (the LWW timestamp of SQL writes, as JavaScript's Date.now()).
CREATE FUNCTION electric_sync._synckit_now_ms() RETURNS bigint
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint $$;

-- BEFORE INSERT OR UPDATE on fields. _synckit_apply writes carry a counter above the stored
-- one; any other write is a plain SQL write (an INSERT with the default counter 0, an UPDATE
-- that leaves counter as it was or lowers it): it gets the next counter of its document
-- (the upsert also creates a missing document before the foreign key is checked), a timestamp
-- after the field's last one, and client_id 'sql' unless the statement set a client_id itself.
-- SECURITY INVOKER: a role allowed to write fields also needs INSERT and UPDATE on documents.
CREATE FUNCTION electric_sync._synckit_stamp() RETURNS trigger
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c bigint;
BEGIN
    IF TG_OP = 'UPDATE' AND (NEW.document_id, NEW.field) IS DISTINCT FROM (OLD.document_id, OLD.field) THEN
        -- clients know a field by its key: a moved field would stay at its old key for them
        RAISE EXCEPTION 'the document_id and field of a SyncKit field cannot change'
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Delete the field and insert it under the new key.';
    END IF;
    IF (TG_OP = 'INSERT' AND NEW.counter = 0) OR (TG_OP = 'UPDATE' AND NEW.counter <= OLD.counter) THEN
        INSERT INTO electric_sync_docs.documents AS d (id, counter) VALUES (NEW.document_id, 1)
        ON CONFLICT (id) DO UPDATE SET counter = d.counter + 1, updated_at = now()
        RETURNING d.counter INTO c;
        NEW.counter := c;
        IF TG_OP = 'INSERT' THEN
            NEW.ts := electric_sync._synckit_now_ms();
            IF NEW.client_id = '' THEN
                NEW.client_id := 'sql';
            END IF;
        ELSE
            NEW.ts := greatest(electric_sync._synckit_now_ms(), OLD.ts + 1);
            IF NEW.client_id = OLD.client_id THEN
                NEW.client_id := 'sql';
            END IF;
        END IF;
    END IF;
    IF NEW.deleted THEN
        NEW.value := NULL;
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

-- The notification payload of a field write (channel electric_sync_synckit): compact JSON
-- {"d": document, "f": field, "c": counter, "k": client_id, "t": ts, "x": deleted, "v": value}.
-- NOTIFY payloads stop at 8000 bytes: over 7900, "v" is left out and "big": true added (the
-- worker then reads the row). d and f alone always fit: 1280 bytes at most, 7680 escaped.
CREATE FUNCTION electric_sync._synckit_payload(p_doc text, p_field text, p_counter bigint, p_client text,
                                               p_ts bigint, p_deleted boolean, p_value jsonb)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    head text := '{"d":' || to_json(p_doc)::text || ',"f":' || to_json(p_field)::text
                 || ',"c":' || p_counter::text;
    tail text := ',"k":' || to_json(p_client)::text || ',"t":' || p_ts::text
                 || ',"x":' || CASE WHEN p_deleted THEN 'true' ELSE 'false' END;
    v text := coalesce(p_value::text, 'null');
BEGIN
    IF octet_length(head) + octet_length(tail) + octet_length(v) + 6 <= 7900 THEN
        RETURN head || tail || ',"v":' || v || '}';
    ELSIF octet_length(head) + octet_length(tail) + 12 <= 7900 THEN
        RETURN head || tail || ',"big":true}';
    END IF;
    RETURN head || ',"big":true}';   -- an over-long client_id: the row has it
END
$$;

-- AFTER INSERT OR UPDATE OR DELETE on fields: every change made outside the worker reaches it,
-- and it sends it to the document's subscribers (delivered at commit, in write order). A deleted row (a SQL
-- DELETE, or the cascade of a document's delete) goes out as a delete with a new counter: the
-- document's next one, or, when the document itself is gone, one above the field's.
CREATE FUNCTION electric_sync._synckit_notify() RETURNS trigger
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c bigint;
    p text;
    o text := current_setting('electric_sync.synckit_origin', true);
BEGIN
    IF TG_OP = 'DELETE' THEN
        UPDATE electric_sync_docs.documents AS d SET counter = d.counter + 1, updated_at = now()
         WHERE d.id = OLD.document_id
        RETURNING d.counter INTO c;
        IF NOT FOUND THEN
            c := OLD.counter + 1;
        END IF;
        PERFORM pg_notify('electric_sync_synckit',
            '{"d":' || to_json(OLD.document_id)::text || ',"f":' || to_json(OLD.field)::text
            || ',"x":true,"k":"sql","t":' || greatest(electric_sync._synckit_now_ms(), OLD.ts + 1)::text
            || ',"c":' || c::text || '}');
        RETURN OLD;
    END IF;
    -- A write of the worker itself (a WebSocket delta: electric_sync.synckit_origin is set for
    -- its transaction) is sent to the subscribers by the worker after its commit. No NOTIFY:
    -- a notifying transaction holds a cluster-wide lock through its commit, which would make
    -- every delta wait for the one before it.
    IF o IS NOT NULL AND o <> '' THEN
        RETURN NEW;
    END IF;
    p := electric_sync._synckit_payload(NEW.document_id, NEW.field, NEW.counter, NEW.client_id, NEW.ts,
                                        NEW.deleted, NEW.value);
    PERFORM pg_notify('electric_sync_synckit', p);
    RETURN NEW;
END
$$;

CREATE TRIGGER synckit_stamp BEFORE INSERT OR UPDATE ON electric_sync_docs.fields
    FOR EACH ROW EXECUTE FUNCTION electric_sync._synckit_stamp();
CREATE TRIGGER synckit_notify AFTER INSERT OR UPDATE OR DELETE ON electric_sync_docs.fields
    FOR EACH ROW EXECUTE FUNCTION electric_sync._synckit_notify();

-- ---- SQL API (docs/protocols/synckit.md) ------------------------------------------------------
-- Superuser only, SECURITY DEFINER like the devices API: a superuser may let an application role
-- call them with GRANT EXECUTE, without granting it the tables.

-- Raises a clear error for a NULL, empty or over-long document id or field name (NULL field:
-- only checked when p_check_field).
CREATE FUNCTION electric_sync._synckit_check(p_id text, p_field text DEFAULT NULL, p_check_field boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF p_id IS NULL THEN
        RAISE EXCEPTION 'document id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF octet_length(p_id) NOT BETWEEN 1 AND 256 THEN
        RAISE EXCEPTION 'document id must be 1 to 256 bytes long (it is % bytes)', octet_length(p_id)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'A SyncKit documentId is a non-empty string of at most 256 bytes in UTF-8.';
    END IF;
    IF p_check_field THEN
        IF p_field IS NULL THEN
            RAISE EXCEPTION 'field name must not be NULL' USING ERRCODE = 'null_value_not_allowed';
        END IF;
        IF octet_length(p_field) NOT BETWEEN 1 AND 1024 THEN
            RAISE EXCEPTION 'field name must be 1 to 1024 bytes long (it is % bytes)', octet_length(p_field)
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'A SyncKit field name is a non-empty string of at most 1024 bytes in UTF-8.';
        END IF;
    END IF;
END
$$;

CREATE FUNCTION electric_sync.document_create(id text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM electric_sync._synckit_check(id);
    INSERT INTO electric_sync_docs.documents (id) VALUES (document_create.id) ON CONFLICT DO NOTHING;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION electric_sync.document_create(text) IS
    'Creates an empty SyncKit document. True if it was created, false if it existed.';

CREATE FUNCTION electric_sync.document_get(id text) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r jsonb;
BEGIN
    PERFORM electric_sync._synckit_check(id);
    SELECT coalesce((SELECT jsonb_object_agg(f.field, f.value)
                       FROM electric_sync_docs.fields f
                      WHERE f.document_id = d.id AND NOT f.deleted), '{}')
      INTO r
      FROM electric_sync_docs.documents d WHERE d.id = document_get.id;
    RETURN r;
END
$$;
COMMENT ON FUNCTION electric_sync.document_get(text) IS
    'The live (not deleted) fields of a SyncKit document as a JSON object; {} if it has none, NULL if the document does not exist.';

CREATE FUNCTION electric_sync.document_set(id text, field text, value jsonb) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c bigint;
BEGIN
    PERFORM electric_sync._synckit_check(id, field, true);
    IF value IS NULL THEN
        RAISE EXCEPTION 'value must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Use ''null''::jsonb for a JSON null; document_delete_field deletes a field.';
    END IF;
    -- Plain writes, stamped by the trigger. Not INSERT ... ON CONFLICT: its insert trigger
    -- would stamp a counter, and the update's a second one.
    UPDATE electric_sync_docs.fields f SET value = document_set.value, deleted = false
     WHERE f.document_id = document_set.id AND f.field = document_set.field
    RETURNING f.counter INTO c;
    IF NOT FOUND THEN
        BEGIN
            INSERT INTO electric_sync_docs.fields (document_id, field, value)
            VALUES (document_set.id, document_set.field, document_set.value)
            RETURNING counter INTO c;
        EXCEPTION WHEN unique_violation THEN
            -- inserted meanwhile by another transaction
            UPDATE electric_sync_docs.fields f SET value = document_set.value, deleted = false
             WHERE f.document_id = document_set.id AND f.field = document_set.field
            RETURNING f.counter INTO c;
        END;
    END IF;
    RETURN c;
END
$$;
COMMENT ON FUNCTION electric_sync.document_set(text, text, jsonb) IS
    'Sets a field of a SyncKit document (created if missing) as a SQL write (client_id ''sql''), sent to subscribed clients. Returns the field''s new counter.';

CREATE FUNCTION electric_sync.document_delete_field(id text, field text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM electric_sync._synckit_check(id, field, true);
    UPDATE electric_sync_docs.fields f SET deleted = true, value = NULL
     WHERE f.document_id = document_delete_field.id AND f.field = document_delete_field.field AND NOT f.deleted;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION electric_sync.document_delete_field(text, text) IS
    'Deletes a field of a SyncKit document (a tombstone, sent to subscribed clients). False if there is no such field or it is already deleted.';

CREATE FUNCTION electric_sync.document_delete(id text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM electric_sync._synckit_check(id);
    DELETE FROM electric_sync_docs.documents d WHERE d.id = document_delete.id;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION electric_sync.document_delete(text) IS
    'Deletes a SyncKit document and its fields (each sent to subscribed clients as a delete). False if it did not exist.';

-- One row per SyncKit document: how many live fields it has, its counter and times.
CREATE VIEW electric_sync.documents AS
SELECT d.id,
       (SELECT count(*) FROM electric_sync_docs.fields f WHERE f.document_id = d.id AND NOT f.deleted) AS fields,
       d.counter,
       d.created_at,
       d.updated_at
  FROM electric_sync_docs.documents d;
COMMENT ON VIEW electric_sync.documents IS
    'SyncKit documents: id, number of live fields, Lamport counter, creation and last write times.';

REVOKE ALL ON TABLE electric_sync_docs.documents, electric_sync_docs.fields, electric_sync.documents FROM PUBLIC;
REVOKE ALL ON FUNCTION
    electric_sync._synckit_apply(text, text, jsonb, boolean, bigint, text, bigint, boolean),
    electric_sync._synckit_now_ms(),
    electric_sync._synckit_stamp(),
    electric_sync._synckit_payload(text, text, bigint, text, bigint, boolean, jsonb),
    electric_sync._synckit_notify(),
    electric_sync._synckit_check(text, text, boolean),
    electric_sync.document_create(text),
    electric_sync.document_get(text),
    electric_sync.document_set(text, text, jsonb),
    electric_sync.document_delete_field(text, text),
    electric_sync.document_delete(text)
FROM PUBLIC;
