-- oversync write path (docs/oversync.md): runtime tables and table registration.
-- Everything lives in schema electric_sync with the prefix os_. Nothing here is granted to
-- PUBLIC: applications reach it through the HTTP routes, the registered tables' triggers
-- (SECURITY DEFINER) and the superuser-only SQL API.

-- Limits, TTLs and retention are the electric_sync.oversync_* settings (src/extension/guc_oversync.cpp,
-- docs/configuration.md), read per call with current_setting(): a reload applies to the next
-- request. (0.2.0 kept the retention pair in a table, electric_sync.os_settings; 0.3.0 drops it.)
CREATE FUNCTION electric_sync.os_setting(name text) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT current_setting('electric_sync.oversync_' || name)::bigint
$$;
-- A TTL setting (unit: seconds; current_setting shows it as e.g. '15min') as an interval.
CREATE FUNCTION electric_sync.os_ttl(name text) RETURNS interval LANGUAGE sql STABLE AS $$
    SELECT current_setting('electric_sync.oversync_' || name)::interval
$$;

-- Registered tables. table_id is stable for the life of a registration and never reused
-- (deviation: Go numbers tables 1..N by name and demands a rebuild when the set changes).
CREATE TABLE electric_sync.os_tables (
    table_id      serial PRIMARY KEY,
    relid         oid NOT NULL UNIQUE,
    schema_name   text NOT NULL,
    table_name    text NOT NULL,
    key_column    text NOT NULL,
    key_kind      text NOT NULL CHECK (key_kind IN ('uuid', 'text')),
    bytea_columns text[] NOT NULL DEFAULT '{}',
    registered_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (schema_name, table_name)
);

CREATE TABLE electric_sync.os_user_state (
    user_id         text PRIMARY KEY,
    next_bundle_seq bigint NOT NULL DEFAULT 1,
    retained_floor  bigint NOT NULL DEFAULT 0,
    CHECK (retained_floor >= 0 AND retained_floor <= next_bundle_seq - 1)
);

-- state: 0 UNINITIALIZED, 1 INITIALIZING, 2 INITIALIZED
CREATE TABLE electric_sync.os_scope_state (
    user_id                 text PRIMARY KEY,
    state                   smallint NOT NULL DEFAULT 0 CHECK (state IN (0, 1, 2)),
    initialization_id       uuid,
    initializer_source_id   text,
    lease_expires_at        timestamptz,
    initialized_by_source_id text,
    initialized_at          timestamptz,
    updated_at              timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE electric_sync.os_source_state (
    user_id                        text NOT NULL,
    source_id                      text NOT NULL,
    state                          text NOT NULL DEFAULT 'active'
                                   CHECK (state IN ('active', 'reserved', 'retired')),
    max_committed_source_bundle_id bigint NOT NULL DEFAULT 0,
    replaced_by_source_id          text,
    retirement_reason              text,
    updated_at                     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, source_id)
);

-- Authoritative row version (= bundle_seq of the last bundle that touched the row) and
-- tombstones, kept forever.
CREATE TABLE electric_sync.os_row_state (
    user_id    text NOT NULL,
    table_id   int NOT NULL,
    key_text   text NOT NULL,
    bundle_seq bigint NOT NULL,
    deleted    boolean NOT NULL,
    PRIMARY KEY (user_id, table_id, key_text)
);

-- Per-transaction capture buffer (rows live only inside the writing transaction).
CREATE UNLOGGED TABLE electric_sync.os_capture (
    ord      bigserial PRIMARY KEY,
    txid     bigint NOT NULL,
    user_id  text NOT NULL,
    table_id int NOT NULL,
    op       smallint NOT NULL,   -- 1 INSERT, 2 UPDATE, 3 DELETE
    key_text text NOT NULL,
    payload  jsonb
);
CREATE INDEX os_capture_txid ON electric_sync.os_capture (txid, user_id, ord);
-- One row per capturing transaction; its deferred constraint trigger finalizes the bundles.
CREATE UNLOGGED TABLE electric_sync.os_capture_marker (txid bigint PRIMARY KEY);

