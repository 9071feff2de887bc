-- electric_sync install script (assembled from sql/install/*.sql in name order).
\echo Use "CREATE EXTENSION electric_sync" to load this file. \quit

-- Worker state as published in shared memory.
CREATE FUNCTION electric_sync._worker_info(
    OUT pid integer, OUT state text, OUT http_address text, OUT http_port integer,
    OUT processed_lsn pg_lsn, OUT changes_processed bigint, OUT transactions_processed bigint,
    OUT last_error text)
RETURNS record
AS 'MODULE_PATHNAME', 'es_worker_info' LANGUAGE C STRICT VOLATILE;

-- Test hook: the worker's next n batches with changes fail before their commit.
CREATE FUNCTION electric_sync._debug_fail_batches(n integer) RETURNS void
AS 'MODULE_PATHNAME', 'es_debug_fail_batches' LANGUAGE C STRICT VOLATILE;
REVOKE ALL ON FUNCTION electric_sync._debug_fail_batches(integer) FROM PUBLIC;

-- The worker: its state, slot, confirmed LSN, lag and HTTP address.
CREATE VIEW electric_sync.worker_status AS
SELECT w.pid,
       w.state,
       current_setting('electric_sync.slot_name') AS slot_name,
       s.confirmed_flush_lsn AS confirmed_lsn,
       w.processed_lsn,
       CASE WHEN s.confirmed_flush_lsn IS NULL THEN NULL
            ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn)::bigint END AS lag_bytes,
       CASE WHEN s.restart_lsn IS NULL THEN NULL
            ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint END AS retained_wal_bytes,
       CASE WHEN w.http_port > 0 THEN 'http://' || w.http_address || ':' || w.http_port END AS http_address,
       w.changes_processed,
       w.transactions_processed,
       w.last_error
FROM electric_sync._worker_info() w
LEFT JOIN pg_replication_slots s ON s.slot_name = current_setting('electric_sync.slot_name');

-- ============================================================================================
-- Shapes: catalog, SQL API, invalidation hooks (docs/sql-api.md).
-- ============================================================================================

-- One row per shape ever created. Rows are never reused: a deleted or invalidated shape keeps
-- its row (and handle) so the handle is never handed out again. Not registered with
-- pg_extension_config_dump: shapes are derived, server-local state (relation oids, LSNs,
-- snapshots, the logical slot); after a dump/restore clients get 409 and re-sync.
CREATE TABLE electric_sync.shapes (
    shape_id       bigserial PRIMARY KEY,
    handle         text NOT NULL UNIQUE,            -- "<decimal hash of definition>-<unix microseconds>"
    def_key        text NOT NULL,                   -- normalized definition (identity of a live shape)
    relid          oid NOT NULL,
    schema_name    text NOT NULL,
    table_name     text NOT NULL,
    where_clause   text,                            -- as given (NULL = no where)
    params         text[],                          -- $1..$n values as text (NULL = none)
    columns        text[],                          -- selected columns in table order (NULL = all)
    replica        text NOT NULL DEFAULT 'default' CHECK (replica IN ('default', 'full')),
    log_mode       text NOT NULL DEFAULT 'full' CHECK (log_mode IN ('full', 'changes_only')),
    schema_json    text NOT NULL,                   -- exact electric-schema header value
    pk_columns     text[] NOT NULL,                 -- PK in key order; all columns when no PK
    rel_signature  text NOT NULL,                   -- relation layout at creation (DDL invalidation)
    status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'deleted', 'invalidated')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    invalidated_at timestamptz,
    invalid_reason text,
    -- Filled by the read path when the initial snapshot is taken.
    snapshot_xmin  bigint,
    snapshot_xmax  bigint,
    snapshot_xip   bigint[],
    snapshot_lsn   pg_lsn
);

-- At most one live shape per definition. def_key can be long (a where clause with a big IN
-- list), so the unique index is on its md5; lookups compare def_key itself as well.
CREATE UNIQUE INDEX shapes_live_def_key ON electric_sync.shapes ((md5(def_key))) WHERE status = 'active';
CREATE INDEX shapes_live_relid ON electric_sync.shapes (relid) WHERE status = 'active';

-- Per-shape statistics maintained by the read path (empty until it does).
CREATE TABLE electric_sync.shape_stats (
    shape_id        bigint PRIMARY KEY REFERENCES electric_sync.shapes (shape_id) ON DELETE CASCADE,
    row_count       bigint,
    log_entries     bigint,
    log_bytes       bigint,
    last_offset     text,
    waiting_clients integer,
    updated_at      timestamptz
);

REVOKE ALL ON electric_sync.shapes, electric_sync.shape_stats FROM PUBLIC;

-- Writes pg_logical_emit_message(true, 'electric_sync', message) (transactional), without
-- needing EXECUTE on pg_logical_emit_message.
CREATE FUNCTION electric_sync._emit_message(message text)
RETURNS pg_lsn
AS 'MODULE_PATHNAME', 'es_emit_message' LANGUAGE C STRICT VOLATILE;

-- Layout signature of a relation (NULL if it does not exist); see rel_signature.
CREATE FUNCTION electric_sync._relation_signature(relid oid)
RETURNS text
AS 'MODULE_PATHNAME', 'es_relation_signature' LANGUAGE C STRICT STABLE;

-- Get-or-create a shape; returns its handle.
CREATE FUNCTION electric_sync.create_shape(
    table_name text,
    where_clause text DEFAULT NULL,
    columns text[] DEFAULT NULL,
    replica text DEFAULT 'default',
    params text[] DEFAULT NULL,
    log_mode text DEFAULT 'full')
RETURNS text
AS 'MODULE_PATHNAME', 'es_create_shape' LANGUAGE C VOLATILE;

-- Validates a definition without creating anything; never raises for bad input (valid =
-- false and the error fields are set instead).
CREATE FUNCTION electric_sync.validate_shape(
    table_name text,
    where_clause text DEFAULT NULL,
    columns text[] DEFAULT NULL,
    replica text DEFAULT 'default',
    params text[] DEFAULT NULL,
    log_mode text DEFAULT 'full',
    OUT valid boolean,
    OUT error_field text,
    OUT error_sqlstate text,
    OUT error_message text,
    OUT error_hint text,
    OUT error_detail text,
    OUT error_position integer,
    OUT relid oid,
    OUT schema_name text,
    OUT table_name text,
    OUT where_normalized text,
    OUT columns text[],
    OUT pk_columns text[],
    OUT replica text,
    OUT log_mode text,
    OUT schema_json text,
    OUT def_key text)
RETURNS record
AS 'MODULE_PATHNAME', 'es_validate_shape' LANGUAGE C VOLATILE;

-- Test hook: compiles where_clause against the table (CompiledWhere) and evaluates it on one
-- row given as text values, one per attribute (dropped columns included, as NULL).
CREATE FUNCTION electric_sync._where_matches(
    tbl regclass, where_clause text, params text[], row_values text[])
RETURNS boolean
AS 'MODULE_PATHNAME', 'es_where_matches' LANGUAGE C VOLATILE;

-- Benchmark hook: compiles once, evaluates `iterations` times, returns ns per evaluation.
CREATE FUNCTION electric_sync._where_bench(
    tbl regclass, where_clause text, params text[], row_values text[], iterations integer)
RETURNS double precision
AS 'MODULE_PATHNAME', 'es_where_bench' LANGUAGE C VOLATILE;

-- Marks an active shape invalidated and tells the worker (in the change stream). Returns
-- false when the shape is not active. Used by the DDL hooks, and by the worker (TRUNCATE).
CREATE FUNCTION electric_sync._invalidate_shape(p_shape_id bigint, p_reason text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE electric_sync.shapes
       SET status = 'invalidated', invalidated_at = now(), invalid_reason = p_reason
     WHERE shape_id = p_shape_id AND status = 'active';
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM electric_sync._emit_message('shape_invalidated ' || p_shape_id || ' ' || p_reason);
    RETURN true;
END
$$;

-- Deletes a shape by handle: status 'deleted', worker notified. False if the handle is unknown
-- or the shape is no longer active.
CREATE FUNCTION electric_sync.delete_shape(handle text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id bigint;
BEGIN
    UPDATE electric_sync.shapes s
       SET status = 'deleted', invalidated_at = now(), invalid_reason = 'deleted'
     WHERE s.handle = delete_shape.handle AND s.status = 'active'
    RETURNING s.shape_id INTO v_id;
    IF v_id IS NULL THEN
        RETURN false;
    END IF;
    PERFORM electric_sync._emit_message('shape_deleted ' || v_id);
    RETURN true;
END
$$;

REVOKE EXECUTE ON FUNCTION electric_sync.create_shape(text, text, text[], text, text[], text),
                           electric_sync.validate_shape(text, text, text[], text, text[], text),
                           electric_sync.delete_shape(text),
                           electric_sync._invalidate_shape(bigint, text),
                           electric_sync._emit_message(text),
                           electric_sync._where_matches(regclass, text, text[], text[]),
                           electric_sync._where_bench(regclass, text, text[], text[], integer)
    FROM PUBLIC;

-- Shapes with their (read-path maintained) statistics.
CREATE VIEW electric_sync.shapes_view AS
SELECT s.shape_id,
       s.handle,
       s.schema_name,
       s.table_name,
       format('%I.%I', s.schema_name, s.table_name) AS relation,
       s.where_clause,
       s.params,
       s.columns,
       s.replica,
       s.log_mode,
       s.status,
       s.created_at,
       s.invalidated_at,
       s.invalid_reason,
       st.row_count,
       st.log_entries,
       st.log_bytes,
       st.last_offset,
       st.waiting_clients
  FROM electric_sync.shapes s
  LEFT JOIN electric_sync.shape_stats st USING (shape_id);

REVOKE ALL ON electric_sync.shapes_view FROM PUBLIC;

-- ---- invalidation hooks --------------------------------------------------------------------
-- After ALTER TABLE / ALTER SCHEMA / ALTER TYPE / ALTER DOMAIN: every active shape whose
-- table's layout signature (name, columns, types, NOT NULL, PK, replica identity) changed is
-- invalidated. DDL that does not change the layout (indexes, defaults, triggers, storage,
-- REPLICA IDENTITY FULL itself) leaves shapes alone. SECURITY DEFINER: the trigger runs as the
-- role doing the DDL, which may not be able to read electric_sync.shapes.
CREATE FUNCTION electric_sync._on_ddl_command_end()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    v_sig text;
    v_all boolean;
    v_relids oid[];
BEGIN
    IF to_regclass('electric_sync.shapes') IS NULL
       OR NOT EXISTS (SELECT 1 FROM electric_sync.shapes WHERE status = 'active') THEN
        RETURN;
    END IF;
    -- ALTER TABLE: the altered tables (and their inheritance children); ALTER SCHEMA / TYPE /
    -- DOMAIN (renames can change a table's qualified name or a column's type name): all.
    SELECT coalesce(bool_or(c.command_tag <> 'ALTER TABLE'), false),
           array_agg(c.objid) FILTER (WHERE c.classid = 'pg_catalog.pg_class'::regclass)
      INTO v_all, v_relids
      FROM pg_event_trigger_ddl_commands() c;
    FOR r IN
        SELECT DISTINCT s.relid, s.rel_signature
          FROM electric_sync.shapes s
         WHERE s.status = 'active'
           AND (v_all
                OR s.relid = ANY (v_relids)
                OR s.relid IN (SELECT i.inhrelid FROM pg_inherits i WHERE i.inhparent = ANY (v_relids)))
    LOOP
        v_sig := electric_sync._relation_signature(r.relid);
        IF v_sig IS DISTINCT FROM r.rel_signature THEN
            PERFORM electric_sync._invalidate_shape(s.shape_id,
                        CASE WHEN v_sig IS NULL THEN 'table dropped' ELSE 'relation changed' END)
               FROM electric_sync.shapes s
              WHERE s.status = 'active' AND s.relid = r.relid AND s.rel_signature = r.rel_signature
              ORDER BY s.shape_id;
        END IF;
    END LOOP;
END
$$;

-- After DROP TABLE / DROP SCHEMA ... CASCADE / DROP OWNED: shapes on dropped tables.
CREATE FUNCTION electric_sync._on_sql_drop()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF to_regclass('electric_sync.shapes') IS NULL THEN
        RETURN;
    END IF;
    PERFORM electric_sync._invalidate_shape(s.shape_id, 'table dropped')
       FROM electric_sync.shapes s
      WHERE s.status = 'active'
        AND s.relid IN (SELECT d.objid FROM pg_event_trigger_dropped_objects() d
                         WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0)
      ORDER BY s.shape_id;
END
$$;

CREATE EVENT TRIGGER electric_sync_ddl_command_end ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE', 'ALTER SCHEMA', 'ALTER TYPE', 'ALTER DOMAIN')
    EXECUTE FUNCTION electric_sync._on_ddl_command_end();

CREATE EVENT TRIGGER electric_sync_sql_drop ON sql_drop
    EXECUTE FUNCTION electric_sync._on_sql_drop();
-- Shape logs (read path). Entries are stored already encoded as the JSON message the client
-- receives, so serving is a read and a concatenation. Written only by the worker (log) and by
-- the worker's snapshot connections (snapshot chunks).

-- Snapshot chunks: chunk n of a shape's initial snapshot ends at offset 0_<n>. body is the
-- comma-separated JSON messages of the chunk (no brackets).
CREATE TABLE electric_sync.shape_snapshot_chunks (
    shape_id bigint NOT NULL,
    chunk_no integer NOT NULL,
    row_count integer NOT NULL,
    body text NOT NULL,
    PRIMARY KEY (shape_id, chunk_no)
);
-- Bodies are up to electric_sync.chunk_bytes (10 MB) of JSON: stored out of line without
-- compression (pglz would cost about a third of a big initial sync; bench/initial_sync.sh).
ALTER TABLE electric_sync.shape_snapshot_chunks ALTER COLUMN body SET STORAGE EXTERNAL;

-- Live log, stored as segments: the entries one worker batch appended to one shape, in offset
-- order (one row for several entries: a row and an index entry per change were most of the
-- routing cost; bench/routing.sh). lsn, op: the offset <lsn>_<op> of the segment's first entry.
-- Per entry i: lsns[i], ops[i] (its offset), xids[i] (kept until the shape's snapshot is known:
-- entries of transactions visible to the snapshot are then removed), chunk_ends[i] (last entry
-- of a log chunk: stable chunk boundaries for caching), entries[i] (the encoded message).
-- Segments stay below toast_tuple_target (inline, uncompressed); a single larger entry is
-- toasted as usual. Read them one row per entry through electric_sync.shape_log_entries.
CREATE TABLE electric_sync.shape_log (
    shape_id bigint NOT NULL,
    lsn bigint NOT NULL,
    op integer NOT NULL,
    lsns bigint[] NOT NULL,
    ops integer[] NOT NULL,
    xids bigint[] NOT NULL,
    chunk_ends boolean[] NOT NULL,
    entries text[] NOT NULL,
    bytes bigint NOT NULL,  -- total length of the entries
    PRIMARY KEY (shape_id, lsn, op)
) WITH (toast_tuple_target = 8160);

CREATE VIEW electric_sync.shape_log_entries AS
SELECT l.shape_id, u.lsn, u.op, u.xid, u.chunk_end, u.entry
FROM electric_sync.shape_log l,
     unnest(l.lsns, l.ops, l.xids, l.chunk_ends, l.entries) AS u(lsn, op, xid, chunk_end, entry);

-- The worker's progress: every transaction with a commit LSN at or below processed_lsn is in
-- the shape logs. Committed in the same transaction as the log entries (exactly once).
CREATE TABLE electric_sync.engine_state (
    id integer PRIMARY KEY CHECK (id = 1),
    processed_lsn pg_lsn NOT NULL DEFAULT '0/0'
);
INSERT INTO electric_sync.engine_state VALUES (1, '0/0');

-- Per-shape runtime state of the read path: the snapshot (taken by the worker's snapshot
-- connection) and whether the engine has filtered the log against it (log_ready).
CREATE TABLE electric_sync.shape_runtime (
    shape_id bigint PRIMARY KEY,
    snapshot_xmin bigint,
    snapshot_xmax bigint,
    snapshot_xip bigint[],
    snapshot_lsn pg_lsn,
    snapshot_chunks integer,
    snapshot_rows bigint,
    snapshot_done boolean NOT NULL DEFAULT false,
    log_ready boolean NOT NULL DEFAULT false
);
-- oversync write path (docs/oversync.md): runtime tables and table registration.
-- Everything lives in schema electric_sync with the prefix os_. Nothing here is granted to
-- PUBLIC: applications reach it through the HTTP routes, the registered tables' triggers
-- (SECURITY DEFINER) and the superuser-only SQL API.

-- Tunables read inside the database (the HTTP limits and TTLs live in es::oversync::Config).
CREATE TABLE electric_sync.os_settings (
    name  text PRIMARY KEY,
    value bigint NOT NULL CHECK (value >= 0)
);
INSERT INTO electric_sync.os_settings VALUES
    ('retained_bundles_per_user', 10000),   -- RetainedBundlesPerUser
    ('retention_prune_batch', 1000);        -- RetentionPruneBatchSize

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

-- Go-compatible canonical JSON (src/bundle_canonical.cpp).
CREATE FUNCTION electric_sync.os_canonical_json(jsonb) RETURNS text
    AS 'MODULE_PATHNAME', 'es_os_canonical_json' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Contract error: SQLSTATE ES<status>, DETAIL = error code, HINT = extra JSON members.
CREATE FUNCTION electric_sync.os_raise(status int, code text, msg text, extra jsonb DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF extra IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'ES' || status::text, MESSAGE = msg, DETAIL = code;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'ES' || status::text, MESSAGE = msg, DETAIL = code, HINT = extra::text;
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
-- oversync write path: capture in the writing transaction, bundle finalization, server writes.
--
-- Every committed change to a registered table becomes part of a bundle:
--  * BEFORE row trigger os_guard_trigger: scope ownership rules.
--  * AFTER row trigger os_capture_trigger: appends the change to os_capture and, once per
--    transaction, inserts an os_capture_marker row whose DEFERRED constraint trigger runs
--    os_finalize_tx() at commit (or earlier, when a push commit / exec_write calls it).
--  * os_finalize_tx(): collapses the captured rows per user, reserves the user's next
--    bundle_seq, writes bundle_log / bundle_rows / row_state / source_state, applies retention
--    and notifies the watch channel.
-- Transaction-local settings carry the bundle context: oversync.bundle_user_id,
-- oversync.bundle_source_id, oversync.bundle_source_bundle_id (set by pushes and
-- oversync_exec_write). Without them a write is a plain SQL write: it becomes a bundle of the
-- row's own scope, from the writer source 'electric_sync.sql'.

CREATE TYPE electric_sync.os_frow AS (table_id int, key_text text, op text, payload jsonb);

-- bytea columns travel as standard base64 (PostgreSQL's to_jsonb gives \x hex).
CREATE FUNCTION electric_sync.os_wire_payload(p jsonb, cols text[]) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE c text; v text;
BEGIN
    IF p IS NULL OR cols IS NULL OR cardinality(cols) = 0 THEN RETURN p; END IF;
    FOREACH c IN ARRAY cols LOOP
        v := p ->> c;
        IF v IS NOT NULL AND left(v, 2) = '\x' THEN
            p := jsonb_set(p, ARRAY[c], to_jsonb(translate(encode(decode(substr(v, 3), 'hex'), 'base64'), E'\n', '')));
        END IF;
    END LOOP;
    RETURN p;
END $$;

-- The inverse, for applying pushed payloads: base64 strings become \x hex input.
CREATE FUNCTION electric_sync.os_db_payload(p jsonb, cols text[]) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE c text; v text;
BEGIN
    IF p IS NULL OR cols IS NULL OR cardinality(cols) = 0 THEN RETURN p; END IF;
    FOREACH c IN ARRAY cols LOOP
        v := p ->> c;
        IF v IS NOT NULL THEN
            p := jsonb_set(p, ARRAY[c], to_jsonb('\x' || encode(decode(v, 'base64'), 'hex')));
        END IF;
    END LOOP;
    RETURN p;
END $$;

-- A plain SQL write may not touch a scope while a device holds its initialization lease.
CREATE FUNCTION electric_sync.os_check_plain_write(scope text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE lease timestamptz;
BEGIN
    SELECT lease_expires_at INTO lease FROM electric_sync.os_scope_state
     WHERE user_id = scope AND state = 1 AND lease_expires_at > now();
    IF FOUND THEN
        PERFORM nextval('electric_sync.os_rejected_registered_write_seq');
        RAISE EXCEPTION 'oversync: scope % is being initialized by a device', scope
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Retry after the initialization lease ends (the device''s seeding push defines the first state of this scope).';
    END IF;
END $$;

CREATE FUNCTION electric_sync.os_guard_trigger() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    u text := coalesce(current_setting('oversync.bundle_user_id', true), '');
    scope text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW._sync_scope_id IS NULL OR NEW._sync_scope_id = '' THEN
            IF u = '' THEN
                PERFORM nextval('electric_sync.os_rejected_registered_write_seq');
                RAISE EXCEPTION 'oversync: row of %.% has no _sync_scope_id', TG_TABLE_SCHEMA, TG_TABLE_NAME
                    USING ERRCODE = 'not_null_violation',
                          HINT = 'Set _sync_scope_id to the owning user id, or write through electric_sync.oversync_exec_write(scope, writer, sql).';
            END IF;
            NEW._sync_scope_id := u;
        END IF;
        scope := NEW._sync_scope_id;
    ELSE
        scope := OLD._sync_scope_id;
        IF TG_OP = 'UPDATE' AND NEW._sync_scope_id IS DISTINCT FROM OLD._sync_scope_id THEN
            PERFORM nextval('electric_sync.os_rejected_registered_write_seq');
            RAISE EXCEPTION 'oversync: cannot move a row of %.% from scope % to %', TG_TABLE_SCHEMA, TG_TABLE_NAME,
                OLD._sync_scope_id, NEW._sync_scope_id
                USING ERRCODE = 'insufficient_privilege', HINT = 'Delete the row and insert it for the other user.';
        END IF;
    END IF;
    IF u <> '' AND scope <> u THEN
        PERFORM nextval('electric_sync.os_rejected_registered_write_seq');
        RAISE EXCEPTION 'oversync: this bundle writes for scope %, but the row of %.% belongs to scope %', u,
            TG_TABLE_SCHEMA, TG_TABLE_NAME, scope USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF u = '' THEN PERFORM electric_sync.os_check_plain_write(scope); END IF;
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
END $$;

CREATE FUNCTION electric_sync.os_capture_trigger() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp SET bytea_output = 'hex' SET TimeZone = 'UTC' AS $$
DECLARE
    tid int := TG_ARGV[0]::int;
    kc text := TG_ARGV[1];
    tx bigint := txid_current();
    j jsonb; nk text; ok text;
BEGIN
    IF TG_OP <> 'DELETE' THEN
        j := to_jsonb(NEW) - '_sync_scope_id';
        nk := j ->> kc;
        IF nk IS NULL THEN
            RAISE EXCEPTION 'oversync: sync key %.%.% must not be null', TG_TABLE_SCHEMA, TG_TABLE_NAME, kc
                USING ERRCODE = 'not_null_violation';
        END IF;
    END IF;
    IF TG_OP <> 'INSERT' THEN ok := to_jsonb(OLD) ->> kc; END IF;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO electric_sync.os_capture (txid, user_id, table_id, op, key_text, payload)
        VALUES (tx, NEW._sync_scope_id, tid, 1, nk, j);
    ELSIF TG_OP = 'UPDATE' AND nk IS DISTINCT FROM ok THEN  -- key change = delete + insert
        INSERT INTO electric_sync.os_capture (txid, user_id, table_id, op, key_text, payload)
        VALUES (tx, OLD._sync_scope_id, tid, 3, ok, NULL), (tx, NEW._sync_scope_id, tid, 1, nk, j);
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO electric_sync.os_capture (txid, user_id, table_id, op, key_text, payload)
        VALUES (tx, NEW._sync_scope_id, tid, 2, nk, j);
    ELSE
        INSERT INTO electric_sync.os_capture (txid, user_id, table_id, op, key_text, payload)
        VALUES (tx, OLD._sync_scope_id, tid, 3, ok, NULL);
    END IF;
    IF coalesce(current_setting('oversync.capture_txid', true), '') <> tx::text THEN
        INSERT INTO electric_sync.os_capture_marker VALUES (tx) ON CONFLICT DO NOTHING;
        PERFORM set_config('oversync.capture_txid', tx::text, true);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION electric_sync.os_truncate_trigger() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM nextval('electric_sync.os_rejected_registered_write_seq');
    RAISE EXCEPTION 'oversync: TRUNCATE of registered table %.% is not supported', TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'feature_not_supported',
              HINT = 'Use DELETE (it is captured and synced), or unregister the table first.';
END $$;

-- Finalizes every bundle captured by the current transaction (one per user). Returns one row
-- per bundle written.
CREATE FUNCTION electric_sync.os_finalize_tx()
RETURNS TABLE (user_id text, bundle_seq bigint, source_id text, source_bundle_id bigint,
               row_count int, bundle_hash text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    tx bigint := txid_current();
    g_user text := coalesce(current_setting('oversync.bundle_user_id', true), '');
    g_src text := coalesce(current_setting('oversync.bundle_source_id', true), '');
    g_sbid text := coalesce(current_setting('oversync.bundle_source_bundle_id', true), '');
    u text; rows electric_sync.os_frow[]; src text; sbid bigint; seq bigint; fl bigint;
    st record; canon text; n int; h text; keep bigint; batch bigint; target bigint;
BEGIN
    DELETE FROM electric_sync.os_capture_marker m WHERE m.txid = tx;
    PERFORM set_config('oversync.capture_txid', '', true);
    FOR u IN SELECT DISTINCT c.user_id FROM electric_sync.os_capture c WHERE c.txid = tx ORDER BY 1 LOOP
        SELECT array_agg(ROW(x.table_id, x.key_text, x.op, x.payload)::electric_sync.os_frow
                         ORDER BY x.first_ord, x.table_id, x.key_text)
          INTO rows
          FROM (SELECT g.table_id, g.key_text, g.first_ord, f.op AS fop, l.op AS lop,
                       CASE WHEN l.op = 3 THEN 'DELETE'
                            WHEN f.op = 1 THEN 'INSERT'
                            WHEN rs.deleted IS DISTINCT FROM false THEN 'INSERT'  -- never synced before
                            ELSE 'UPDATE' END AS op,
                       CASE WHEN l.op = 3 THEN NULL ELSE l.payload END AS payload
                  FROM (SELECT c.table_id, c.key_text, min(c.ord) AS first_ord, max(c.ord) AS last_ord
                          FROM electric_sync.os_capture c WHERE c.txid = tx AND c.user_id = u
                         GROUP BY 1, 2) g
                  -- LATERAL: index lookups whatever the (often stale) statistics say
                  CROSS JOIN LATERAL (SELECT f0.op FROM electric_sync.os_capture f0 WHERE f0.ord = g.first_ord) f
                  CROSS JOIN LATERAL (SELECT l0.op, l0.payload FROM electric_sync.os_capture l0 WHERE l0.ord = g.last_ord) l
                  LEFT JOIN LATERAL (SELECT r0.deleted FROM electric_sync.os_row_state r0
                                      WHERE r0.user_id = u AND r0.table_id = g.table_id AND r0.key_text = g.key_text) rs ON true) x
         WHERE NOT (x.fop = 1 AND x.lop = 3);
        DELETE FROM electric_sync.os_capture c WHERE c.txid = tx AND c.user_id = u;
        CONTINUE WHEN rows IS NULL;

        -- The user's row lock serializes all bundles of one user (gapless, ordered bundle_seq).
        INSERT INTO electric_sync.os_user_state AS s (user_id) VALUES (u) ON CONFLICT DO NOTHING;
        UPDATE electric_sync.os_user_state s SET next_bundle_seq = s.next_bundle_seq + 1
         WHERE s.user_id = u RETURNING s.next_bundle_seq - 1, s.retained_floor INTO seq, fl;

        IF g_user = u AND g_src <> '' THEN
            src := g_src;
            sbid := g_sbid::bigint;
        ELSE
            -- Plain SQL write: writer source electric_sync.sql; auto-initializes the scope.
            src := 'electric_sync.sql';
            INSERT INTO electric_sync.os_scope_state (user_id) VALUES (u) ON CONFLICT DO NOTHING;
            SELECT * INTO st FROM electric_sync.os_scope_state s WHERE s.user_id = u FOR UPDATE;
            IF st.state = 1 AND st.lease_expires_at > now() THEN
                PERFORM electric_sync.os_check_plain_write(u);
            END IF;
            IF st.state <> 2 THEN
                UPDATE electric_sync.os_scope_state s SET state = 2, initialization_id = NULL,
                       initializer_source_id = NULL, lease_expires_at = NULL,
                       initialized_by_source_id = src, initialized_at = now(), updated_at = now()
                 WHERE s.user_id = u;
            END IF;
            INSERT INTO electric_sync.os_source_state (user_id, source_id) VALUES (u, src) ON CONFLICT DO NOTHING;
            SELECT s.max_committed_source_bundle_id + 1 INTO sbid FROM electric_sync.os_source_state s
             WHERE s.user_id = u AND s.source_id = src FOR UPDATE;
        END IF;

        INSERT INTO electric_sync.os_bundle_log (user_id, bundle_seq, source_id, source_bundle_id, row_count, byte_count, bundle_hash)
        VALUES (u, seq, src, sbid, 0, 0, '');
        INSERT INTO electric_sync.os_bundle_rows (user_id, bundle_seq, row_ordinal, schema_name, table_name, key_json, op, payload)
        SELECT u, seq, (r.ord - 1)::int, t.schema_name, t.table_name,
               electric_sync.os_canonical_json(jsonb_build_object(t.key_column, r.key_text)), r.op,
               CASE WHEN r.op = 'DELETE' THEN NULL
                    ELSE electric_sync.os_canonical_json(electric_sync.os_wire_payload(r.payload, t.bytea_columns)) END
          FROM unnest(rows) WITH ORDINALITY r(table_id, key_text, op, payload, ord)
          JOIN electric_sync.os_tables t ON t.table_id = r.table_id;
        SELECT '[' || string_agg(electric_sync.os_canonical_json(jsonb_build_object(
                   'key', b.key_json::jsonb, 'op', b.op, 'payload', b.payload::jsonb,
                   'row_ordinal', b.row_ordinal, 'row_version', seq,
                   'schema', b.schema_name, 'table', b.table_name)), ',' ORDER BY b.row_ordinal) || ']',
               count(*)
          INTO canon, n
          FROM electric_sync.os_bundle_rows b WHERE b.user_id = u AND b.bundle_seq = seq;
        h := encode(sha256(convert_to(canon, 'UTF8')), 'hex');
        UPDATE electric_sync.os_bundle_log b SET row_count = n, byte_count = octet_length(canon), bundle_hash = h
         WHERE b.user_id = u AND b.bundle_seq = seq;

        INSERT INTO electric_sync.os_row_state AS rs (user_id, table_id, key_text, bundle_seq, deleted)
        SELECT u, r.table_id, r.key_text, seq, r.op = 'DELETE' FROM unnest(rows) r
        ON CONFLICT ON CONSTRAINT os_row_state_pkey
        DO UPDATE SET bundle_seq = EXCLUDED.bundle_seq, deleted = EXCLUDED.deleted;

        INSERT INTO electric_sync.os_source_state AS s (user_id, source_id, state, max_committed_source_bundle_id)
        VALUES (u, src, 'active', sbid)
        ON CONFLICT ON CONSTRAINT os_source_state_pkey
        DO UPDATE SET state = 'active', max_committed_source_bundle_id = EXCLUDED.max_committed_source_bundle_id,
                      updated_at = now();

        -- Retention: keep RetainedBundlesPerUser bundles, move the floor by at most one batch.
        SELECT value INTO keep FROM electric_sync.os_settings WHERE name = 'retained_bundles_per_user';
        SELECT value INTO batch FROM electric_sync.os_settings WHERE name = 'retention_prune_batch';
        target := seq - coalesce(keep, 10000);
        IF target > fl THEN
            fl := least(target, fl + greatest(coalesce(batch, 1000), 1));
            UPDATE electric_sync.os_user_state s SET retained_floor = fl WHERE s.user_id = u;
            DELETE FROM electric_sync.os_bundle_log b WHERE b.user_id = u AND b.bundle_seq <= fl;
        END IF;

        PERFORM pg_notify('oversync_bundle_change_v1',
            json_build_object('user_id', u, 'bundle_seq', seq, 'source_id', src, 'source_bundle_id', sbid)::text);

        user_id := u; bundle_seq := seq; source_id := src; source_bundle_id := sbid;
        row_count := n; bundle_hash := h;
        RETURN NEXT;
    END LOOP;
    DELETE FROM electric_sync.os_capture c WHERE c.txid = tx;
END $$;

CREATE FUNCTION electric_sync.os_finalize_trigger() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM electric_sync.os_finalize_tx();
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER os_finalize_at_commit AFTER INSERT ON electric_sync.os_capture_marker
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION electric_sync.os_finalize_trigger();

-- Takes the per-user lock and locks the user's state row (always first, to avoid deadlocks).
CREATE FUNCTION electric_sync.os_lock_user(u text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(u, 0));
    INSERT INTO electric_sync.os_user_state (user_id) VALUES (u) ON CONFLICT DO NOTHING;
    PERFORM 1 FROM electric_sync.os_user_state WHERE user_id = u FOR UPDATE;
END $$;

-- ExecWrite: runs `statements` as one bundle of `scope_id` written by source `writer_id`.
-- Auto-initializes an UNINITIALIZED scope (devices then get remote_authoritative), refuses an
-- INITIALIZING one, picks the writer's next source_bundle_id. Raises if nothing was captured.
-- Returns {"auto_initialized":bool,"bundle":{bundle_seq,source_id,source_bundle_id,row_count,bundle_hash}}.
CREATE FUNCTION electric_sync.oversync_exec_write(scope_id text, writer_id text, statements text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE st record; auto boolean := false; sbid bigint; res record; srcst record;
BEGIN
    IF coalesce(scope_id, '') = '' OR coalesce(writer_id, '') = '' THEN
        RAISE EXCEPTION 'oversync: scope_id and writer_id are required' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF writer_id = 'electric_sync.sql' THEN
        RAISE EXCEPTION 'oversync: writer id electric_sync.sql is reserved for plain SQL writes' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF coalesce(current_setting('oversync.bundle_user_id', true), '') <> '' THEN
        RAISE EXCEPTION 'oversync: this transaction already writes a bundle for scope %', current_setting('oversync.bundle_user_id')
            USING ERRCODE = 'active_sql_transaction';
    END IF;
    PERFORM electric_sync.os_finalize_tx();  -- earlier plain writes of this transaction: their own bundles
    PERFORM electric_sync.os_lock_user(scope_id);
    INSERT INTO electric_sync.os_scope_state (user_id) VALUES (scope_id) ON CONFLICT DO NOTHING;
    SELECT * INTO st FROM electric_sync.os_scope_state WHERE user_id = scope_id FOR UPDATE;
    IF st.state = 1 AND st.lease_expires_at > now() THEN
        RAISE EXCEPTION 'oversync: scope % is initializing', scope_id
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Retry after the device''s initialization lease ends.';
    END IF;
    IF st.state <> 2 THEN
        UPDATE electric_sync.os_scope_state SET state = 2, initialization_id = NULL, initializer_source_id = NULL,
               lease_expires_at = NULL, initialized_by_source_id = writer_id, initialized_at = now(), updated_at = now()
         WHERE user_id = scope_id;
        auto := true;
    END IF;
    INSERT INTO electric_sync.os_source_state (user_id, source_id) VALUES (scope_id, writer_id) ON CONFLICT DO NOTHING;
    SELECT * INTO srcst FROM electric_sync.os_source_state WHERE user_id = scope_id AND source_id = writer_id FOR UPDATE;
    IF srcst.state = 'retired' THEN
        RAISE EXCEPTION 'oversync: source % of scope % is retired', writer_id, scope_id USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    sbid := srcst.max_committed_source_bundle_id + 1;
    PERFORM set_config('oversync.bundle_user_id', scope_id, true);
    PERFORM set_config('oversync.bundle_source_id', writer_id, true);
    PERFORM set_config('oversync.bundle_source_bundle_id', sbid::text, true);
    EXECUTE statements;
    SELECT * INTO res FROM electric_sync.os_finalize_tx() f WHERE f.user_id = scope_id;
    PERFORM set_config('oversync.bundle_user_id', '', true);
    PERFORM set_config('oversync.bundle_source_id', '', true);
    PERFORM set_config('oversync.bundle_source_bundle_id', '', true);
    IF res.bundle_seq IS NULL THEN
        RAISE EXCEPTION 'oversync: the write for scope % captured no changes to registered tables', scope_id
            USING ERRCODE = 'no_data_found';
    END IF;
    RETURN jsonb_build_object('auto_initialized', auto, 'bundle', jsonb_build_object(
        'bundle_seq', res.bundle_seq, 'source_id', res.source_id, 'source_bundle_id', res.source_bundle_id,
        'row_count', res.row_count, 'bundle_hash', res.bundle_hash));
END $$;

-- Test/ops helpers (the example server's /test/retention-floor): moves a user's retained floor
-- and prunes history at or below it.
CREATE FUNCTION electric_sync.oversync_set_retention_floor(scope_id text, new_floor bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE latest bigint;
BEGIN
    PERFORM electric_sync.os_lock_user(scope_id);
    SELECT next_bundle_seq - 1 INTO latest FROM electric_sync.os_user_state WHERE user_id = scope_id;
    IF new_floor < 0 OR new_floor > latest THEN
        RAISE EXCEPTION 'oversync: floor % is outside 0..%', new_floor, latest USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE electric_sync.os_user_state SET retained_floor = new_floor WHERE user_id = scope_id;
    DELETE FROM electric_sync.os_bundle_log WHERE user_id = scope_id AND bundle_seq <= new_floor;
    RETURN new_floor;
END $$;
-- oversync write path: one function per HTTP route (called by src/svc/oversync_routes.cpp over
-- libpq, each in its own transaction). They return the JSON body of the success reply; contract
-- errors are raised by os_raise (SQLSTATE ES<status>, DETAIL = code, HINT = extra members).
-- The caller has already authenticated user u and source src and validated the request shape.

-- One bundle row in wire form (BundleRow): keys in Go's struct order.
CREATE FUNCTION electric_sync.os_row_json(sch text, tbl text, key_json text, op text, rv bigint, payload text)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT '{"schema":' || to_json(sch)::text || ',"table":' || to_json(tbl)::text || ',"key":' || key_json
        || CASE WHEN op IS NULL THEN '' ELSE ',"op":"' || op || '"' END
        || ',"row_version":' || rv || CASE WHEN payload IS NULL THEN '' ELSE ',"payload":' || payload END || '}'
$$;

-- Effective scope state: an INITIALIZING scope whose lease lapsed reads as UNINITIALIZED.
CREATE FUNCTION electric_sync.os_scope_state_of(u text) RETURNS smallint LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT CASE WHEN state = 1 AND lease_expires_at <= now() THEN 0 ELSE state END
                       FROM electric_sync.os_scope_state WHERE user_id = u), 0)::smallint
$$;

CREATE FUNCTION electric_sync.os_require_initialized(u text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE s smallint := electric_sync.os_scope_state_of(u);
BEGIN
    IF s = 0 THEN
        PERFORM electric_sync.os_raise(409, 'scope_uninitialized', format('scope for user %s is not initialized; call /sync/connect first', u));
    ELSIF s = 1 THEN
        PERFORM electric_sync.os_raise(409, 'scope_initializing', format('scope for user %s is being initialized by another device', u));
    END IF;
END $$;

-- Lease check for create/chunk/commit of an initializing push; extends the lease.
CREATE FUNCTION electric_sync.os_check_lease(u text, src text, init_id text, lease_ttl int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE st record;
BEGIN
    SELECT * INTO st FROM electric_sync.os_scope_state WHERE user_id = u FOR UPDATE;
    IF NOT FOUND OR st.state = 0 OR (st.state = 1 AND st.initialization_id::text = init_id AND st.lease_expires_at <= now()) THEN
        PERFORM electric_sync.os_raise(410, 'initialization_expired', format('initialization %s for user %s has expired; connect again', init_id, u));
    END IF;
    IF st.state <> 1 OR st.initialization_id::text <> init_id OR st.initializer_source_id <> src THEN
        PERFORM electric_sync.os_raise(409, 'initialization_stale', format('initialization %s for user %s is no longer current', init_id, u));
    END IF;
    UPDATE electric_sync.os_scope_state SET lease_expires_at = now() + make_interval(secs => lease_ttl), updated_at = now()
     WHERE user_id = u;
END $$;

CREATE FUNCTION electric_sync.os_retired_error(u text, src text, replaced_by text) RETURNS void LANGUAGE sql AS $$
    SELECT electric_sync.os_raise(409, 'source_retired',
        format('source %s for user %s was retired and replaced by %s', src, u, coalesce(replaced_by, '(none)')),
        jsonb_build_object('source_id', src, 'replaced_by_source_id', coalesce(replaced_by, '')));
$$;

-- POST /sync/connect
CREATE FUNCTION electric_sync.os_api_connect(u text, src text, has_pending boolean, lease_ttl int) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE st record; iid uuid; lease timestamptz := now() + make_interval(secs => lease_ttl);
BEGIN
    PERFORM electric_sync.os_lock_user(u);
    INSERT INTO electric_sync.os_scope_state (user_id) VALUES (u) ON CONFLICT DO NOTHING;
    SELECT * INTO st FROM electric_sync.os_scope_state WHERE user_id = u FOR UPDATE;
    IF st.state = 1 AND st.lease_expires_at <= now() THEN
        UPDATE electric_sync.os_scope_state SET state = 0, initialization_id = NULL, initializer_source_id = NULL,
               lease_expires_at = NULL, updated_at = now() WHERE user_id = u;
        st.state := 0;
    END IF;
    IF st.state = 2 THEN
        RETURN json_build_object('resolution', 'remote_authoritative')::text;
    END IF;
    IF st.state = 1 AND st.initializer_source_id <> src THEN
        RETURN json_build_object('resolution', 'retry_later',
            'retry_after_seconds', greatest(1, ceil(extract(epoch FROM st.lease_expires_at - now())))::bigint,
            'lease_expires_at', electric_sync.os_ts(st.lease_expires_at))::text;
    END IF;
    IF has_pending THEN
        iid := CASE WHEN st.state = 1 THEN st.initialization_id ELSE gen_random_uuid() END;
        UPDATE electric_sync.os_scope_state SET state = 1, initialization_id = iid, initializer_source_id = src,
               lease_expires_at = lease, updated_at = now() WHERE user_id = u;
        RETURN json_build_object('resolution', 'initialize_local', 'initialization_id', iid,
                                 'lease_expires_at', electric_sync.os_ts(lease))::text;
    END IF;
    UPDATE electric_sync.os_scope_state SET state = 2, initialization_id = NULL, initializer_source_id = NULL,
           lease_expires_at = NULL, initialized_by_source_id = src, initialized_at = now(), updated_at = now()
     WHERE user_id = u;
    RETURN json_build_object('resolution', 'initialize_empty')::text;
END $$;

-- POST /sync/push-sessions
CREATE FUNCTION electric_sync.os_api_push_create(u text, src text, sbid bigint, planned int, init_id text,
                                                 push_ttl int, lease_ttl int) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE b record; st smallint; ss record; expected bigint; pid uuid := gen_random_uuid(); sess_init uuid;
BEGIN
    DELETE FROM electric_sync.os_push_sessions WHERE expires_at < now();
    PERFORM electric_sync.os_lock_user(u);
    SELECT * INTO b FROM electric_sync.os_bundle_log WHERE user_id = u AND source_id = src AND source_bundle_id = sbid;
    IF FOUND THEN
        RETURN json_build_object('status', 'already_committed', 'bundle_seq', b.bundle_seq, 'source_id', b.source_id,
            'source_bundle_id', b.source_bundle_id, 'row_count', b.row_count, 'bundle_hash', b.bundle_hash)::text;
    END IF;
    st := electric_sync.os_scope_state_of(u);
    IF st = 0 THEN
        IF init_id IS NOT NULL THEN
            PERFORM electric_sync.os_raise(410, 'initialization_expired', format('initialization %s for user %s has expired; connect again', init_id, u));
        END IF;
        PERFORM electric_sync.os_raise(409, 'scope_uninitialized', format('scope for user %s is not initialized; call /sync/connect first', u));
    ELSIF st = 1 THEN
        IF init_id IS NULL THEN
            PERFORM electric_sync.os_raise(400, 'push_session_invalid', 'initialization_id is required while the scope is initializing');
        END IF;
        PERFORM electric_sync.os_check_lease(u, src, init_id, lease_ttl);
        sess_init := init_id::uuid;
    ELSIF init_id IS NOT NULL THEN
        PERFORM electric_sync.os_raise(400, 'push_session_invalid', 'initialization_id must be absent once the scope is initialized');
    END IF;
    SELECT * INTO ss FROM electric_sync.os_source_state WHERE user_id = u AND source_id = src;
    IF ss.state = 'retired' THEN PERFORM electric_sync.os_retired_error(u, src, ss.replaced_by_source_id); END IF;
    expected := coalesce(ss.max_committed_source_bundle_id, 0) + 1;
    IF sbid < expected THEN
        PERFORM electric_sync.os_raise(409, 'history_pruned', format(
            'source_bundle_id %s of source %s was committed (max committed %s) but is no longer retained', sbid, src, expected - 1));
    ELSIF sbid > expected THEN
        PERFORM electric_sync.os_raise(409, 'source_sequence_out_of_order', format('expected next source_bundle_id %s, got %s', expected, sbid));
    END IF;
    DELETE FROM electric_sync.os_push_sessions WHERE user_id = u AND source_id = src AND source_bundle_id = sbid;
    INSERT INTO electric_sync.os_push_sessions (push_id, user_id, source_id, source_bundle_id, planned_row_count,
                                                initialization_id, expires_at)
    VALUES (pid, u, src, sbid, planned, sess_init, now() + make_interval(secs => push_ttl));
    RETURN json_build_object('push_id', pid, 'status', 'staging', 'planned_row_count', planned)::text;
END $$;

-- Loads a push session for chunk/commit/delete with the owner and expiry checks.
CREATE FUNCTION electric_sync.os_push_session_for(u text, push_id text, bad_id_status int, bad_id_code text)
RETURNS electric_sync.os_push_sessions LANGUAGE plpgsql AS $$
DECLARE s electric_sync.os_push_sessions;
BEGIN
    IF push_id !~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' THEN
        PERFORM electric_sync.os_raise(bad_id_status, bad_id_code, format('push session %s not found', push_id));
    END IF;
    SELECT * INTO s FROM electric_sync.os_push_sessions p WHERE p.push_id = os_push_session_for.push_id::uuid FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM electric_sync.os_raise(404, 'push_session_not_found', format('push session %s not found', push_id));
    END IF;
    IF s.user_id <> u THEN
        PERFORM electric_sync.os_raise(403, 'push_session_forbidden', format('push session %s belongs to another user', push_id));
    END IF;
    IF s.expires_at <= now() THEN
        PERFORM electric_sync.os_raise(410, 'push_session_expired', format('push session %s has expired', push_id));
    END IF;
    RETURN s;
END $$;

-- POST /sync/push-sessions/{push_id}/chunks. rows: validated, normalized PushRequestRows.
CREATE FUNCTION electric_sync.os_api_push_chunk(u text, src text, push_id text, start_ord int, rows jsonb,
                                                push_ttl int, lease_ttl int) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE s electric_sync.os_push_sessions; n int := jsonb_array_length(rows); r record; t electric_sync.os_tables;
        k text; p jsonb; col text; bad text;
BEGIN
    PERFORM electric_sync.os_lock_user(u);
    s := electric_sync.os_push_session_for(u, push_id, 404, 'push_session_not_found');
    IF s.initialization_id IS NOT NULL THEN
        PERFORM electric_sync.os_check_lease(u, s.source_id, s.initialization_id::text, lease_ttl);
    END IF;
    IF start_ord <> s.next_expected_row_ordinal THEN
        PERFORM electric_sync.os_raise(409, 'push_chunk_out_of_order',
            format('expected start_row_ordinal %s, got %s', s.next_expected_row_ordinal, start_ord));
    END IF;
    IF start_ord + n > s.planned_row_count THEN
        PERFORM electric_sync.os_raise(400, 'push_chunk_invalid', 'chunk exceeds planned_row_count');
    END IF;
    FOR r IN SELECT e.value AS v, e.ordinality::int - 1 AS i FROM jsonb_array_elements(rows) WITH ORDINALITY e LOOP
        SELECT * INTO t FROM electric_sync.os_tables WHERE schema_name = r.v->>'schema' AND table_name = r.v->>'table';
        IF NOT FOUND THEN
            PERFORM electric_sync.os_raise(400, 'push_chunk_invalid', format('table %s.%s is not registered', r.v->>'schema', r.v->>'table'));
        END IF;
        IF jsonb_typeof(r.v->'key'->t.key_column) IS DISTINCT FROM 'string' THEN
            PERFORM electric_sync.os_raise(400, 'push_chunk_invalid',
                format('row %s: key must contain sync key column %s as a string', start_ord + r.i, t.key_column));
        END IF;
        k := r.v->'key'->>t.key_column;
        IF t.key_kind = 'uuid' AND k !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
            PERFORM electric_sync.os_raise(400, 'push_chunk_invalid',
                format('row %s: key %s of %s.%s is not a canonical lowercase UUID', start_ord + r.i, k, t.schema_name, t.table_name));
        END IF;
        p := r.v->'payload';
        IF r.v->>'op' <> 'DELETE' THEN
            IF p ? t.key_column THEN
                IF p->>t.key_column IS DISTINCT FROM k THEN
                    PERFORM electric_sync.os_raise(400, 'push_chunk_invalid',
                        format('row %s: payload %s does not match the key', start_ord + r.i, t.key_column));
                END IF;
            ELSE
                p := p || jsonb_build_object(t.key_column, k);
            END IF;
            SELECT string_agg(c, ', ') INTO bad FROM jsonb_object_keys(p) c
             WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = t.relid AND a.attname = c
                                  AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '');
            IF bad IS NOT NULL THEN
                PERFORM electric_sync.os_raise(400, 'push_chunk_invalid',
                    format('row %s: %s.%s has no writable column %s', start_ord + r.i, t.schema_name, t.table_name, bad));
            END IF;
            FOREACH col IN ARRAY t.bytea_columns LOOP
                IF p ? col AND jsonb_typeof(p->col) <> 'null' THEN
                    IF jsonb_typeof(p->col) <> 'string' OR (p->>col) !~ '^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$' THEN
                        PERFORM electric_sync.os_raise(400, 'push_chunk_invalid',
                            format('row %s: bytea column %s must be standard base64', start_ord + r.i, col));
                    END IF;
                END IF;
            END LOOP;
        END IF;
        INSERT INTO electric_sync.os_push_rows (push_id, row_ordinal, table_id, key_text, op, base_row_version, payload)
        VALUES (s.push_id, start_ord + r.i, t.table_id, k, r.v->>'op', (r.v->>'base_row_version')::bigint,
                CASE WHEN r.v->>'op' = 'DELETE' THEN NULL ELSE p END);
    END LOOP;
    UPDATE electric_sync.os_push_sessions SET next_expected_row_ordinal = start_ord + n,
           expires_at = now() + make_interval(secs => push_ttl)
     WHERE os_push_sessions.push_id = s.push_id;
    RETURN json_build_object('push_id', s.push_id, 'next_expected_row_ordinal', start_ord + n)::text;
END $$;

-- DELETE /sync/push-sessions/{push_id}
CREATE FUNCTION electric_sync.os_api_push_delete(u text, push_id text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE s electric_sync.os_push_sessions;
BEGIN
    s := electric_sync.os_push_session_for(u, push_id, 400, 'push_chunk_invalid');
    DELETE FROM electric_sync.os_push_sessions p WHERE p.push_id = s.push_id;
    RETURN NULL;
END $$;

-- Current server row in wire form (for conflicts), or NULL.
CREATE FUNCTION electric_sync.os_server_row(t electric_sync.os_tables, u text, k text) RETURNS jsonb
LANGUAGE plpgsql SET bytea_output = 'hex' SET TimeZone = 'UTC' AS $$
DECLARE j jsonb;
BEGIN
    EXECUTE format('SELECT to_jsonb(x) - ''_sync_scope_id'' FROM %I.%I x WHERE x.%I = $1::%s AND x._sync_scope_id = $2',
                   t.schema_name, t.table_name, t.key_column, t.key_kind) INTO j USING k, u;
    RETURN electric_sync.os_canonical_json(electric_sync.os_wire_payload(j, t.bytea_columns))::jsonb;
END $$;
-- oversync write path: push commit, committed-bundle rows, pull, snapshots, status.

-- POST /sync/push-sessions/{push_id}/commit
CREATE FUNCTION electric_sync.os_api_push_commit(u text, src text, push_id text, lease_ttl int) RETURNS text
LANGUAGE plpgsql SET bytea_output = 'hex' AS $$
DECLARE
    s electric_sync.os_push_sessions; cnt int; mx int; dup int; ss record; expected bigint;
    r record; rs record; t electric_sync.os_tables; what text; srow jsonb; cols text; p jsonb; res record;
BEGIN
    PERFORM electric_sync.os_lock_user(u);
    s := electric_sync.os_push_session_for(u, push_id, 404, 'push_session_not_found');
    SELECT count(*), coalesce(max(row_ordinal), -1), count(*) - count(DISTINCT (table_id, key_text))
      INTO cnt, mx, dup FROM electric_sync.os_push_rows WHERE os_push_rows.push_id = s.push_id;
    IF cnt <> s.planned_row_count OR mx <> cnt - 1 THEN
        PERFORM electric_sync.os_raise(400, 'push_commit_invalid',
            format('push session has %s staged rows, planned_row_count is %s', cnt, s.planned_row_count));
    END IF;
    IF dup > 0 THEN
        PERFORM electric_sync.os_raise(400, 'push_commit_invalid', 'push session stages the same row more than once');
    END IF;
    SET CONSTRAINTS ALL DEFERRED;
    IF s.initialization_id IS NOT NULL THEN
        PERFORM electric_sync.os_check_lease(u, s.source_id, s.initialization_id::text, lease_ttl);
    END IF;
    SELECT * INTO ss FROM electric_sync.os_source_state WHERE user_id = u AND source_id = s.source_id FOR UPDATE;
    IF ss.state = 'retired' THEN PERFORM electric_sync.os_retired_error(u, s.source_id, ss.replaced_by_source_id); END IF;
    expected := coalesce(ss.max_committed_source_bundle_id, 0) + 1;
    IF expected <> s.source_bundle_id THEN
        PERFORM electric_sync.os_raise(409, 'source_sequence_changed',
            format('source %s advanced: expected next source_bundle_id %s, session has %s', s.source_id, expected, s.source_bundle_id));
    END IF;
    PERFORM set_config('oversync.bundle_user_id', u, true);
    PERFORM set_config('oversync.bundle_source_id', s.source_id, true);
    PERFORM set_config('oversync.bundle_source_bundle_id', s.source_bundle_id::text, true);

    -- Conflict detection, in staging order, before any write (protocol §5.3).
    FOR r IN SELECT pr.*, tt.schema_name, tt.table_name, tt.key_column
               FROM electric_sync.os_push_rows pr JOIN electric_sync.os_tables tt USING (table_id)
              WHERE pr.push_id = s.push_id ORDER BY pr.row_ordinal LOOP
        SELECT bundle_seq, deleted INTO rs FROM electric_sync.os_row_state
         WHERE user_id = u AND table_id = r.table_id AND key_text = r.key_text;
        what := NULL;
        IF NOT FOUND THEN
            IF r.op <> 'INSERT' THEN what := 'row does not exist';
            ELSIF r.base_row_version <> 0 THEN what := format('expected version 0, got %s', r.base_row_version); END IF;
        ELSIF NOT rs.deleted THEN
            IF r.op = 'INSERT' THEN what := format('row already exists at version %s', rs.bundle_seq);
            ELSIF r.base_row_version <> rs.bundle_seq THEN
                what := format('expected version %s, got %s', rs.bundle_seq, r.base_row_version);
            END IF;
        ELSE
            IF r.op <> 'INSERT' THEN what := 'row does not exist';
            ELSIF r.base_row_version <> rs.bundle_seq THEN
                what := format('expected version %s, got %s', rs.bundle_seq, r.base_row_version);
            END IF;
        END IF;
        IF what IS NOT NULL THEN
            SELECT * INTO t FROM electric_sync.os_tables WHERE table_id = r.table_id;
            srow := CASE WHEN rs.deleted IS DISTINCT FROM false THEN NULL ELSE electric_sync.os_server_row(t, u, r.key_text) END;
            PERFORM electric_sync.os_raise(409, 'push_conflict',
                format('%s conflict on %s.%s %s: %s', lower(r.op), r.schema_name, r.table_name, r.key_text, what),
                jsonb_build_object('conflict', jsonb_build_object(
                    'schema', r.schema_name, 'table', r.table_name, 'key', jsonb_build_object(r.key_column, r.key_text),
                    'op', r.op, 'base_row_version', r.base_row_version,
                    'server_row_version', coalesce(rs.bundle_seq, 0), 'server_row_deleted', coalesce(rs.deleted, false),
                    'server_row', srow)));
        END IF;
    END LOOP;

    -- Apply in staging order. UPDATE sets only the columns present in the payload.
    FOR r IN SELECT pr.*, tt.schema_name, tt.table_name, tt.key_column, tt.key_kind, tt.bytea_columns
               FROM electric_sync.os_push_rows pr JOIN electric_sync.os_tables tt USING (table_id)
              WHERE pr.push_id = s.push_id ORDER BY pr.row_ordinal LOOP
        IF r.op = 'DELETE' THEN
            EXECUTE format('DELETE FROM %I.%I WHERE %I = $1::%s AND _sync_scope_id = $2',
                           r.schema_name, r.table_name, r.key_column, r.key_kind) USING r.key_text, u;
            CONTINUE;
        END IF;
        p := electric_sync.os_db_payload(r.payload, r.bytea_columns);
        SELECT string_agg(quote_ident(c), ', ' ORDER BY c) INTO cols FROM jsonb_object_keys(p) c;
        IF r.op = 'INSERT' THEN
            EXECUTE format('INSERT INTO %I.%I (%s, _sync_scope_id) SELECT %s, $2 FROM jsonb_populate_record(NULL::%I.%I, $1)',
                           r.schema_name, r.table_name, cols, cols, r.schema_name, r.table_name) USING p, u;
        ELSE
            EXECUTE format('UPDATE %I.%I SET (%s) = (SELECT %s FROM jsonb_populate_record(NULL::%I.%I, $1)) '
                           'WHERE %I = $2::%s AND _sync_scope_id = $3',
                           r.schema_name, r.table_name, cols, cols, r.schema_name, r.table_name,
                           r.key_column, r.key_kind) USING p, r.key_text, u;
        END IF;
    END LOOP;

    SELECT * INTO res FROM electric_sync.os_finalize_tx() f WHERE f.user_id = u;
    IF res.bundle_seq IS NULL THEN
        PERFORM electric_sync.os_raise(400, 'push_commit_invalid', 'push captured no changes (all rows collapsed)');
    END IF;
    DELETE FROM electric_sync.os_push_sessions p WHERE p.push_id = s.push_id;
    IF s.initialization_id IS NOT NULL THEN
        UPDATE electric_sync.os_scope_state SET state = 2, initialization_id = NULL, initializer_source_id = NULL,
               lease_expires_at = NULL, initialized_by_source_id = s.source_id, initialized_at = now(), updated_at = now()
         WHERE user_id = u;
    END IF;
    PERFORM set_config('oversync.bundle_user_id', '', true);
    PERFORM set_config('oversync.bundle_source_id', '', true);
    PERFORM set_config('oversync.bundle_source_bundle_id', '', true);
    RETURN json_build_object('bundle_seq', res.bundle_seq, 'source_id', res.source_id, 'source_bundle_id', res.source_bundle_id,
                             'row_count', res.row_count, 'bundle_hash', res.bundle_hash)::text;
END $$;

-- GET /sync/committed-bundles/{bundle_seq}/rows. after: NULL = from the start.
CREATE FUNCTION electric_sync.os_api_committed_rows(u text, seq bigint, after bigint, max_rows int) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE b record; fl bigint; a bigint := coalesce(after, -1); body text; n int; more boolean;
BEGIN
    IF seq <= 0 THEN
        PERFORM electric_sync.os_raise(400, 'committed_bundle_chunk_invalid', 'bundle_seq must be positive');
    END IF;
    SELECT retained_floor INTO fl FROM electric_sync.os_user_state WHERE user_id = u;
    IF seq <= coalesce(fl, 0) THEN
        PERFORM nextval('electric_sync.os_history_pruned_error_seq');
        PERFORM electric_sync.os_raise(409, 'history_pruned',
            format('bundle %s is older than retained history floor %s for user %s', seq, fl, u));
    END IF;
    SELECT * INTO b FROM electric_sync.os_bundle_log WHERE user_id = u AND bundle_seq = seq;
    IF NOT FOUND THEN
        PERFORM electric_sync.os_raise(404, 'committed_bundle_not_found', format('committed bundle %s not found', seq));
    END IF;
    SELECT string_agg(electric_sync.os_row_json(x.schema_name, x.table_name, x.key_json, x.op, seq, x.payload), ',' ORDER BY x.row_ordinal),
           count(*)
      INTO body, n
      FROM (SELECT * FROM electric_sync.os_bundle_rows r WHERE r.user_id = u AND r.bundle_seq = seq AND r.row_ordinal > a
             ORDER BY r.row_ordinal LIMIT max_rows) x;
    more := EXISTS (SELECT 1 FROM electric_sync.os_bundle_rows r WHERE r.user_id = u AND r.bundle_seq = seq
                      AND r.row_ordinal > a + n);
    RETURN '{"bundle_seq":' || b.bundle_seq || ',"source_id":' || to_json(b.source_id)::text
        || ',"source_bundle_id":' || b.source_bundle_id || ',"row_count":' || b.row_count
        || ',"bundle_hash":"' || b.bundle_hash || '","rows":[' || coalesce(body, '') || ']'
        || ',"next_row_ordinal":' || CASE WHEN n > 0 THEN a + n ELSE coalesce(after, 0) END
        || ',"has_more":' || more || '}';
END $$;

-- GET /sync/pull (called in a REPEATABLE READ transaction)
CREATE FUNCTION electric_sync.os_api_pull(u text, after bigint, max_bundles int, target bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE us record; stable bigint; body text; n int; last_seq bigint; more boolean;
BEGIN
    PERFORM electric_sync.os_require_initialized(u);
    SELECT * INTO us FROM electric_sync.os_user_state WHERE user_id = u;
    IF NOT FOUND THEN
        RETURN '{"stable_bundle_seq":0,"bundles":[],"has_more":false}';
    END IF;
    IF (after > 0 AND after <= us.retained_floor) OR (target > 0 AND target <= us.retained_floor) THEN
        PERFORM nextval('electric_sync.os_history_pruned_error_seq');
        PERFORM electric_sync.os_raise(409, 'history_pruned',
            format('requested checkpoint %s is older than retained history floor %s for user %s',
                   CASE WHEN after > 0 AND after <= us.retained_floor THEN after ELSE target END, us.retained_floor, u));
    END IF;
    -- (a ceiling above the latest bundle is clamped: a checkpoint must never skip future bundles)
    stable := CASE WHEN target > 0 THEN least(target, us.next_bundle_seq - 1) ELSE us.next_bundle_seq - 1 END;
    IF after >= stable THEN
        RETURN '{"stable_bundle_seq":' || stable || ',"bundles":[],"has_more":false}';
    END IF;
    SELECT string_agg('{"bundle_seq":' || b.bundle_seq || ',"source_id":' || to_json(b.source_id)::text
               || ',"source_bundle_id":' || b.source_bundle_id || ',"row_count":' || b.row_count
               || ',"bundle_hash":"' || b.bundle_hash || '","rows":['
               || coalesce((SELECT string_agg(electric_sync.os_row_json(r.schema_name, r.table_name, r.key_json, r.op,
                                                                         b.bundle_seq, r.payload), ',' ORDER BY r.row_ordinal)
                              FROM electric_sync.os_bundle_rows r WHERE r.user_id = u AND r.bundle_seq = b.bundle_seq), '')
               || ']}', ',' ORDER BY b.bundle_seq), count(*), max(b.bundle_seq)
      INTO body, n, last_seq
      FROM (SELECT * FROM electric_sync.os_bundle_log l
             WHERE l.user_id = u AND l.bundle_seq > greatest(after, us.retained_floor) AND l.bundle_seq <= stable
             ORDER BY l.bundle_seq LIMIT max_bundles) b;
    more := n > 0 AND EXISTS (SELECT 1 FROM electric_sync.os_bundle_log l WHERE l.user_id = u
                                AND l.bundle_seq > last_seq AND l.bundle_seq <= stable);
    RETURN '{"stable_bundle_seq":' || stable || ',"bundles":[' || coalesce(body, '') || '],"has_more":' || coalesce(more, false) || '}';
END $$;

-- POST /sync/snapshot-sessions (REPEATABLE READ). repl: the validated source_replacement or NULL.
CREATE FUNCTION electric_sync.os_api_snapshot_create(u text, src text, repl jsonb, ttl int,
                                                     max_rows bigint, max_bytes bigint) RETURNS text
LANGUAGE plpgsql SET bytea_output = 'hex' SET TimeZone = 'UTC' AS $$
DECLARE
    prev text := repl->>'previous_source_id'; nsrc text := repl->>'new_source_id'; old record; nw record;
    sid uuid := gen_random_uuid(); seq bigint; t electric_sync.os_tables; cnt bigint := 0; bytes bigint; exp timestamptz;
BEGIN
    DELETE FROM electric_sync.os_snapshot_sessions WHERE expires_at < now();
    PERFORM electric_sync.os_require_initialized(u);
    IF repl IS NOT NULL THEN
        PERFORM electric_sync.os_lock_user(u);
        SELECT * INTO old FROM electric_sync.os_source_state WHERE user_id = u AND source_id = prev FOR UPDATE;
        SELECT * INTO nw FROM electric_sync.os_source_state WHERE user_id = u AND source_id = nsrc FOR UPDATE;
        IF old.state = 'retired' THEN
            IF old.replaced_by_source_id IS DISTINCT FROM nsrc THEN
                PERFORM electric_sync.os_retired_error(u, prev, old.replaced_by_source_id);
            END IF;
            IF nw.state = 'retired' THEN
                PERFORM electric_sync.os_raise(409, 'source_replacement_invalid', format('new source %s is retired', nsrc));
            END IF;
            INSERT INTO electric_sync.os_source_state (user_id, source_id, state) VALUES (u, nsrc, 'reserved') ON CONFLICT DO NOTHING;
        ELSE
            IF nw.source_id IS NOT NULL THEN
                PERFORM electric_sync.os_raise(409, 'source_replacement_invalid',
                    format('new source %s is already known for user %s', nsrc, u));
            END IF;
            INSERT INTO electric_sync.os_source_state (user_id, source_id, state) VALUES (u, nsrc, 'reserved');
            INSERT INTO electric_sync.os_source_state (user_id, source_id, state, replaced_by_source_id, retirement_reason)
            VALUES (u, prev, 'retired', nsrc, repl->>'reason')
            ON CONFLICT (user_id, source_id) DO UPDATE SET state = 'retired', replaced_by_source_id = EXCLUDED.replaced_by_source_id,
                retirement_reason = EXCLUDED.retirement_reason, updated_at = now();
        END IF;
    END IF;
    seq := coalesce((SELECT next_bundle_seq - 1 FROM electric_sync.os_user_state WHERE user_id = u), 0);
    exp := now() + make_interval(secs => ttl);
    INSERT INTO electric_sync.os_snapshot_sessions (snapshot_id, user_id, snapshot_bundle_seq, row_count, byte_count, expires_at)
    VALUES (sid, u, seq, 0, 0, exp);
    FOR t IN SELECT * FROM electric_sync.os_tables ORDER BY table_id LOOP
        EXECUTE format($q$
            INSERT INTO electric_sync.os_snapshot_rows (snapshot_id, row_ordinal, schema_name, table_name, key_json, row_version, payload)
            SELECT $1, $3 + row_number() OVER (ORDER BY x.k COLLATE "C"), %L, %L,
                   electric_sync.os_canonical_json(jsonb_build_object(%L, x.k)),
                   coalesce((SELECT rs.bundle_seq FROM electric_sync.os_row_state rs
                              WHERE rs.user_id = $2 AND rs.table_id = %s AND rs.key_text = x.k), greatest($4, 1)),
                   electric_sync.os_canonical_json(electric_sync.os_wire_payload(x.p, $5))
              FROM (SELECT y.%I::text AS k, to_jsonb(y) - '_sync_scope_id' AS p FROM %I.%I y WHERE y._sync_scope_id = $2) x$q$,
            t.schema_name, t.table_name, t.key_column, t.table_id, t.key_column, t.schema_name, t.table_name)
        USING sid, u, cnt, seq, t.bytea_columns;
        cnt := (SELECT count(*) FROM electric_sync.os_snapshot_rows WHERE snapshot_id = sid);
    END LOOP;
    SELECT coalesce(sum(octet_length(payload)), 0) INTO bytes FROM electric_sync.os_snapshot_rows WHERE snapshot_id = sid;
    IF (max_rows > 0 AND cnt > max_rows) OR (max_bytes > 0 AND bytes > max_bytes) THEN
        PERFORM electric_sync.os_raise(500, 'snapshot_session_create_failed',
            format('snapshot of %s rows / %s bytes exceeds the configured limits', cnt, bytes));
    END IF;
    UPDATE electric_sync.os_snapshot_sessions SET row_count = cnt, byte_count = bytes WHERE snapshot_id = sid;
    RETURN json_build_object('snapshot_id', sid, 'snapshot_bundle_seq', seq, 'row_count', cnt, 'byte_count', bytes,
                             'expires_at', electric_sync.os_ts(exp))::text;
END $$;

CREATE FUNCTION electric_sync.os_snapshot_for(u text, snapshot_id text, check_expiry boolean)
RETURNS electric_sync.os_snapshot_sessions LANGUAGE plpgsql AS $$
DECLARE s electric_sync.os_snapshot_sessions;
BEGIN
    IF snapshot_id ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' THEN
        SELECT * INTO s FROM electric_sync.os_snapshot_sessions x WHERE x.snapshot_id = os_snapshot_for.snapshot_id::uuid;
    END IF;
    IF s.snapshot_id IS NULL THEN
        PERFORM electric_sync.os_raise(404, 'snapshot_session_not_found', format('snapshot session %s not found', snapshot_id));
    END IF;
    IF s.user_id <> u THEN
        PERFORM electric_sync.os_raise(403, 'snapshot_session_forbidden', format('snapshot session %s belongs to another user', snapshot_id));
    END IF;
    IF check_expiry AND s.expires_at <= now() THEN
        PERFORM electric_sync.os_raise(410, 'snapshot_session_expired', format('snapshot session %s has expired', snapshot_id));
    END IF;
    RETURN s;
END $$;

-- GET /sync/snapshot-sessions/{snapshot_id}
CREATE FUNCTION electric_sync.os_api_snapshot_chunk(u text, snapshot_id text, after bigint, max_rows int) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE s electric_sync.os_snapshot_sessions; body text; n int;
BEGIN
    s := electric_sync.os_snapshot_for(u, snapshot_id, true);
    SELECT string_agg(electric_sync.os_row_json(x.schema_name, x.table_name, x.key_json, NULL, x.row_version, x.payload), ',' ORDER BY x.row_ordinal),
           count(*) INTO body, n
      FROM (SELECT * FROM electric_sync.os_snapshot_rows r WHERE r.snapshot_id = s.snapshot_id AND r.row_ordinal > after
             ORDER BY r.row_ordinal LIMIT max_rows) x;
    RETURN '{"snapshot_id":"' || s.snapshot_id || '","snapshot_bundle_seq":' || s.snapshot_bundle_seq
        || ',"rows":[' || coalesce(body, '') || '],"next_row_ordinal":' || (after + n)
        || ',"has_more":' || (after + n < s.row_count) || '}';
END $$;

-- DELETE /sync/snapshot-sessions/{snapshot_id}
CREATE FUNCTION electric_sync.os_api_snapshot_delete(u text, snapshot_id text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE s electric_sync.os_snapshot_sessions;
BEGIN
    s := electric_sync.os_snapshot_for(u, snapshot_id, false);
    DELETE FROM electric_sync.os_snapshot_sessions x WHERE x.snapshot_id = s.snapshot_id;
    RETURN NULL;
END $$;

-- Registered tables for capabilities and status.
CREATE FUNCTION electric_sync.os_api_registered() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'registered_tables', coalesce((SELECT json_agg(schema_name || '.' || table_name ORDER BY schema_name || '.' || table_name COLLATE "C")
                                         FROM electric_sync.os_tables), '[]'::json),
        'registered_table_specs', coalesce((SELECT json_agg(json_build_object('schema', schema_name, 'table', table_name,
                                                   'sync_key_columns', json_build_array(key_column))
                                                   ORDER BY schema_name || '.' || table_name COLLATE "C")
                                              FROM electric_sync.os_tables), '[]'::json))::text
$$;

-- GET /syncx/status: the database counters.
CREATE FUNCTION electric_sync.os_api_status() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'registered_tables', coalesce((SELECT json_agg(schema_name || '.' || table_name ORDER BY schema_name || '.' || table_name COLLATE "C")
                                         FROM electric_sync.os_tables), '[]'::json),
        'user_state_retention_floor_ahead_count', (SELECT count(*) FROM electric_sync.os_user_state WHERE retained_floor > next_bundle_seq - 1),
        'latest_bundle_seq_max', (SELECT coalesce(max(next_bundle_seq - 1), 0) FROM electric_sync.os_user_state),
        'retained_bundle_floor_min', (SELECT coalesce(min(retained_floor), 0) FROM electric_sync.os_user_state),
        'retained_bundle_floor_max', (SELECT coalesce(max(retained_floor), 0) FROM electric_sync.os_user_state),
        'retained_bundle_window_min', (SELECT coalesce(min(next_bundle_seq - 1 - retained_floor), 0) FROM electric_sync.os_user_state),
        'retained_bundle_window_max', (SELECT coalesce(max(next_bundle_seq - 1 - retained_floor), 0) FROM electric_sync.os_user_state),
        'history_pruned_error_count', (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM electric_sync.os_history_pruned_error_seq),
        'accepted_push_replay_count', (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM electric_sync.os_accepted_push_replay_seq),
        'rejected_registered_write_count', (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM electric_sync.os_rejected_registered_write_seq),
        'committed_bundle_count', (SELECT count(*) FROM electric_sync.os_bundle_log),
        'committed_bundle_bytes', (SELECT coalesce(sum(byte_count), 0) FROM electric_sync.os_bundle_log))::text
$$;

-- Nothing of the write path is callable by ordinary roles: the HTTP service connects as a
-- superuser; applications write the registered tables (triggers run as their definer).
DO $$
DECLARE f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE n.nspname = 'electric_sync' AND (p.proname LIKE 'os\_%' OR p.proname LIKE 'oversync\_%') LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END $$;
