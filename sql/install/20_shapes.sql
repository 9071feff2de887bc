
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
    where_clause   text,                            -- canonical form, deparsed by Postgres with $n (NULL = no where)
    params         text[],                          -- $1..$n values as text (NULL = none)
    columns        text[],                          -- selected columns in table order (NULL = all)
    replica        text NOT NULL DEFAULT 'default' CHECK (replica IN ('default', 'full')),
    log_mode       text NOT NULL DEFAULT 'full' CHECK (log_mode IN ('full', 'changes_only')),
    schema_json    text NOT NULL,                   -- exact electric-schema header value
    pk_columns     text[] NOT NULL,                 -- PK in key order; all columns when no PK
    rel_signature  text NOT NULL,                   -- relation layout at creation (DDL invalidation)
    status         text NOT NULL DEFAULT 'active',
    created_at     timestamptz NOT NULL DEFAULT now(),
    invalidated_at timestamptz,
    invalid_reason text,
    -- The where clause as snapshots run it: deparsed from the analyzed tree with the params as
    -- typed constants; '' when it calls allow-listed functions (rows are then filtered by
    -- _where_check); NULL = no where, or a shape created before 0.3.0 (computed on use).
    where_sql      text,
    -- Authorized shapes (docs/authorization.md): the role the shape is read as, and that role's
    -- row-level security policies compiled with the reader's claims (deparsed, and-ed to the
    -- where clause; NULL = no policy applies). Both NULL: an unrestricted shape.
    read_role      text,
    policy_where   text,
    -- Authorized shapes: electric_sync._reader_role_state(read_role) when the shape was made
    -- (the role's attributes and memberships); a shape whose role's state differs is invalidated.
    read_role_state text,
    -- 'failed': stopped by the worker (its where exceeded electric_sync.where_eval_timeout);
    -- invalid_reason says why.
    CONSTRAINT shapes_status_check CHECK (status IN ('active', 'deleted', 'invalidated', 'failed'))
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

-- A message to the worker's engine, in the change stream (a transactional logical decoding
-- message, without needing EXECUTE on pg_logical_emit_message). kind: shape_created,
-- shape_snapshot, shape_deleted, shape_invalidated or devices_changed (src/core/common/engine_message.hpp; any
-- other kind is an error); detail: free text (a reason), or NULL.
CREATE FUNCTION electric_sync._emit_message(kind text, shape_id bigint, detail text DEFAULT NULL)
RETURNS pg_lsn
AS 'MODULE_PATHNAME', 'es_emit_message' LANGUAGE C VOLATILE;

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
    log_mode text DEFAULT 'full',
    read_role text DEFAULT NULL,
    claims text DEFAULT NULL)
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
    PERFORM electric_sync._emit_message('shape_invalidated', p_shape_id, p_reason);
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
    PERFORM electric_sync._emit_message('shape_deleted', v_id);
    RETURN true;
END
$$;

REVOKE EXECUTE ON FUNCTION electric_sync.create_shape(text, text, text[], text, text[], text, text, text),
                           electric_sync.validate_shape(text, text, text[], text, text[], text),
                           electric_sync.delete_shape(text),
                           electric_sync._invalidate_shape(bigint, text),
                           electric_sync._emit_message(text, bigint, text),
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
-- (Event triggers run their functions without an EXECUTE check; nobody calls them directly.)
REVOKE ALL ON FUNCTION electric_sync._on_ddl_command_end(), electric_sync._on_sql_drop(),
                       electric_sync._relation_signature(oid) FROM PUBLIC;