CREATE TABLE electric_sync.os_bundle_log (
    user_id          text NOT NULL,
    bundle_seq       bigint NOT NULL,
    source_id        text NOT NULL,
    source_bundle_id bigint NOT NULL,
    row_count        int NOT NULL,
    byte_count       bigint NOT NULL,
    bundle_hash      text NOT NULL,
    committed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, bundle_seq),
    UNIQUE (user_id, source_id, source_bundle_id)
);

-- Committed rows in wire form: key_json and payload are canonical JSON text.
CREATE TABLE electric_sync.os_bundle_rows (
    user_id     text NOT NULL,
    bundle_seq  bigint NOT NULL,
    row_ordinal int NOT NULL,           -- 0-based
    schema_name text NOT NULL,
    table_name  text NOT NULL,
    key_json    text NOT NULL,
    op          text NOT NULL,
    payload     text,
    PRIMARY KEY (user_id, bundle_seq, row_ordinal),
    FOREIGN KEY (user_id, bundle_seq) REFERENCES electric_sync.os_bundle_log ON DELETE CASCADE
);

CREATE TABLE electric_sync.os_push_sessions (
    push_id                   uuid PRIMARY KEY,
    user_id                   text NOT NULL,
    source_id                 text NOT NULL,
    source_bundle_id          bigint NOT NULL,
    planned_row_count         int NOT NULL,
    next_expected_row_ordinal int NOT NULL DEFAULT 0,
    initialization_id         uuid,
    created_at                timestamptz NOT NULL DEFAULT now(),
    expires_at                timestamptz NOT NULL
);
CREATE INDEX os_push_sessions_tuple ON electric_sync.os_push_sessions (user_id, source_id, source_bundle_id);
CREATE INDEX os_push_sessions_expiry ON electric_sync.os_push_sessions (expires_at);

CREATE TABLE electric_sync.os_push_rows (
    push_id          uuid NOT NULL REFERENCES electric_sync.os_push_sessions ON DELETE CASCADE,
    row_ordinal      int NOT NULL,
    table_id         int NOT NULL,
    key_text         text NOT NULL,
    op               text NOT NULL,
    base_row_version bigint NOT NULL,
    payload          jsonb,
    PRIMARY KEY (push_id, row_ordinal)
);

CREATE TABLE electric_sync.os_snapshot_sessions (
    snapshot_id         uuid PRIMARY KEY,
    user_id             text NOT NULL,
    snapshot_bundle_seq bigint NOT NULL,
    row_count           bigint NOT NULL,
    byte_count          bigint NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    expires_at          timestamptz NOT NULL
);
CREATE INDEX os_snapshot_sessions_expiry ON electric_sync.os_snapshot_sessions (expires_at);

CREATE TABLE electric_sync.os_snapshot_rows (
    snapshot_id uuid NOT NULL REFERENCES electric_sync.os_snapshot_sessions ON DELETE CASCADE,
    row_ordinal bigint NOT NULL,        -- 1-based
    schema_name text NOT NULL,
    table_name  text NOT NULL,
    key_json    text NOT NULL,
    row_version bigint NOT NULL,
    payload     text NOT NULL,
    PRIMARY KEY (snapshot_id, row_ordinal)
);

CREATE SEQUENCE electric_sync.os_history_pruned_error_seq;
CREATE SEQUENCE electric_sync.os_accepted_push_replay_seq;
CREATE SEQUENCE electric_sync.os_rejected_registered_write_seq;

-- Go-compatible canonical JSON (src/extension/bundle_canonical.cpp).
CREATE FUNCTION electric_sync.os_canonical_json(jsonb) RETURNS text
    AS 'MODULE_PATHNAME', 'es_os_canonical_json' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Contract error: SQLSTATE OSERR, DETAIL = the contract's error code (push_conflict,
-- history_pruned, ...), HINT = extra JSON members of the error body. The HTTP status of each
-- code is the routes' business (src/core/oversync/errors.cpp), not SQL's.
CREATE FUNCTION electric_sync.os_raise(code text, msg text, extra jsonb DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF extra IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'OSERR', MESSAGE = msg, DETAIL = code;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'OSERR', MESSAGE = msg, DETAIL = code, HINT = extra::text;
END $$;

CREATE FUNCTION electric_sync.os_ts(t timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') $$;

-- ---------------------------------------------------------------------------------------------
-- Registration
-- ---------------------------------------------------------------------------------------------

-- Checks one table against the registered-table envelope (protocol §5.1). `peers` are the
-- tables registered together with it (for FK closure). Returns (key column, key kind).
CREATE FUNCTION electric_sync.os_check_table(tbl regclass, key_col text, peers oid[],
                                             OUT o_key text, OUT o_kind text, OUT o_bytea text[])
LANGUAGE plpgsql AS $$
DECLARE
    nsp text; rel text; kind char; persistence char;
    scope_type text; r record; pk_cols text[]; found_scope_key boolean := false;
    key_attnum int2; scope_attnum int2; fqn text;
BEGIN
    SELECT n.nspname, c.relname, c.relkind, c.relpersistence INTO nsp, rel, kind, persistence
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = tbl;
    fqn := format('%I.%I', nsp, rel);
    IF kind <> 'r' THEN
        RAISE EXCEPTION 'oversync: % is not an ordinary table', fqn
            USING ERRCODE = 'wrong_object_type', HINT = 'Register plain (non-partitioned) tables.';
    END IF;
    IF persistence = 't' THEN
        RAISE EXCEPTION 'oversync: % is a temporary table', fqn USING ERRCODE = 'wrong_object_type';
    END IF;
    IF nsp !~ '^[a-z0-9_]+$' OR rel !~ '^[a-z0-9_]+$' THEN
        RAISE EXCEPTION 'oversync: table name % is not a lowercase identifier', fqn
            USING ERRCODE = 'invalid_name', HINT = 'Schema and table names must match ^[a-z0-9_]+$ (they travel on the wire).';
    END IF;
    IF nsp IN ('electric_sync', 'pg_catalog', 'information_schema') THEN
        RAISE EXCEPTION 'oversync: tables in schema % cannot be registered', nsp USING ERRCODE = 'invalid_schema_name';
    END IF;
    FOR r IN SELECT attname FROM pg_attribute WHERE attrelid = tbl AND attnum > 0 AND NOT attisdropped
               AND attname !~ '^[a-z0-9_]+$' LOOP
        RAISE EXCEPTION 'oversync: column %.% is not a lowercase identifier', fqn, r.attname
            USING ERRCODE = 'invalid_name', HINT = 'Column names must match ^[a-z0-9_]+$ (payload keys on the wire).';
    END LOOP;
    SELECT format_type(atttypid, atttypmod), attnum INTO scope_type, scope_attnum FROM pg_attribute
     WHERE attrelid = tbl AND attname = '_sync_scope_id' AND NOT attisdropped;
    IF scope_type IS NULL THEN
        RAISE EXCEPTION 'oversync: % has no _sync_scope_id column', fqn
            USING ERRCODE = 'invalid_table_definition',
                  HINT = format('ALTER TABLE %s ADD COLUMN _sync_scope_id text NOT NULL, and make the primary key (_sync_scope_id, <key>).', fqn);
    ELSIF scope_type <> 'text' THEN
        RAISE EXCEPTION 'oversync: %._sync_scope_id has type %, expected text', fqn, scope_type
            USING ERRCODE = 'invalid_table_definition';
    END IF;
    -- The sync key: given, or the primary key's column other than _sync_scope_id.
    IF key_col IS NULL THEN
        SELECT array_agg(a.attname::text ORDER BY k.ord) INTO pk_cols
          FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
         WHERE i.indrelid = tbl AND i.indisprimary;
        pk_cols := array_remove(pk_cols, '_sync_scope_id');
        IF pk_cols IS NULL OR cardinality(pk_cols) <> 1 THEN
            RAISE EXCEPTION 'oversync: cannot infer the sync key column of %', fqn
                USING ERRCODE = 'invalid_table_definition',
                      HINT = 'Give it explicitly (sync_key_column), or use PRIMARY KEY (_sync_scope_id, <key>) with one uuid or text key column.';
        END IF;
        key_col := pk_cols[1];
    END IF;
    IF key_col = '_sync_scope_id' THEN
        RAISE EXCEPTION 'oversync: _sync_scope_id cannot be the sync key of %', fqn USING ERRCODE = 'invalid_table_definition';
    END IF;
    SELECT format_type(atttypid, NULL), attnum INTO o_kind, key_attnum FROM pg_attribute
     WHERE attrelid = tbl AND attname = key_col AND NOT attisdropped AND attnum > 0;
    IF o_kind IS NULL THEN
        RAISE EXCEPTION 'oversync: % has no column %', fqn, key_col USING ERRCODE = 'undefined_column';
    ELSIF o_kind NOT IN ('uuid', 'text') THEN
        RAISE EXCEPTION 'oversync: sync key %.% has type %, expected uuid or text', fqn, key_col, o_kind
            USING ERRCODE = 'invalid_table_definition', HINT = 'Use a uuid or text key column (e.g. id uuid).';
    END IF;
    o_key := key_col;
    -- Unique indexes: all start with _sync_scope_id, none partial or on expressions, and one is
    -- exactly (_sync_scope_id, key).
    FOR r IN SELECT i.indexrelid::regclass AS idx, i.indkey::int2[] AS cols, i.indpred IS NOT NULL AS partial,
                    i.indexprs IS NOT NULL AS exprs
               FROM pg_index i WHERE i.indrelid = tbl AND i.indisunique LOOP
        IF r.partial OR r.exprs THEN
            RAISE EXCEPTION 'oversync: unique index % on % is partial or on expressions', r.idx, fqn
                USING ERRCODE = 'invalid_table_definition', HINT = 'Only plain unique indexes that start with _sync_scope_id are supported.';
        END IF;
        IF r.cols[0] <> scope_attnum THEN
            RAISE EXCEPTION 'oversync: unique index % on % does not start with _sync_scope_id', r.idx, fqn
                USING ERRCODE = 'invalid_table_definition',
                      HINT = 'Every unique constraint must be scoped per user: (_sync_scope_id, ...).';
        END IF;
        IF cardinality(r.cols) = 2 AND r.cols[1] = key_attnum THEN found_scope_key := true; END IF;
    END LOOP;
    IF NOT found_scope_key THEN
        RAISE EXCEPTION 'oversync: % has no unique constraint on (_sync_scope_id, %)', fqn, key_col
            USING ERRCODE = 'invalid_table_definition',
                  HINT = format('ALTER TABLE %s ADD PRIMARY KEY (_sync_scope_id, %I).', fqn, key_col);
    END IF;
    -- Outgoing foreign keys: to registered tables only, scope-inclusive, deferrable.
    FOR r IN SELECT con.conname, con.confrelid, con.conkey, con.confkey, con.condeferrable,
                    con.confmatchtype, con.confupdtype, con.confdeltype
               FROM pg_constraint con WHERE con.conrelid = tbl AND con.contype = 'f' LOOP
        IF NOT (r.confrelid = tbl OR r.confrelid = ANY (peers)
                OR EXISTS (SELECT 1 FROM electric_sync.os_tables t WHERE t.relid = r.confrelid)) THEN
            RAISE EXCEPTION 'oversync: foreign key % of % references unregistered table %', r.conname, fqn, r.confrelid::regclass
                USING ERRCODE = 'invalid_foreign_key',
                      HINT = 'The registered set must be FK-closed: register the parent first, or register both together with oversync_register_tables(ARRAY[...]).';
        END IF;
        IF cardinality(r.conkey) <> 2 OR r.conkey[1] <> scope_attnum OR
           (SELECT attname FROM pg_attribute WHERE attrelid = r.confrelid AND attnum = r.confkey[1]) <> '_sync_scope_id' THEN
            RAISE EXCEPTION 'oversync: foreign key % of % is not scope-inclusive', r.conname, fqn
                USING ERRCODE = 'invalid_foreign_key',
                      HINT = 'Use FOREIGN KEY (_sync_scope_id, col) REFERENCES parent (_sync_scope_id, key) DEFERRABLE INITIALLY DEFERRED.';
        END IF;
        IF NOT r.condeferrable THEN
            RAISE EXCEPTION 'oversync: foreign key % of % is not deferrable', r.conname, fqn
                USING ERRCODE = 'invalid_foreign_key',
                      HINT = format('ALTER TABLE %s ALTER CONSTRAINT %I DEFERRABLE INITIALLY DEFERRED;', fqn, r.conname);
        END IF;
        IF r.confmatchtype = 'f' THEN
            RAISE EXCEPTION 'oversync: foreign key % of % uses MATCH FULL', r.conname, fqn
                USING ERRCODE = 'invalid_foreign_key', HINT = 'Use MATCH SIMPLE (the default).';
        END IF;
    END LOOP;
    SELECT coalesce(array_agg(attname::text ORDER BY attnum), '{}') INTO o_bytea FROM pg_attribute
     WHERE attrelid = tbl AND attnum > 0 AND NOT attisdropped AND atttypid = 'bytea'::regtype;
END $$;

CREATE FUNCTION electric_sync.os_install_triggers(tbl regclass, tid int, key_col text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TRIGGER oversync_bundle_owner_guard BEFORE INSERT OR UPDATE OR DELETE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION electric_sync.os_guard_trigger(%s)', tbl, tid);
    EXECUTE format('CREATE TRIGGER oversync_bundle_capture_row AFTER INSERT OR UPDATE OR DELETE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION electric_sync.os_capture_trigger(%s, %L)', tbl, tid, key_col);
    EXECUTE format('CREATE TRIGGER oversync_no_truncate BEFORE TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION electric_sync.os_truncate_trigger()', tbl);
END $$;

-- Registers tables together (use this for FK cycles). Existing rows become one bundle per
-- user (captured as INSERTs) in this transaction, and those scopes become INITIALIZED.
CREATE FUNCTION electric_sync.oversync_register_tables(tables regclass[], sync_key_columns text[] DEFAULT NULL)
RETURNS SETOF electric_sync.os_tables LANGUAGE plpgsql AS $$
DECLARE
    i int; chk record; tid int; peers oid[] := tables::oid[]; rel regclass;
BEGIN
    IF tables IS NULL OR cardinality(tables) = 0 THEN
        RAISE EXCEPTION 'oversync: no tables given' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF sync_key_columns IS NOT NULL AND cardinality(sync_key_columns) <> cardinality(tables) THEN
        RAISE EXCEPTION 'oversync: sync_key_columns must have one entry per table' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('electric_sync.oversync_registry', 0));
    FOR i IN 1 .. cardinality(tables) LOOP
        rel := tables[i];
        IF EXISTS (SELECT 1 FROM electric_sync.os_tables WHERE relid = rel) THEN
            RAISE EXCEPTION 'oversync: % is already registered', rel USING ERRCODE = 'duplicate_object',
                HINT = 'Call oversync_unregister_table first to change its sync key.';
        END IF;
        chk := electric_sync.os_check_table(rel, sync_key_columns[i], peers);
        INSERT INTO electric_sync.os_tables (relid, schema_name, table_name, key_column, key_kind, bytea_columns)
        SELECT rel, n.nspname, c.relname, chk.o_key, chk.o_kind, chk.o_bytea
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = rel
        RETURNING table_id INTO tid;
        PERFORM electric_sync.os_install_triggers(rel, tid, chk.o_key);
    END LOOP;
    -- Backfill: existing rows enter the sync history (row_state) as INSERT bundles.
    FOR i IN 1 .. cardinality(tables) LOOP
        EXECUTE format('UPDATE %s SET _sync_scope_id = _sync_scope_id', tables[i]);
    END LOOP;
    RETURN QUERY SELECT * FROM electric_sync.os_tables WHERE relid = ANY (peers) ORDER BY table_id;
END $$;

CREATE FUNCTION electric_sync.oversync_register_table(tbl regclass, sync_key_column text DEFAULT NULL)
RETURNS electric_sync.os_tables LANGUAGE sql AS $$
    SELECT * FROM electric_sync.oversync_register_tables(ARRAY[tbl],
        CASE WHEN sync_key_column IS NULL THEN NULL ELSE ARRAY[sync_key_column] END);
$$;

-- Unregisters tables (together, for FK cycles): drops their triggers and row versions.
-- Committed history is kept. The remaining set must stay FK-closed.
CREATE FUNCTION electric_sync.oversync_unregister_tables(tables regclass[]) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE rel regclass; child text; n int := 0; ids oid[] := tables::oid[];
BEGIN
    IF tables IS NULL OR cardinality(tables) = 0 THEN RETURN 0; END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('electric_sync.oversync_registry', 0));
    FOREACH rel IN ARRAY tables LOOP
        IF NOT EXISTS (SELECT 1 FROM electric_sync.os_tables WHERE relid = rel) THEN
            RAISE EXCEPTION 'oversync: % is not registered', rel USING ERRCODE = 'undefined_object';
        END IF;
        SELECT string_agg(DISTINCT con.conrelid::regclass::text, ', ') INTO child FROM pg_constraint con
          JOIN electric_sync.os_tables o ON o.relid = con.conrelid
         WHERE con.contype = 'f' AND con.confrelid = rel AND NOT (con.conrelid = ANY (ids));
        IF child IS NOT NULL THEN
            RAISE EXCEPTION 'oversync: registered table(s) % reference %', child, rel
                USING ERRCODE = 'dependent_objects_still_exist',
                      HINT = 'Unregister the referencing tables first, or together with oversync_unregister_tables(ARRAY[...]) (the set must stay FK-closed).';
        END IF;
    END LOOP;
    FOREACH rel IN ARRAY tables LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS oversync_bundle_owner_guard ON %s', rel);
        EXECUTE format('DROP TRIGGER IF EXISTS oversync_bundle_capture_row ON %s', rel);
        EXECUTE format('DROP TRIGGER IF EXISTS oversync_no_truncate ON %s', rel);
        DELETE FROM electric_sync.os_row_state WHERE table_id = (SELECT table_id FROM electric_sync.os_tables WHERE relid = rel);
        DELETE FROM electric_sync.os_tables WHERE relid = rel;
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

CREATE FUNCTION electric_sync.oversync_unregister_table(tbl regclass) RETURNS boolean LANGUAGE sql AS $$
    SELECT electric_sync.oversync_unregister_tables(ARRAY[tbl]) = 1;
$$;

-- FK order of the registered tables: parents first; strongly connected components (cycles)
-- share a cycle_group; ties broken by name (protocol §6.7). Self-references are ignored.
CREATE FUNCTION electric_sync.oversync_table_order()
RETURNS TABLE (ord int, schema_name text, table_name text, cycle_group int)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    names text[]; comp int[]; n int; i int; j int; reach boolean[]; changed boolean;
    edges int[][]; done boolean[]; pos int := 0; best int; cg int := 0; cycles int[];
BEGIN
    SELECT array_agg(t.schema_name || '.' || t.table_name ORDER BY t.schema_name || '.' || t.table_name)
      INTO names FROM electric_sync.os_tables t;
    n := coalesce(cardinality(names), 0);
    IF n = 0 THEN RETURN; END IF;
    -- reach[i*n+j]: i depends (transitively) on j
    reach := array_fill(false, ARRAY[n * n]);
    FOR i, j IN SELECT array_position(names, c.schema_name || '.' || c.table_name),
                       array_position(names, p.schema_name || '.' || p.table_name)
                  FROM pg_constraint con
                  JOIN electric_sync.os_tables c ON c.relid = con.conrelid
                  JOIN electric_sync.os_tables p ON p.relid = con.confrelid
                 WHERE con.contype = 'f' AND con.conrelid <> con.confrelid LOOP
        reach[(i - 1) * n + j] := true;
    END LOOP;
    LOOP  -- transitive closure (n is small)
        changed := false;
        FOR i IN 1 .. n LOOP FOR j IN 1 .. n LOOP
            IF NOT reach[(i - 1) * n + j] AND EXISTS (
                SELECT 1 FROM generate_series(1, n) k WHERE reach[(i - 1) * n + k] AND reach[(k - 1) * n + j]) THEN
                reach[(i - 1) * n + j] := true; changed := true;
            END IF;
        END LOOP; END LOOP;
        EXIT WHEN NOT changed;
    END LOOP;
    comp := array_fill(0, ARRAY[n]);
    FOR i IN 1 .. n LOOP  -- component id = smallest member index
        comp[i] := i;
        FOR j IN 1 .. i - 1 LOOP
            IF reach[(i - 1) * n + j] AND reach[(j - 1) * n + i] THEN comp[i] := comp[j]; EXIT; END IF;
        END LOOP;
    END LOOP;
    done := array_fill(false, ARRAY[n]);
    cycles := array_fill(0, ARRAY[n]);
    WHILE pos < n LOOP
        -- the smallest-named component whose dependencies outside itself are all placed
        best := NULL;
        FOR i IN 1 .. n LOOP
            IF NOT done[i] AND comp[i] = i AND NOT EXISTS (
                SELECT 1 FROM generate_series(1, n) a, generate_series(1, n) b
                 WHERE comp[a] = i AND comp[b] <> i AND NOT done[b] AND reach[(a - 1) * n + b]) THEN
                best := i; EXIT;
            END IF;
        END LOOP;
        IF best IS NULL THEN best := (SELECT min(k) FROM generate_series(1, n) k WHERE NOT done[k]); END IF;
        IF (SELECT count(*) FROM generate_series(1, n) k WHERE comp[k] = comp[best]) > 1 THEN cg := cg + 1; END IF;
        FOR i IN 1 .. n LOOP
            IF comp[i] = comp[best] AND NOT done[i] THEN
                done[i] := true; pos := pos + 1;
                ord := pos; schema_name := split_part(names[i], '.', 1); table_name := split_part(names[i], '.', 2);
                cycle_group := CASE WHEN (SELECT count(*) FROM generate_series(1, n) k WHERE comp[k] = comp[best]) > 1 THEN cg END;
                RETURN NEXT;
            END IF;
        END LOOP;
    END LOOP;
END $$;

-- DDL on registered tables: a dropped table is unregistered (its history is kept); a renamed
-- table or schema keeps its registration under the new names.
CREATE FUNCTION electric_sync.os_ddl_trigger() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_EVENT = 'sql_drop' THEN
        DELETE FROM electric_sync.os_row_state WHERE table_id IN (
            SELECT t.table_id FROM electric_sync.os_tables t
              JOIN pg_event_trigger_dropped_objects() d ON d.objid = t.relid AND d.object_type = 'table');
        DELETE FROM electric_sync.os_tables t USING pg_event_trigger_dropped_objects() d
         WHERE d.objid = t.relid AND d.object_type = 'table';
    ELSE
        UPDATE electric_sync.os_tables t SET schema_name = n.nspname, table_name = c.relname
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.oid = t.relid AND (t.schema_name, t.table_name) IS DISTINCT FROM (n.nspname::text, c.relname::text);
    END IF;
END $$;
CREATE EVENT TRIGGER oversync_ddl_drop ON sql_drop EXECUTE FUNCTION electric_sync.os_ddl_trigger();
CREATE EVENT TRIGGER oversync_ddl_end ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE', 'ALTER SCHEMA') EXECUTE FUNCTION electric_sync.os_ddl_trigger();
