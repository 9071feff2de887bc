-- electric_sync 0.2.0 -> 0.3.0
\echo Use "ALTER EXTENSION electric_sync UPDATE" to load this file. \quit

-- Shapes: the executable where clause, and the 'failed' status (where evaluation limit).
ALTER TABLE electric_sync.shapes ADD COLUMN where_sql text;
ALTER TABLE electric_sync.shapes DROP CONSTRAINT shapes_status_check;
ALTER TABLE electric_sync.shapes ADD CONSTRAINT shapes_status_check
    CHECK (status IN ('active', 'deleted', 'invalidated', 'failed'));
-- ============================================================================================
-- What a shape's where clause may run, and as whom (docs/security.md).
-- ============================================================================================

-- Every where clause is analyzed, folded and evaluated as this role, in a security-restricted
-- operation: not a superuser, no login, no rights of its own beyond reading data (snapshots
-- read the shape's table as it; pg_read_all_data and BYPASSRLS keep what they return equal to
-- what the worker streams). Roles belong to the cluster: one role serves every database, and
-- it stays after DROP EXTENSION.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'electric_sync_where') THEN
        CREATE ROLE electric_sync_where NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION INHERIT BYPASSRLS;
    END IF;
END
$$;
GRANT pg_read_all_data TO electric_sync_where;

-- Functions other than the built-in ones that where clauses may call, kept by a superuser.
-- fn is a pg_proc oid (not regprocedure: reg* columns would block pg_upgrade).
CREATE TABLE electric_sync.where_functions (
    fn        oid PRIMARY KEY,
    signature text NOT NULL,            -- fn::regprocedure when it was allowed
    added_at  timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON electric_sync.where_functions FROM PUBLIC;

-- Allows one function in where clauses. It must be an immutable plain function, not SECURITY
-- DEFINER; it runs as electric_sync_where, which needs EXECUTE on it (PUBLIC has it by default).
CREATE FUNCTION electric_sync.allow_where_function(fn regprocedure)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p record;
BEGIN
    SELECT prosecdef, provolatile, prokind INTO p FROM pg_proc WHERE oid = fn;
    IF p.prokind <> 'f' THEN
        RAISE EXCEPTION 'function % is not a plain function', fn
              USING ERRCODE = 'wrong_object_type', HINT = 'Aggregates, window functions and procedures cannot be used in a where clause.';
    END IF;
    IF p.prosecdef THEN
        RAISE EXCEPTION 'function % is SECURITY DEFINER', fn
              USING ERRCODE = 'insufficient_privilege', HINT = 'Where clauses never run code with another role''s rights.';
    END IF;
    IF p.provolatile <> 'i' THEN
        RAISE EXCEPTION 'function % is not IMMUTABLE', fn
              USING ERRCODE = 'invalid_parameter_value', HINT = 'Each change is matched once, so a where clause may only call immutable functions.';
    END IF;
    INSERT INTO electric_sync.where_functions (fn, signature) VALUES ($1, $1::text)
        ON CONFLICT ON CONSTRAINT where_functions_pkey DO NOTHING;
END
$$;

-- Allows every immutable, non-SECURITY DEFINER plain function of an installed extension
-- (for example citext or PostGIS operators). Returns how many were added.
CREATE FUNCTION electric_sync.allow_where_functions_of_extension(ext name)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = ext) THEN
        RAISE EXCEPTION 'extension "%" is not installed', ext USING ERRCODE = 'undefined_object';
    END IF;
    INSERT INTO electric_sync.where_functions (fn, signature)
    SELECT p.oid, p.oid::regprocedure::text
      FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
     WHERE d.classid = 'pg_proc'::regclass AND d.refclassid = 'pg_extension'::regclass
       AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = ext) AND d.deptype = 'e'
       AND p.prokind = 'f' AND p.provolatile = 'i' AND NOT p.prosecdef
    ON CONFLICT ON CONSTRAINT where_functions_pkey DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- Takes a function off the list. Active shapes whose where clause may call it (by name) are
-- invalidated, so their clients re-sync under the new rule. Returns false if it was not listed.
CREATE FUNCTION electric_sync.disallow_where_function(fn regprocedure)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_name text := (SELECT proname FROM pg_proc WHERE oid = fn);
BEGIN
    DELETE FROM electric_sync.where_functions w WHERE w.fn = $1;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM electric_sync._invalidate_shape(s.shape_id, 'where function disallowed')
       FROM electric_sync.shapes s
      WHERE s.status = 'active' AND strpos(s.where_clause, v_name) > 0
      ORDER BY s.shape_id;
    RETURN true;
END
$$;

-- The where clause as snapshot and subset queries run it (see es_where_sql).
CREATE FUNCTION electric_sync._where_sql(tbl regclass, where_clause text, params text[] DEFAULT NULL,
                                        read_role text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'es_where_sql' LANGUAGE C VOLATILE;

REVOKE ALL ON FUNCTION electric_sync.allow_where_function(regprocedure),
                       electric_sync.allow_where_functions_of_extension(name),
                       electric_sync.disallow_where_function(regprocedure),
                       electric_sync._where_sql(regclass, text, text[], text)
    FROM PUBLIC;

-- A where clause evaluated on one row, as electric_sync_where, security-restricted: how
-- snapshot and subset queries filter rows when the clause calls allow-listed functions.
CREATE FUNCTION electric_sync._where_check(tbl regclass, where_clause text, params text[], r record)
RETURNS boolean
AS 'MODULE_PATHNAME', 'es_where_check' LANGUAGE C STABLE COST 1000;
REVOKE ALL ON FUNCTION electric_sync._where_check(regclass, text, text[], record) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION electric_sync._where_check(regclass, text, text[], record) TO electric_sync_where;

-- ============================================================================================
-- oversync: settings, retention floor vs pruning, reset and inspection (docs/oversync.md).
-- The limits, TTLs and retention are electric_sync.oversync_* settings (src/extension/guc_oversync.cpp),
-- read with current_setting(); the os_settings table of 0.2.0 goes (its two rows were the
-- defaults unless changed by hand: re-apply a changed value with ALTER SYSTEM). A history-pruned
-- check on the pull's resolved stable seq and on push replays; oversync_set_retention_floor no
-- longer deletes (oversync_prune does); oversync_reset and the oversync_* views are new.
-- Generated from sql/install/5*_oversync_*.sql (same text, so extension_upgrade matches).
-- ============================================================================================
CREATE OR REPLACE FUNCTION electric_sync.os_setting(name text) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT current_setting('electric_sync.oversync_' || name)::bigint
$$;
CREATE OR REPLACE FUNCTION electric_sync.os_ttl(name text) RETURNS interval LANGUAGE sql STABLE AS $$
    SELECT current_setting('electric_sync.oversync_' || name)::interval
$$;
CREATE OR REPLACE FUNCTION electric_sync.os_finalize_tx()
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
    st record; n int; h text; keep bigint; batch bigint; target bigint; nfl bigint;
BEGIN
    -- Nothing captured since this transaction's last finalization (the capture trigger sets
    -- oversync.capture_txid, finalization clears it; both roll back with a subtransaction):
    -- nothing to do (the deferred trigger after a push commit, exec_write's first call).
    IF coalesce(current_setting('oversync.capture_txid', true), '') = '' THEN RETURN; END IF;
    DELETE FROM electric_sync.os_capture_marker m WHERE m.txid = tx;
    PERFORM set_config('oversync.capture_txid', '', true);
    FOR u IN SELECT DISTINCT c.user_id FROM electric_sync.os_capture c WHERE c.txid = tx ORDER BY 1 LOOP
        -- One pass: take the user's captured changes out of os_capture and collapse them per
        -- row (first op, last op and last payload in capture order).
        WITH d AS (DELETE FROM electric_sync.os_capture c WHERE c.txid = tx AND c.user_id = u
                   RETURNING c.ord, c.table_id, c.key_text, c.op, c.payload),
             g AS (SELECT d.table_id, d.key_text, min(d.ord) AS first_ord,
                          (array_agg(d.op ORDER BY d.ord))[1] AS fop,
                          (array_agg(d.op ORDER BY d.ord DESC))[1] AS lop,
                          (array_agg(d.payload ORDER BY d.ord DESC))[1] AS lpayload
                     FROM d GROUP BY d.table_id, d.key_text)
        SELECT array_agg(ROW(g.table_id, g.key_text,
                             CASE WHEN g.lop = 3 THEN 'DELETE'
                                  WHEN g.fop = 1 THEN 'INSERT'
                                  WHEN rs.deleted IS DISTINCT FROM false THEN 'INSERT'  -- never synced before
                                  ELSE 'UPDATE' END,
                             CASE WHEN g.lop = 3 THEN NULL ELSE g.lpayload END)::electric_sync.os_frow
                         ORDER BY g.first_ord, g.table_id, g.key_text)
          INTO rows
          FROM g
          -- LATERAL ... LIMIT 1: one primary-key probe per row, whatever the (often stale)
          -- statistics say (without the LIMIT the planner may flatten it into a join that reads
          -- every row state of the user, which grows with the user's rows)
          LEFT JOIN LATERAL (SELECT r0.deleted FROM electric_sync.os_row_state r0
                              WHERE r0.user_id = u AND r0.table_id = g.table_id AND r0.key_text = g.key_text
                              LIMIT 1) rs ON true
         WHERE NOT (g.fop = 1 AND g.lop = 3);
        CONTINUE WHEN rows IS NULL;

        -- The user's row lock serializes all bundles of one user (gapless, ordered bundle_seq).
        UPDATE electric_sync.os_user_state s SET next_bundle_seq = s.next_bundle_seq + 1
         WHERE s.user_id = u RETURNING s.next_bundle_seq - 1, s.retained_floor INTO seq, fl;
        IF NOT FOUND THEN
            INSERT INTO electric_sync.os_user_state AS s (user_id) VALUES (u) ON CONFLICT DO NOTHING;
            UPDATE electric_sync.os_user_state s SET next_bundle_seq = s.next_bundle_seq + 1
             WHERE s.user_id = u RETURNING s.next_bundle_seq - 1, s.retained_floor INTO seq, fl;
        END IF;

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

        -- One statement: the bundle's rows in wire form and its canonical JSON (computed once),
        -- the log entry with its hash, the rows, the row states and the writer's source state.
        WITH b AS MATERIALIZED (SELECT (r.ord - 1)::int AS ro, t.schema_name, t.table_name,
                                       electric_sync.os_canonical_json(jsonb_build_object(t.key_column, r.key_text)) AS kj, r.op,
                                       CASE WHEN r.op = 'DELETE' THEN NULL
                                            ELSE electric_sync.os_canonical_json(electric_sync.os_wire_payload(r.payload, t.bytea_columns)) END AS pl
                                  FROM unnest(rows) WITH ORDINALITY r(table_id, key_text, op, payload, ord)
                                  JOIN electric_sync.os_tables t ON t.table_id = r.table_id),
             c AS (SELECT '[' || string_agg(electric_sync.os_canonical_json(jsonb_build_object(
                              'key', b.kj::jsonb, 'op', b.op, 'payload', b.pl::jsonb,
                              'row_ordinal', b.ro, 'row_version', seq,
                              'schema', b.schema_name, 'table', b.table_name)), ',' ORDER BY b.ro) || ']' AS canon,
                          count(*)::int AS n
                     FROM b),
             l AS (INSERT INTO electric_sync.os_bundle_log (user_id, bundle_seq, source_id, source_bundle_id, row_count, byte_count, bundle_hash)
                   SELECT u, seq, src, sbid, c.n, octet_length(c.canon), encode(sha256(convert_to(c.canon, 'UTF8')), 'hex') FROM c
                   RETURNING os_bundle_log.row_count AS n, os_bundle_log.bundle_hash AS h),
             br AS (INSERT INTO electric_sync.os_bundle_rows (user_id, bundle_seq, row_ordinal, schema_name, table_name, key_json, op, payload)
                    SELECT u, seq, b.ro, b.schema_name, b.table_name, b.kj, b.op, b.pl FROM b),
             rst AS (INSERT INTO electric_sync.os_row_state AS rs (user_id, table_id, key_text, bundle_seq, deleted)
                     SELECT u, r.table_id, r.key_text, seq, r.op = 'DELETE' FROM unnest(rows) r
                     ON CONFLICT ON CONSTRAINT os_row_state_pkey
                     DO UPDATE SET bundle_seq = EXCLUDED.bundle_seq, deleted = EXCLUDED.deleted),
             sst AS (INSERT INTO electric_sync.os_source_state AS s (user_id, source_id, state, max_committed_source_bundle_id)
                     VALUES (u, src, 'active', sbid)
                     ON CONFLICT ON CONSTRAINT os_source_state_pkey
                     DO UPDATE SET state = 'active', max_committed_source_bundle_id = EXCLUDED.max_committed_source_bundle_id,
                                   updated_at = now())
        SELECT l.n, l.h INTO n, h FROM l;

        -- Retention: keep oversync_retained_bundles_per_user bundles (0 = keep all); the floor
        -- moves by at most oversync_retention_prune_batch per commit, and the bundles it moves
        -- past are deleted. Bundles already below the old floor (left by
        -- oversync_set_retention_floor) are oversync_prune's job.
        keep := electric_sync.os_setting('retained_bundles_per_user');
        batch := electric_sync.os_setting('retention_prune_batch');
        target := seq - keep;
        IF keep > 0 AND target > fl THEN
            nfl := least(target, fl + greatest(batch, 1));
            UPDATE electric_sync.os_user_state s SET retained_floor = nfl WHERE s.user_id = u;
            DELETE FROM electric_sync.os_bundle_log b WHERE b.user_id = u AND b.bundle_seq > fl AND b.bundle_seq <= nfl;
            fl := nfl;
        END IF;

        PERFORM pg_notify('oversync_bundle_change_v1',
            json_build_object('user_id', u, 'bundle_seq', seq, 'source_id', src, 'source_bundle_id', sbid)::text);

        user_id := u; bundle_seq := seq; source_id := src; source_bundle_id := sbid;
        row_count := n; bundle_hash := h;
        RETURN NEXT;
    END LOOP;
    -- (every captured row of tx is gone: each user's pass above deleted its rows)
END $$;
CREATE OR REPLACE FUNCTION electric_sync.os_finalize_trigger() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- (most often a push commit or exec_write has finalized already: skip the call)
    IF coalesce(current_setting('oversync.capture_txid', true), '') <> '' THEN
        PERFORM electric_sync.os_finalize_tx();
    END IF;
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION electric_sync.oversync_set_retention_floor(scope_id text, new_floor bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE us record; stored bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM electric_sync.os_user_state WHERE user_id = scope_id) THEN
        RAISE EXCEPTION 'oversync: user % has no write-path state', scope_id USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM electric_sync.os_lock_user(scope_id);
    SELECT * INTO us FROM electric_sync.os_user_state WHERE user_id = scope_id;
    IF new_floor IS NULL OR new_floor < 0 OR new_floor > us.next_bundle_seq - 1 THEN
        RAISE EXCEPTION 'oversync: floor % is outside 0..%', new_floor, us.next_bundle_seq - 1
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF new_floor < us.retained_floor THEN
        SELECT count(*) INTO stored FROM electric_sync.os_bundle_log
         WHERE user_id = scope_id AND bundle_seq > new_floor AND bundle_seq <= us.retained_floor;
        IF stored <> us.retained_floor - new_floor THEN
            RAISE EXCEPTION 'oversync: cannot lower the floor of % to %: bundles above it were pruned', scope_id, new_floor
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'The floor can move back only over bundles that are still stored.';
        END IF;
    END IF;
    UPDATE electric_sync.os_user_state SET retained_floor = new_floor WHERE user_id = scope_id;
    RETURN new_floor;
END $$;
CREATE OR REPLACE FUNCTION electric_sync.os_api_connect(u text, src text, has_pending boolean, lease_ttl int) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE st record; iid uuid;
        lease timestamptz := now() + coalesce(make_interval(secs => lease_ttl), electric_sync.os_ttl('initialization_lease_ttl'));
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
CREATE OR REPLACE FUNCTION electric_sync.os_api_snapshot_chunk(u text, snapshot_id text, after bigint, max_rows int) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE s electric_sync.os_snapshot_sessions; body text; n int;
        lim bigint := electric_sync.os_setting('max_rows_per_snapshot_chunk');
BEGIN
    -- max_rows: NULL = min(1000, the limit); larger values are lowered to the limit.
    max_rows := least(coalesce(max_rows, least(1000, lim)), lim);
    s := electric_sync.os_snapshot_for(u, snapshot_id, true);
    SELECT string_agg(electric_sync.os_row_json(x.schema_name, x.table_name, x.key_json, NULL, x.row_version, x.payload), ',' ORDER BY x.row_ordinal),
           count(*) INTO body, n
      FROM (SELECT * FROM electric_sync.os_snapshot_rows r WHERE r.snapshot_id = s.snapshot_id AND r.row_ordinal > after
             ORDER BY r.row_ordinal LIMIT max_rows) x;
    RETURN '{"snapshot_id":"' || s.snapshot_id || '","snapshot_bundle_seq":' || s.snapshot_bundle_seq
        || ',"rows":[' || coalesce(body, '') || '],"next_row_ordinal":' || (after + n)
        || ',"has_more":' || (after + n < s.row_count) || '}';
END $$;
CREATE OR REPLACE FUNCTION electric_sync.os_api_limits() RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'max_rows_per_bundle', electric_sync.os_setting('max_rows_per_bundle'),
        'max_bundles_per_pull', electric_sync.os_setting('max_bundles_per_pull'),
        'default_rows_per_push_chunk', least(1000, electric_sync.os_setting('max_rows_per_push_chunk')),
        'max_rows_per_push_chunk', electric_sync.os_setting('max_rows_per_push_chunk'),
        'push_session_ttl_seconds', extract(epoch FROM electric_sync.os_ttl('push_session_ttl'))::bigint,
        'default_rows_per_snapshot_chunk', least(1000, electric_sync.os_setting('max_rows_per_snapshot_chunk')),
        'max_rows_per_snapshot_chunk', electric_sync.os_setting('max_rows_per_snapshot_chunk'),
        'snapshot_session_ttl_seconds', extract(epoch FROM electric_sync.os_ttl('snapshot_session_ttl'))::bigint,
        'initialization_lease_ttl_seconds', extract(epoch FROM electric_sync.os_ttl('initialization_lease_ttl'))::bigint)
$$;
CREATE OR REPLACE FUNCTION electric_sync.os_api_registered() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'registered_tables', coalesce((SELECT json_agg(schema_name || '.' || table_name ORDER BY schema_name || '.' || table_name COLLATE "C")
                                         FROM electric_sync.os_tables), '[]'::json),
        'registered_table_specs', coalesce((SELECT json_agg(json_build_object('schema', schema_name, 'table', table_name,
                                                   'sync_key_columns', json_build_array(key_column))
                                                   ORDER BY schema_name || '.' || table_name COLLATE "C")
                                              FROM electric_sync.os_tables), '[]'::json),
        'bundle_limits', electric_sync.os_api_limits())::text
$$;
DROP TABLE electric_sync.os_settings;

-- oversync write path: pruning, reset and read-only inspection (docs/oversync.md, "Operations").

-- Deletes committed bundles at or below their user's retained floor (the floor moved by
-- automatic retention or by oversync_set_retention_floor), oldest first: one user's, or every
-- user's when scope_id is NULL; at most max_bundles of them (NULL = all). Returns how many bundle
-- rows of os_bundle_log were deleted (their os_bundle_rows go with them). Clients never see the
-- difference: every position at or below the floor already answers 409 history_pruned.
CREATE FUNCTION electric_sync.oversync_prune(scope_id text DEFAULT NULL, max_bundles int DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    IF max_bundles < 0 THEN
        RAISE EXCEPTION 'oversync: max_bundles must be >= 0' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    WITH doomed AS (
        SELECT b.user_id, b.bundle_seq FROM electric_sync.os_bundle_log b
          JOIN electric_sync.os_user_state s ON s.user_id = b.user_id
         WHERE b.bundle_seq <= s.retained_floor AND (oversync_prune.scope_id IS NULL OR b.user_id = oversync_prune.scope_id)
         ORDER BY b.bundle_seq, b.user_id LIMIT oversync_prune.max_bundles)
    DELETE FROM electric_sync.os_bundle_log b USING doomed d WHERE b.user_id = d.user_id AND b.bundle_seq = d.bundle_seq;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- Superuser only. Forgets the write-path state of one user (scope_id) or of every user (NULL):
-- bundles and their rows, row versions and tombstones, sources, the connect lifecycle (the
-- scope is UNINITIALIZED again), push and snapshot sessions, the bundle sequence and floor.
-- For every user it also restarts the three status counters. With delete_rows, the user's rows
-- of every registered table are deleted too (all rows: TRUNCATE of every registered table),
-- without capturing them as bundles. Registrations are kept. Returns what was removed.
CREATE FUNCTION electric_sync.oversync_reset(scope_id text DEFAULT NULL, delete_rows boolean DEFAULT false)
RETURNS jsonb LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    t record; u text; n_users bigint; n_bundles bigint; n_rows bigint := 0; k bigint; names text;
BEGIN
    IF NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'oversync_reset is for superusers only' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF scope_id = '' THEN
        RAISE EXCEPTION 'oversync: scope_id must not be empty (NULL = every user)' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF scope_id IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(hashtextextended(scope_id, 0));
    END IF;
    SELECT count(*) INTO n_users FROM (
        SELECT s.user_id FROM electric_sync.os_user_state s UNION SELECT c.user_id FROM electric_sync.os_scope_state c) x
     WHERE scope_id IS NULL OR x.user_id = scope_id;
    SELECT count(*) INTO n_bundles FROM electric_sync.os_bundle_log b WHERE scope_id IS NULL OR b.user_id = scope_id;
    IF delete_rows THEN
        -- The registered tables' own triggers would capture the deletes as bundles (and refuse
        -- TRUNCATE): they are disabled for this transaction's statements.
        FOR t IN SELECT * FROM electric_sync.os_tables ORDER BY table_id LOOP
            EXECUTE format('ALTER TABLE %I.%I DISABLE TRIGGER oversync_bundle_owner_guard, '
                           'DISABLE TRIGGER oversync_bundle_capture_row, DISABLE TRIGGER oversync_no_truncate',
                           t.schema_name, t.table_name);
        END LOOP;
        SET CONSTRAINTS ALL DEFERRED;
        IF scope_id IS NULL THEN
            SELECT string_agg(format('%I.%I', schema_name, table_name), ', ' ORDER BY table_id) INTO names
              FROM electric_sync.os_tables;
            FOR t IN SELECT * FROM electric_sync.os_tables ORDER BY table_id LOOP
                EXECUTE format('SELECT count(*) FROM %I.%I', t.schema_name, t.table_name) INTO k;
                n_rows := n_rows + k;
            END LOOP;
            IF names IS NOT NULL THEN EXECUTE 'TRUNCATE ' || names; END IF;
        ELSE
            FOR t IN SELECT * FROM electric_sync.os_tables ORDER BY table_id DESC LOOP
                EXECUTE format('DELETE FROM %I.%I WHERE _sync_scope_id = $1', t.schema_name, t.table_name) USING scope_id;
                GET DIAGNOSTICS k = ROW_COUNT;
                n_rows := n_rows + k;
            END LOOP;
        END IF;
        SET CONSTRAINTS ALL IMMEDIATE;  -- the deferred FK checks now: ALTER TABLE refuses pending events
        FOR t IN SELECT * FROM electric_sync.os_tables ORDER BY table_id LOOP
            EXECUTE format('ALTER TABLE %I.%I ENABLE TRIGGER oversync_bundle_owner_guard, '
                           'ENABLE TRIGGER oversync_bundle_capture_row, ENABLE TRIGGER oversync_no_truncate',
                           t.schema_name, t.table_name);
        END LOOP;
    END IF;
    DELETE FROM electric_sync.os_push_sessions p WHERE scope_id IS NULL OR p.user_id = scope_id;
    DELETE FROM electric_sync.os_snapshot_sessions s WHERE scope_id IS NULL OR s.user_id = scope_id;
    DELETE FROM electric_sync.os_bundle_log b WHERE scope_id IS NULL OR b.user_id = scope_id;
    DELETE FROM electric_sync.os_row_state r WHERE scope_id IS NULL OR r.user_id = scope_id;
    DELETE FROM electric_sync.os_source_state s WHERE scope_id IS NULL OR s.user_id = scope_id;
    DELETE FROM electric_sync.os_scope_state s WHERE scope_id IS NULL OR s.user_id = scope_id;
    DELETE FROM electric_sync.os_user_state s WHERE scope_id IS NULL OR s.user_id = scope_id;
    IF scope_id IS NULL THEN
        PERFORM setval('electric_sync.os_history_pruned_error_seq', 1, false);
        PERFORM setval('electric_sync.os_accepted_push_replay_seq', 1, false);
        PERFORM setval('electric_sync.os_rejected_registered_write_seq', 1, false);
    END IF;
    RETURN jsonb_build_object('users', n_users, 'bundles', n_bundles, 'rows_deleted', n_rows);
END $$;

-- Read-only inspection (superuser; nothing is granted to PUBLIC).

-- One row per user the write path knows: connect lifecycle, bundle sequence, retention.
CREATE VIEW electric_sync.oversync_users AS
SELECT coalesce(us.user_id, sc.user_id) AS user_id,
       CASE coalesce(sc.state, 0) WHEN 0 THEN 'uninitialized' WHEN 1 THEN 'initializing' ELSE 'initialized' END AS scope_state,
       sc.initialization_id, sc.initializer_source_id, sc.lease_expires_at,
       sc.initialized_by_source_id, sc.initialized_at,
       coalesce(us.next_bundle_seq - 1, 0) AS latest_bundle_seq,
       coalesce(us.retained_floor, 0) AS retained_floor,
       (SELECT count(*) FROM electric_sync.os_bundle_log b WHERE b.user_id = us.user_id AND b.bundle_seq > us.retained_floor) AS retained_bundles,
       (SELECT count(*) FROM electric_sync.os_bundle_log b WHERE b.user_id = us.user_id AND b.bundle_seq <= us.retained_floor) AS prunable_bundles
  FROM electric_sync.os_user_state us
  FULL JOIN electric_sync.os_scope_state sc ON sc.user_id = us.user_id;

-- One row per (user, source): sequence and retirement.
CREATE VIEW electric_sync.oversync_sources AS
SELECT user_id, source_id, state, max_committed_source_bundle_id, replaced_by_source_id, retirement_reason, updated_at
  FROM electric_sync.os_source_state;

-- Committed bundles still stored; retained = above the user's floor (served to clients).
CREATE VIEW electric_sync.oversync_bundles AS
SELECT b.user_id, b.bundle_seq, b.source_id, b.source_bundle_id, b.row_count, b.byte_count, b.bundle_hash,
       b.committed_at, b.bundle_seq > coalesce(us.retained_floor, 0) AS retained
  FROM electric_sync.os_bundle_log b
  LEFT JOIN electric_sync.os_user_state us ON us.user_id = b.user_id;

-- Authoritative row versions and tombstones.
CREATE VIEW electric_sync.oversync_row_versions AS
SELECT r.user_id, t.schema_name, t.table_name, r.key_text AS key, r.bundle_seq AS row_version, r.deleted
  FROM electric_sync.os_row_state r
  JOIN electric_sync.os_tables t ON t.table_id = r.table_id;

-- Staged pushes.
CREATE VIEW electric_sync.oversync_push_sessions AS
SELECT p.push_id, p.user_id, p.source_id, p.source_bundle_id, p.planned_row_count, p.next_expected_row_ordinal,
       (SELECT count(*) FROM electric_sync.os_push_rows r WHERE r.push_id = p.push_id) AS staged_rows,
       p.initialization_id, p.created_at, p.expires_at, p.expires_at <= now() AS expired
  FROM electric_sync.os_push_sessions p;

-- Materialized snapshots.
CREATE VIEW electric_sync.oversync_snapshot_sessions AS
SELECT snapshot_id, user_id, snapshot_bundle_seq, row_count, byte_count, created_at, expires_at,
       expires_at <= now() AS expired
  FROM electric_sync.os_snapshot_sessions;

REVOKE ALL ON electric_sync.oversync_users, electric_sync.oversync_sources, electric_sync.oversync_bundles,
              electric_sync.oversync_row_versions, electric_sync.oversync_push_sessions,
              electric_sync.oversync_snapshot_sessions FROM PUBLIC;
REVOKE ALL ON FUNCTION electric_sync.oversync_prune(text, int), electric_sync.oversync_reset(text, boolean) FROM PUBLIC;

-- The new internal functions are not callable by PUBLIC (as in 53_oversync_api2.sql).
REVOKE ALL ON FUNCTION electric_sync.os_setting(text), electric_sync.os_ttl(text), electric_sync.os_api_limits() FROM PUBLIC;
-- 0.3.0, oversync development helpers (same text as sql/install/55_oversync_dev.sql):
-- electric_sync._os_jwt_hs256 and electric_sync.oversync_dev_token.
-- ============================================================================================

-- ============================================================================================
-- oversync, development helpers: mint a bearer token for the write path (docs/oversync.md,
-- "Quickstart"). Superuser only: they read the configured JWT secret.
-- ============================================================================================

-- HS256 compact JWS of a claims object, signed with `secret` (HMAC-SHA256, RFC 2104, built on
-- the core sha256()). The header is {"alg":"HS256","typ":"JWT"}.
CREATE FUNCTION electric_sync._os_jwt_hs256(claims jsonb, secret text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k     bytea := convert_to(secret, 'UTF8');
    ipad  bytea;
    opad  bytea;
    input text;
    i     int;
BEGIN
    IF length(k) = 0 THEN
        RAISE EXCEPTION 'the JWT secret is empty';
    END IF;
    IF length(k) > 64 THEN
        k := sha256(k);
    END IF;
    k := k || decode(repeat('00', 64 - length(k)), 'hex');
    ipad := k;
    opad := k;
    FOR i IN 0..63 LOOP
        ipad := set_byte(ipad, i, get_byte(k, i) # 54);   -- 0x36
        opad := set_byte(opad, i, get_byte(k, i) # 92);   -- 0x5c
    END LOOP;
    input := translate(encode(convert_to('{"alg":"HS256","typ":"JWT"}', 'UTF8'), 'base64'), E'+/=\n', '-_')
             || '.' ||
             translate(encode(convert_to(claims::text, 'UTF8'), 'base64'), E'+/=\n', '-_');
    RETURN input || '.' ||
           translate(encode(sha256(opad || sha256(ipad || convert_to(input, 'UTF8'))), 'base64'), E'+/=\n', '-_');
END
$$;

-- A token for user `sub` (claims sub and exp = now + ttl), signed with the secret the worker
-- uses: the content of electric_sync.jwt_secret_file (trailing whitespace dropped, as the
-- worker does) when that is set, else electric_sync.jwt_secret. For development and tests;
-- production tokens come from the application's own identity provider.
CREATE FUNCTION electric_sync.oversync_dev_token(sub text, ttl interval DEFAULT '1 hour')
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_file   text := coalesce(current_setting('electric_sync.jwt_secret_file', true), '');
    v_secret text;
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'oversync_dev_token needs a superuser (it reads the JWT secret)';
    END IF;
    IF sub IS NULL OR sub = '' THEN
        RAISE EXCEPTION 'sub must be a non-empty user id';
    END IF;
    IF ttl IS NULL OR ttl <= interval '0' THEN
        RAISE EXCEPTION 'ttl must be positive';
    END IF;
    IF v_file <> '' THEN
        v_secret := rtrim(pg_read_file(v_file), E' \t\r\n');
    ELSE
        v_secret := coalesce(current_setting('electric_sync.jwt_secret', true), '');
    END IF;
    IF v_secret = '' THEN
        RAISE EXCEPTION 'no JWT secret is configured'
            USING HINT = 'Set electric_sync.jwt_secret_file to a file holding the secret, then reload.';
    END IF;
    RETURN electric_sync._os_jwt_hs256(
        jsonb_build_object('sub', sub, 'exp', floor(extract(epoch FROM now() + ttl))::bigint),
        v_secret);
END
$$;

REVOKE ALL ON FUNCTION electric_sync._os_jwt_hs256(jsonb, text),
                       electric_sync.oversync_dev_token(text, interval)
    FROM PUBLIC;

-- ============================================================================================
-- oversync: write path throughput (docs/decisions.md). Set-based push staging and conflict
-- detection, one INSERT per run of staged INSERTs, a single-pass bundle finalization, and
-- fewer statements per user lock. Same text as sql/install/5*_oversync_*.sql (os_finalize_tx
-- above is updated in place; the push, pull and snapshot API functions are replaced once, in
-- the contract error codes section below).
-- ============================================================================================
CREATE OR REPLACE FUNCTION electric_sync.os_lock_user(u text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(u, 0));
    PERFORM 1 FROM electric_sync.os_user_state WHERE user_id = u FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO electric_sync.os_user_state (user_id) VALUES (u) ON CONFLICT DO NOTHING;
        PERFORM 1 FROM electric_sync.os_user_state WHERE user_id = u FOR UPDATE;
    END IF;
END $$;
CREATE OR REPLACE FUNCTION electric_sync.os_scope_state_of(u text) RETURNS smallint LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN coalesce((SELECT CASE WHEN s.state = 1 AND s.lease_expires_at <= now() THEN 0 ELSE s.state END
                       FROM electric_sync.os_scope_state s WHERE s.user_id = u), 0)::smallint;
END $$;

-- ============================================================================================
-- The log store: one reader of log entries and the snapshot filter as SQL functions.
-- ============================================================================================
-- The log store's SQL (the engine writes segments itself, src/engine/log_store.cpp).
-- The one reader of a shape's log: one row per entry, in offset order. The engine (over SPI)
-- and the pool connections (over libpq) both read through it.
CREATE FUNCTION electric_sync._shape_log_read(shape bigint)
RETURNS TABLE (lsn bigint, op integer, chunk_end boolean, entry text)
LANGUAGE sql STABLE AS $$
    SELECT e.lsn, e.op, e.chunk_end, e.entry FROM electric_sync.shape_log_entries e
     WHERE e.shape_id = shape ORDER BY e.lsn, e.op
$$;

-- Is the transaction with 32-bit xid visible to the snapshot (xmin, xmax, xip)? The xid is
-- widened to the 64-bit xid nearest xmax (wraparound-safe), then the snapshot's rule applies:
-- visible when below xmin, or below xmax and not listed as running. NULL when xmax is NULL.
CREATE FUNCTION electric_sync._xid_visible(xmin bigint, xmax bigint, xip bigint[], xid bigint)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT f.fx < xmin OR (f.fx < xmax AND f.fx <> ALL (coalesce(xip, '{}')))
      FROM (SELECT CASE WHEN w.raw > xmax + 2147483648 THEN w.raw - 4294967296
                        WHEN w.raw + 2147483648 < xmax THEN w.raw + 4294967296
                        ELSE w.raw END AS fx
              FROM (SELECT (((xmax >> 32) << 32) | xid) AS raw) w) f
$$;

-- Once a shape's snapshot is known, removes from its log the entries of transactions the
-- snapshot already saw (_xid_visible: logged xids are 32-bit). The shape's segments are
-- rewritten as one segment of the surviving entries (few: only what was logged while its
-- snapshot ran). No runtime row, or a NULL bound: every entry stays.
CREATE FUNCTION electric_sync._shape_log_apply_snapshot(shape bigint) RETURNS void
LANGUAGE sql AS $$
    WITH seg AS (DELETE FROM electric_sync.shape_log WHERE shape_id = shape RETURNING *),
    e AS (SELECT u.* FROM seg, unnest(seg.lsns, seg.ops, seg.xids, seg.chunk_ends, seg.entries)
            AS u(lsn, op, xid, chunk_end, entry)),
    r AS (SELECT snapshot_xmin, snapshot_xmax, coalesce(snapshot_xip, '{}') AS xip
            FROM electric_sync.shape_runtime WHERE shape_id = shape),
    keep AS (SELECT e.* FROM e LEFT JOIN r ON true
              WHERE NOT coalesce(electric_sync._xid_visible(r.snapshot_xmin, r.snapshot_xmax, r.xip, e.xid), false))
    INSERT INTO electric_sync.shape_log (shape_id, lsn, op, lsns, ops, xids, chunk_ends, entries, bytes)
    SELECT shape, (array_agg(lsn ORDER BY lsn, op))[1], (array_agg(op ORDER BY lsn, op))[1],
           array_agg(lsn ORDER BY lsn, op), array_agg(op ORDER BY lsn, op), array_agg(xid ORDER BY lsn, op),
           array_agg(chunk_end ORDER BY lsn, op), array_agg(entry ORDER BY lsn, op), sum(length(entry))
      FROM keep HAVING count(*) > 0
$$;
REVOKE ALL ON FUNCTION electric_sync._shape_log_read(bigint), electric_sync._shape_log_apply_snapshot(bigint),
                       electric_sync._xid_visible(bigint, bigint, bigint[], bigint) FROM PUBLIC;

-- ============================================================================================
-- Messages to the engine: _emit_message takes the kind, the shape and a detail (the message
-- format is defined once, in C++).
-- ============================================================================================
DROP FUNCTION electric_sync._emit_message(text);
-- A message to the worker's engine, in the change stream (a transactional logical decoding
-- message, without needing EXECUTE on pg_logical_emit_message). kind: shape_created,
-- shape_snapshot, shape_deleted or shape_invalidated (src/core/common/engine_message.hpp; any
-- other kind is an error); detail: free text (a reason), or NULL.
CREATE FUNCTION electric_sync._emit_message(kind text, shape_id bigint, detail text DEFAULT NULL)
RETURNS pg_lsn
AS 'MODULE_PATHNAME', 'es_emit_message' LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION electric_sync._emit_message(text, bigint, text) FROM PUBLIC;
CREATE OR REPLACE FUNCTION electric_sync._invalidate_shape(p_shape_id bigint, p_reason text)
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

CREATE OR REPLACE FUNCTION electric_sync.delete_shape(handle text)
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

-- ============================================================================================
-- oversync: one function converts bytea columns both ways (os_wire_payload / os_db_payload
-- call it).
-- ============================================================================================
-- bytea columns travel as standard base64; PostgreSQL's jsonb (to_jsonb, jsonb_populate_record)
-- has them as \x hex. to_wire: hex -> base64 (pulls); else base64 -> hex (applying pushes).
CREATE FUNCTION electric_sync.os_bytea_payload(p jsonb, cols text[], to_wire boolean) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE c text; v text;
BEGIN
    IF p IS NULL OR cols IS NULL OR cardinality(cols) = 0 THEN RETURN p; END IF;
    FOREACH c IN ARRAY cols LOOP
        v := p ->> c;
        IF v IS NULL THEN CONTINUE; END IF;
        IF NOT to_wire THEN
            p := jsonb_set(p, ARRAY[c], to_jsonb('\x' || encode(decode(v, 'base64'), 'hex')));
        ELSIF left(v, 2) = '\x' THEN
            p := jsonb_set(p, ARRAY[c], to_jsonb(translate(encode(decode(substr(v, 3), 'hex'), 'base64'), E'\n', '')));
        END IF;
    END LOOP;
    RETURN p;
END $$;
CREATE OR REPLACE FUNCTION electric_sync.os_wire_payload(p jsonb, cols text[]) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN cardinality(cols) > 0 THEN electric_sync.os_bytea_payload(p, cols, true) ELSE p END $$;
CREATE OR REPLACE FUNCTION electric_sync.os_db_payload(p jsonb, cols text[]) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN cardinality(cols) > 0 THEN electric_sync.os_bytea_payload(p, cols, false) ELSE p END $$;
REVOKE ALL ON FUNCTION electric_sync.os_bytea_payload(jsonb, text[], boolean) FROM PUBLIC;

-- ============================================================================================
-- oversync: the SQL raises the contract's error codes (SQLSTATE OSERR, DETAIL = code); the HTTP
-- status of each code is mapped by the routes (src/core/oversync/errors.cpp). os_raise and
-- os_push_session_for lose their status arguments; every function that raises is replaced.
-- ============================================================================================
DROP FUNCTION electric_sync.os_raise(int, text, text, jsonb);
DROP FUNCTION electric_sync.os_push_session_for(text, text, int, text);

CREATE FUNCTION electric_sync.os_raise(code text, msg text, extra jsonb DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF extra IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'OSERR', MESSAGE = msg, DETAIL = code;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'OSERR', MESSAGE = msg, DETAIL = code, HINT = extra::text;
END $$;

CREATE FUNCTION electric_sync.os_push_session_for(u text, push_id text, bad_id_code text)
RETURNS electric_sync.os_push_sessions LANGUAGE plpgsql AS $$
DECLARE s electric_sync.os_push_sessions;
BEGIN
    IF push_id !~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' THEN
        PERFORM electric_sync.os_raise(bad_id_code, format('push session %s not found', push_id));
    END IF;
    SELECT * INTO s FROM electric_sync.os_push_sessions p WHERE p.push_id = os_push_session_for.push_id::uuid FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM electric_sync.os_raise('push_session_not_found', format('push session %s not found', push_id));
    END IF;
    IF s.user_id <> u THEN
        PERFORM electric_sync.os_raise('push_session_forbidden', format('push session %s belongs to another user', push_id));
    END IF;
    IF s.expires_at <= now() THEN
        PERFORM electric_sync.os_raise('push_session_expired', format('push session %s has expired', push_id));
    END IF;
    RETURN s;
END $$;

REVOKE ALL ON FUNCTION electric_sync.os_raise(text, text, jsonb), electric_sync.os_push_session_for(text, text, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION electric_sync.os_api_committed_rows(u text, seq bigint, after bigint, max_rows int) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE b record; fl bigint; a bigint := coalesce(after, -1); body text; n int; more boolean;
BEGIN
    IF seq <= 0 THEN
        PERFORM electric_sync.os_raise('committed_bundle_chunk_invalid', 'bundle_seq must be positive');
    END IF;
    SELECT retained_floor INTO fl FROM electric_sync.os_user_state WHERE user_id = u;
    IF seq <= coalesce(fl, 0) THEN
        PERFORM nextval('electric_sync.os_history_pruned_error_seq');
        PERFORM electric_sync.os_raise('history_pruned',
            format('bundle %s is older than retained history floor %s for user %s', seq, fl, u));
    END IF;
    SELECT * INTO b FROM electric_sync.os_bundle_log WHERE user_id = u AND bundle_seq = seq;
    IF NOT FOUND THEN
        PERFORM electric_sync.os_raise('committed_bundle_not_found', format('committed bundle %s not found', seq));
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

CREATE OR REPLACE FUNCTION electric_sync.os_api_pull(u text, after bigint, max_bundles int, target bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE us record; stable bigint; body text; n int; last_seq bigint; more boolean;
        lim bigint := electric_sync.os_setting('max_bundles_per_pull');
BEGIN
    -- max_bundles: NULL = min(1000, the limit); outside 1..oversync_max_bundles_per_pull: 400.
    IF max_bundles IS NULL THEN
        max_bundles := least(1000, lim);
    ELSIF max_bundles < 1 OR max_bundles > lim THEN
        PERFORM electric_sync.os_raise('invalid_request', format('max_bundles must be between 1 and %s', lim));
    END IF;
    PERFORM electric_sync.os_require_initialized(u);
    SELECT * INTO us FROM electric_sync.os_user_state WHERE user_id = u;
    IF NOT FOUND THEN
        RETURN '{"stable_bundle_seq":0,"bundles":[],"has_more":false}';
    END IF;
    IF (after > 0 AND after <= us.retained_floor) OR (target > 0 AND target <= us.retained_floor) THEN
        PERFORM nextval('electric_sync.os_history_pruned_error_seq');
        PERFORM electric_sync.os_raise('history_pruned',
            format('requested checkpoint %s is older than retained history floor %s for user %s',
                   CASE WHEN after > 0 AND after <= us.retained_floor THEN after ELSE target END, us.retained_floor, u));
    END IF;
    -- (a ceiling above the latest bundle is clamped: a checkpoint must never skip future bundles)
    stable := CASE WHEN target > 0 THEN least(target, us.next_bundle_seq - 1) ELSE us.next_bundle_seq - 1 END;
    -- The resolved ceiling too (go-oversync pull.go): a follower at 0 whose user's history is
    -- all at or below the floor must rebuild from a snapshot, not read an empty page forever.
    IF stable > 0 AND stable <= us.retained_floor THEN
        PERFORM nextval('electric_sync.os_history_pruned_error_seq');
        PERFORM electric_sync.os_raise('history_pruned',
            format('requested checkpoint %s is older than retained history floor %s for user %s (stable bundle seq %s)',
                   after, us.retained_floor, u, stable));
    END IF;
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

CREATE OR REPLACE FUNCTION electric_sync.os_api_push_chunk(u text, src text, push_id text, start_ord int, rows jsonb,
                                                push_ttl int, lease_ttl int) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE s electric_sync.os_push_sessions; n int := jsonb_array_length(rows); bad text;
        max_rows bigint := electric_sync.os_setting('max_rows_per_push_chunk');
BEGIN
    -- Staging: asynchronous commit, as in os_api_push_create.
    PERFORM set_config('synchronous_commit', 'off', true);
    IF n > max_rows THEN
        PERFORM electric_sync.os_raise('push_chunk_invalid', format('chunk has %s rows, max is %s', n, max_rows));
    END IF;
    PERFORM electric_sync.os_lock_user(u);
    s := electric_sync.os_push_session_for(u, push_id, 'push_session_not_found');
    IF s.initialization_id IS NOT NULL THEN
        PERFORM electric_sync.os_check_lease(u, s.source_id, s.initialization_id::text, lease_ttl);
    END IF;
    IF start_ord <> s.next_expected_row_ordinal THEN
        PERFORM electric_sync.os_raise('push_chunk_out_of_order',
            format('expected start_row_ordinal %s, got %s', s.next_expected_row_ordinal, start_ord));
    END IF;
    IF start_ord + n > s.planned_row_count THEN
        PERFORM electric_sync.os_raise('push_chunk_invalid', 'chunk exceeds planned_row_count');
    END IF;
    -- Validation, set-based: the rows are checked in staging order (a function scan, LIMIT 1:
    -- the first bad row stops it) and, within a row, in the order below; the first failed
    -- check is the error, as a row-by-row loop would report it.
    SELECT x.msg INTO bad
      FROM (SELECT CASE
                   WHEN t.table_id IS NULL THEN
                       format('table %s.%s is not registered', e.v->>'schema', e.v->>'table')
                   WHEN jsonb_typeof(e.v->'key'->t.key_column) IS DISTINCT FROM 'string' THEN
                       format('row %s: key must contain sync key column %s as a string', start_ord + e.i, t.key_column)
                   WHEN t.key_kind = 'uuid' AND (e.v->'key'->>t.key_column) !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
                       format('row %s: key %s of %s.%s is not a canonical lowercase UUID', start_ord + e.i,
                              e.v->'key'->>t.key_column, t.schema_name, t.table_name)
                   WHEN (e.v->>'op' <> 'DELETE') IS NOT TRUE THEN NULL
                   WHEN (e.v->'payload' ? t.key_column) AND (e.v->'payload'->>t.key_column) IS DISTINCT FROM (e.v->'key'->>t.key_column) THEN
                       format('row %s: payload %s does not match the key', start_ord + e.i, t.key_column)
                   ELSE (SELECT coalesce(
                            (SELECT format('row %s: %s.%s has no writable column %s', start_ord + e.i, t.schema_name, t.table_name,
                                           string_agg(c, ', '))
                               FROM jsonb_object_keys(q.p) c
                              WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = t.relid AND a.attname = c
                                                   AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '')
                             HAVING count(*) > 0),
                            (SELECT format('row %s: bytea column %s must be standard base64', start_ord + e.i, bc.col)
                               FROM unnest(t.bytea_columns) WITH ORDINALITY bc(col, o)
                              WHERE q.p ? bc.col AND jsonb_typeof(q.p->bc.col) <> 'null'
                                AND (jsonb_typeof(q.p->bc.col) <> 'string'
                                     OR (q.p->>bc.col) !~ '^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$')
                              ORDER BY bc.o LIMIT 1))
                           FROM (SELECT CASE WHEN e.v->'payload' ? t.key_column THEN e.v->'payload'
                                             ELSE e.v->'payload' || jsonb_build_object(t.key_column, e.v->'key'->>t.key_column) END AS p) q)
                   END AS msg
              FROM (SELECT j.value AS v, j.ordinality::int - 1 AS i FROM jsonb_array_elements(rows) WITH ORDINALITY j) e
              LEFT JOIN LATERAL (SELECT * FROM electric_sync.os_tables t0
                                  WHERE t0.schema_name = e.v->>'schema' AND t0.table_name = e.v->>'table') t ON true) x
     WHERE x.msg IS NOT NULL
     LIMIT 1;
    IF bad IS NOT NULL THEN
        PERFORM electric_sync.os_raise('push_chunk_invalid', bad);
    END IF;
    INSERT INTO electric_sync.os_push_rows (push_id, row_ordinal, table_id, key_text, op, base_row_version, payload)
    SELECT s.push_id, start_ord + e.i, t.table_id, e.v->'key'->>t.key_column, e.v->>'op', (e.v->>'base_row_version')::bigint,
           CASE WHEN e.v->>'op' = 'DELETE' THEN NULL
                WHEN (e.v->>'op' <> 'DELETE') IS NOT TRUE THEN e.v->'payload'
                WHEN e.v->'payload' ? t.key_column THEN e.v->'payload'
                ELSE e.v->'payload' || jsonb_build_object(t.key_column, e.v->'key'->>t.key_column) END
      FROM (SELECT j.value AS v, j.ordinality::int - 1 AS i FROM jsonb_array_elements(rows) WITH ORDINALITY j) e
      JOIN LATERAL (SELECT * FROM electric_sync.os_tables t0
                     WHERE t0.schema_name = e.v->>'schema' AND t0.table_name = e.v->>'table') t ON true;
    UPDATE electric_sync.os_push_sessions SET next_expected_row_ordinal = start_ord + n,
           expires_at = now() + coalesce(make_interval(secs => push_ttl), electric_sync.os_ttl('push_session_ttl'))
     WHERE os_push_sessions.push_id = s.push_id;
    RETURN json_build_object('push_id', s.push_id, 'next_expected_row_ordinal', start_ord + n)::text;
END $$;

CREATE OR REPLACE FUNCTION electric_sync.os_api_push_commit(u text, src text, push_id text, lease_ttl int) RETURNS text
LANGUAGE plpgsql SET bytea_output = 'hex' AS $$
DECLARE
    s electric_sync.os_push_sessions; cnt int; mx int; dup int; ss record; expected bigint;
    r record; t electric_sync.os_tables; srow jsonb; res record;
BEGIN
    PERFORM electric_sync.os_lock_user(u);
    s := electric_sync.os_push_session_for(u, push_id, 'push_session_not_found');
    SELECT count(*), coalesce(max(row_ordinal), -1), count(*) - count(DISTINCT (table_id, key_text))
      INTO cnt, mx, dup FROM electric_sync.os_push_rows WHERE os_push_rows.push_id = s.push_id;
    IF cnt <> s.planned_row_count OR mx <> cnt - 1 THEN
        PERFORM electric_sync.os_raise('push_commit_invalid',
            format('push session has %s staged rows, planned_row_count is %s', cnt, s.planned_row_count));
    END IF;
    IF dup > 0 THEN
        PERFORM electric_sync.os_raise('push_commit_invalid', 'push session stages the same row more than once');
    END IF;
    SET CONSTRAINTS ALL DEFERRED;
    IF s.initialization_id IS NOT NULL THEN
        PERFORM electric_sync.os_check_lease(u, s.source_id, s.initialization_id::text, lease_ttl);
    END IF;
    SELECT * INTO ss FROM electric_sync.os_source_state WHERE user_id = u AND source_id = s.source_id FOR UPDATE;
    IF ss.state = 'retired' THEN PERFORM electric_sync.os_retired_error(u, s.source_id, ss.replaced_by_source_id); END IF;
    expected := coalesce(ss.max_committed_source_bundle_id, 0) + 1;
    IF expected <> s.source_bundle_id THEN
        PERFORM electric_sync.os_raise('source_sequence_changed',
            format('source %s advanced: expected next source_bundle_id %s, session has %s', s.source_id, expected, s.source_bundle_id));
    END IF;
    PERFORM set_config('oversync.bundle_user_id', u, true), set_config('oversync.bundle_source_id', s.source_id, true),
            set_config('oversync.bundle_source_bundle_id', s.source_bundle_id::text, true);

    -- Conflict detection, in staging order, before any write (protocol §5.3): the first
    -- staged row that conflicts.
    SELECT x.* INTO r
      FROM (SELECT pr.row_ordinal, pr.table_id, pr.key_text, pr.op, pr.base_row_version,
                   tt.schema_name, tt.table_name, tt.key_column, rs.bundle_seq AS rs_seq, rs.deleted AS rs_deleted,
                   CASE WHEN rs.deleted IS NULL THEN
                            CASE WHEN pr.op <> 'INSERT' THEN 'row does not exist'
                                 WHEN pr.base_row_version <> 0 THEN format('expected version 0, got %s', pr.base_row_version) END
                        WHEN NOT rs.deleted THEN
                            CASE WHEN pr.op = 'INSERT' THEN format('row already exists at version %s', rs.bundle_seq)
                                 WHEN pr.base_row_version <> rs.bundle_seq THEN
                                     format('expected version %s, got %s', rs.bundle_seq, pr.base_row_version) END
                        ELSE
                            CASE WHEN pr.op <> 'INSERT' THEN 'row does not exist'
                                 WHEN pr.base_row_version <> rs.bundle_seq THEN
                                     format('expected version %s, got %s', rs.bundle_seq, pr.base_row_version) END
                   END AS what
              FROM electric_sync.os_push_rows pr JOIN electric_sync.os_tables tt USING (table_id)
              -- (LIMIT 1: one primary-key probe per staged row, as in os_finalize_tx)
              LEFT JOIN LATERAL (SELECT r0.bundle_seq, r0.deleted FROM electric_sync.os_row_state r0
                                  WHERE r0.user_id = u AND r0.table_id = pr.table_id AND r0.key_text = pr.key_text
                                  LIMIT 1) rs ON true
             WHERE pr.push_id = s.push_id) x
     WHERE x.what IS NOT NULL
     ORDER BY x.row_ordinal LIMIT 1;
    IF FOUND THEN
        SELECT * INTO t FROM electric_sync.os_tables WHERE table_id = r.table_id;
        srow := CASE WHEN r.rs_deleted IS DISTINCT FROM false THEN NULL ELSE electric_sync.os_server_row(t, u, r.key_text) END;
        PERFORM electric_sync.os_raise('push_conflict',
            format('%s conflict on %s.%s %s: %s', lower(r.op), r.schema_name, r.table_name, r.key_text, r.what),
            jsonb_build_object('conflict', jsonb_build_object(
                'schema', r.schema_name, 'table', r.table_name, 'key', jsonb_build_object(r.key_column, r.key_text),
                'op', r.op, 'base_row_version', r.base_row_version,
                'server_row_version', coalesce(r.rs_seq, 0), 'server_row_deleted', coalesce(r.rs_deleted, false),
                'server_row', srow)));
    END IF;

    -- Apply in staging order. Consecutive INSERTs into one table with the same columns are one
    -- statement (jsonb_populate_recordset keeps their order, so the row triggers see and
    -- capture them in staging order); UPDATE and DELETE go row by row. UPDATE sets only the
    -- columns present in the payload.
    FOR r IN SELECT z.table_id, z.op, z.cols, tt.schema_name, tt.table_name, tt.key_column, tt.key_kind,
                    z.ps, z.keys
               FROM (SELECT y.table_id, y.op, y.cols, min(y.row_ordinal) AS first_ord,
                            jsonb_agg(y.p ORDER BY y.row_ordinal) AS ps, array_agg(y.key_text ORDER BY y.row_ordinal) AS keys
                       FROM (SELECT w.*, w.row_ordinal - row_number() OVER (
                                        PARTITION BY w.table_id, w.op, w.cols, CASE WHEN w.op = 'INSERT' THEN -1 ELSE w.row_ordinal END
                                        ORDER BY w.row_ordinal) AS island
                               FROM (SELECT pr.row_ordinal, pr.table_id, pr.op, pr.key_text, q.p,
                                            (SELECT string_agg(quote_ident(c), ', ' ORDER BY c) FROM jsonb_object_keys(q.p) c) AS cols
                                       FROM electric_sync.os_push_rows pr JOIN electric_sync.os_tables t0 USING (table_id)
                                      CROSS JOIN LATERAL (SELECT electric_sync.os_db_payload(pr.payload, t0.bytea_columns) AS p) q
                                      WHERE pr.push_id = s.push_id) w) y
                      GROUP BY y.table_id, y.op, y.cols, y.island) z
               JOIN electric_sync.os_tables tt ON tt.table_id = z.table_id
              ORDER BY z.first_ord LOOP
        IF r.op = 'DELETE' THEN
            EXECUTE format('DELETE FROM %I.%I WHERE %I = $1::%s AND _sync_scope_id = $2',
                           r.schema_name, r.table_name, r.key_column, r.key_kind) USING r.keys[1], u;
        ELSIF r.op = 'INSERT' THEN
            EXECUTE format('INSERT INTO %I.%I (%s, _sync_scope_id) SELECT %s, $2 FROM jsonb_populate_recordset(NULL::%I.%I, $1)',
                           r.schema_name, r.table_name, r.cols, r.cols, r.schema_name, r.table_name) USING r.ps, u;
        ELSE
            EXECUTE format('UPDATE %I.%I SET (%s) = (SELECT %s FROM jsonb_populate_record(NULL::%I.%I, $1)) '
                           'WHERE %I = $2::%s AND _sync_scope_id = $3',
                           r.schema_name, r.table_name, r.cols, r.cols, r.schema_name, r.table_name,
                           r.key_column, r.key_kind) USING r.ps->0, r.keys[1], u;
        END IF;
    END LOOP;

    SELECT * INTO res FROM electric_sync.os_finalize_tx() f WHERE f.user_id = u;
    IF res.bundle_seq IS NULL THEN
        PERFORM electric_sync.os_raise('push_commit_invalid', 'push captured no changes (all rows collapsed)');
    END IF;
    DELETE FROM electric_sync.os_push_sessions p WHERE p.push_id = s.push_id;
    IF s.initialization_id IS NOT NULL THEN
        UPDATE electric_sync.os_scope_state SET state = 2, initialization_id = NULL, initializer_source_id = NULL,
               lease_expires_at = NULL, initialized_by_source_id = s.source_id, initialized_at = now(), updated_at = now()
         WHERE user_id = u;
    END IF;
    PERFORM set_config('oversync.bundle_user_id', '', true), set_config('oversync.bundle_source_id', '', true),
            set_config('oversync.bundle_source_bundle_id', '', true);
    RETURN json_build_object('bundle_seq', res.bundle_seq, 'source_id', res.source_id, 'source_bundle_id', res.source_bundle_id,
                             'row_count', res.row_count, 'bundle_hash', res.bundle_hash)::text;
END $$;

CREATE OR REPLACE FUNCTION electric_sync.os_api_push_create(u text, src text, sbid bigint, planned int, init_id text,
                                                 push_ttl int, lease_ttl int) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE b record; st smallint; ss record; expected bigint; pid uuid := gen_random_uuid(); sess_init uuid;
        max_rows bigint := electric_sync.os_setting('max_rows_per_bundle'); fl bigint;
BEGIN
    -- Staging is not a promise: its commit need not wait for the WAL flush (docs/decisions.md,
    -- "Push staging commits asynchronously"). The bundle commit is durable and flushes it too.
    PERFORM set_config('synchronous_commit', 'off', true);
    IF max_rows > 0 AND planned > max_rows THEN
        PERFORM electric_sync.os_raise('push_session_invalid',
            format('planned_row_count %s exceeds max_rows_per_bundle %s', planned, max_rows));
    END IF;
    DELETE FROM electric_sync.os_push_sessions WHERE expires_at < now();
    PERFORM electric_sync.os_lock_user(u);
    SELECT * INTO b FROM electric_sync.os_bundle_log WHERE user_id = u AND source_id = src AND source_bundle_id = sbid;
    IF FOUND THEN
        -- A replay applies only while the bundle is above the retained floor (it may still be
        -- stored below it until oversync_prune runs).
        SELECT retained_floor INTO fl FROM electric_sync.os_user_state WHERE user_id = u;
        IF b.bundle_seq <= fl THEN
            PERFORM electric_sync.os_raise('history_pruned', format(
                'source_bundle_id %s of source %s was committed as bundle %s, which is older than retained history floor %s for user %s',
                sbid, src, b.bundle_seq, fl, u));
        END IF;
        RETURN json_build_object('status', 'already_committed', 'bundle_seq', b.bundle_seq, 'source_id', b.source_id,
            'source_bundle_id', b.source_bundle_id, 'row_count', b.row_count, 'bundle_hash', b.bundle_hash)::text;
    END IF;
    st := electric_sync.os_scope_state_of(u);
    IF st = 0 THEN
        IF init_id IS NOT NULL THEN
            PERFORM electric_sync.os_raise('initialization_expired', format('initialization %s for user %s has expired; connect again', init_id, u));
        END IF;
        PERFORM electric_sync.os_raise('scope_uninitialized', format('scope for user %s is not initialized; call /sync/connect first', u));
    ELSIF st = 1 THEN
        IF init_id IS NULL THEN
            PERFORM electric_sync.os_raise('push_session_invalid', 'initialization_id is required while the scope is initializing');
        END IF;
        PERFORM electric_sync.os_check_lease(u, src, init_id, lease_ttl);
        sess_init := init_id::uuid;
    ELSIF init_id IS NOT NULL THEN
        PERFORM electric_sync.os_raise('push_session_invalid', 'initialization_id must be absent once the scope is initialized');
    END IF;
    SELECT * INTO ss FROM electric_sync.os_source_state WHERE user_id = u AND source_id = src;
    IF ss.state = 'retired' THEN PERFORM electric_sync.os_retired_error(u, src, ss.replaced_by_source_id); END IF;
    expected := coalesce(ss.max_committed_source_bundle_id, 0) + 1;
    IF sbid < expected THEN
        PERFORM electric_sync.os_raise('history_pruned', format(
            'source_bundle_id %s of source %s was committed (max committed %s) but is no longer retained', sbid, src, expected - 1));
    ELSIF sbid > expected THEN
        PERFORM electric_sync.os_raise('source_sequence_out_of_order', format('expected next source_bundle_id %s, got %s', expected, sbid));
    END IF;
    DELETE FROM electric_sync.os_push_sessions WHERE user_id = u AND source_id = src AND source_bundle_id = sbid;
    INSERT INTO electric_sync.os_push_sessions (push_id, user_id, source_id, source_bundle_id, planned_row_count,
                                                initialization_id, expires_at)
    VALUES (pid, u, src, sbid, planned, sess_init,
            now() + coalesce(make_interval(secs => push_ttl), electric_sync.os_ttl('push_session_ttl')));
    RETURN json_build_object('push_id', pid, 'status', 'staging', 'planned_row_count', planned)::text;
END $$;

CREATE OR REPLACE FUNCTION electric_sync.os_api_snapshot_create(u text, src text, repl jsonb, ttl int,
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
                PERFORM electric_sync.os_raise('source_replacement_invalid', format('new source %s is retired', nsrc));
            END IF;
            INSERT INTO electric_sync.os_source_state (user_id, source_id, state) VALUES (u, nsrc, 'reserved') ON CONFLICT DO NOTHING;
        ELSE
            IF nw.source_id IS NOT NULL THEN
                PERFORM electric_sync.os_raise('source_replacement_invalid',
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
    exp := now() + coalesce(make_interval(secs => ttl), electric_sync.os_ttl('snapshot_session_ttl'));
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
        PERFORM electric_sync.os_raise('snapshot_session_create_failed',
            format('snapshot of %s rows / %s bytes exceeds the configured limits', cnt, bytes));
    END IF;
    UPDATE electric_sync.os_snapshot_sessions SET row_count = cnt, byte_count = bytes WHERE snapshot_id = sid;
    RETURN json_build_object('snapshot_id', sid, 'snapshot_bundle_seq', seq, 'row_count', cnt, 'byte_count', bytes,
                             'expires_at', electric_sync.os_ts(exp))::text;
END $$;

CREATE OR REPLACE FUNCTION electric_sync.os_check_lease(u text, src text, init_id text, lease_ttl int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE st record;
BEGIN
    SELECT * INTO st FROM electric_sync.os_scope_state WHERE user_id = u FOR UPDATE;
    IF NOT FOUND OR st.state = 0 OR (st.state = 1 AND st.initialization_id::text = init_id AND st.lease_expires_at <= now()) THEN
        PERFORM electric_sync.os_raise('initialization_expired', format('initialization %s for user %s has expired; connect again', init_id, u));
    END IF;
    IF st.state <> 1 OR st.initialization_id::text <> init_id OR st.initializer_source_id <> src THEN
        PERFORM electric_sync.os_raise('initialization_stale', format('initialization %s for user %s is no longer current', init_id, u));
    END IF;
    UPDATE electric_sync.os_scope_state
       SET lease_expires_at = now() + coalesce(make_interval(secs => lease_ttl), electric_sync.os_ttl('initialization_lease_ttl')),
           updated_at = now()
     WHERE user_id = u;
END $$;

CREATE OR REPLACE FUNCTION electric_sync.os_require_initialized(u text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE s smallint := electric_sync.os_scope_state_of(u);
BEGIN
    IF s = 0 THEN
        PERFORM electric_sync.os_raise('scope_uninitialized', format('scope for user %s is not initialized; call /sync/connect first', u));
    ELSIF s = 1 THEN
        PERFORM electric_sync.os_raise('scope_initializing', format('scope for user %s is being initialized by another device', u));
    END IF;
END $$;

CREATE OR REPLACE FUNCTION electric_sync.os_retired_error(u text, src text, replaced_by text) RETURNS void LANGUAGE sql AS $$
    SELECT electric_sync.os_raise('source_retired',
        format('source %s for user %s was retired and replaced by %s', src, u, coalesce(replaced_by, '(none)')),
        jsonb_build_object('source_id', src, 'replaced_by_source_id', coalesce(replaced_by, '')));
$$;

CREATE OR REPLACE FUNCTION electric_sync.os_snapshot_for(u text, snapshot_id text, check_expiry boolean)
RETURNS electric_sync.os_snapshot_sessions LANGUAGE plpgsql AS $$
DECLARE s electric_sync.os_snapshot_sessions;
BEGIN
    IF snapshot_id ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' THEN
        SELECT * INTO s FROM electric_sync.os_snapshot_sessions x WHERE x.snapshot_id = os_snapshot_for.snapshot_id::uuid;
    END IF;
    IF s.snapshot_id IS NULL THEN
        PERFORM electric_sync.os_raise('snapshot_session_not_found', format('snapshot session %s not found', snapshot_id));
    END IF;
    IF s.user_id <> u THEN
        PERFORM electric_sync.os_raise('snapshot_session_forbidden', format('snapshot session %s belongs to another user', snapshot_id));
    END IF;
    IF check_expiry AND s.expires_at <= now() THEN
        PERFORM electric_sync.os_raise('snapshot_session_expired', format('snapshot session %s has expired', snapshot_id));
    END IF;
    RETURN s;
END $$;

CREATE OR REPLACE FUNCTION electric_sync.os_api_push_delete(u text, push_id text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE s electric_sync.os_push_sessions;
BEGIN
    s := electric_sync.os_push_session_for(u, push_id, 'push_chunk_invalid');
    DELETE FROM electric_sync.os_push_sessions p WHERE p.push_id = s.push_id;
    RETURN NULL;
END $$;

-- ============================================================================================
-- Dead columns: a shape's snapshot bounds live in shape_runtime (written by the snapshot job,
-- read by the engine); the copies in shapes were never written.
-- ============================================================================================
ALTER TABLE electric_sync.shapes DROP COLUMN snapshot_xmin, DROP COLUMN snapshot_xmax,
    DROP COLUMN snapshot_xip, DROP COLUMN snapshot_lsn;

-- ============================================================================================
-- The last functions PUBLIC could still execute (docs/security.md: nothing of electric_sync is).
-- ============================================================================================
REVOKE ALL ON FUNCTION electric_sync._worker_info() FROM PUBLIC;
REVOKE ALL ON FUNCTION electric_sync._on_ddl_command_end(), electric_sync._on_sql_drop(),
                       electric_sync._relation_signature(oid) FROM PUBLIC;

-- ============================================================================================
-- Authorized shapes (docs/authorization.md): the reader's role and compiled policies, the
-- reader role, and the invalidation after policy and grant changes.
-- ============================================================================================
ALTER TABLE electric_sync.shapes ADD COLUMN read_role text, ADD COLUMN policy_where text,
    ADD COLUMN read_role_state text;

DROP FUNCTION electric_sync.create_shape(text, text, text[], text, text[], text);
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
REVOKE EXECUTE ON FUNCTION electric_sync.create_shape(text, text, text[], text, text[], text, text, text) FROM PUBLIC;
-- The roles readers' tokens may name are the roles this role is a member of: an administrator
-- grants each one (GRANT app_user TO electric_sync_reader), as PostgREST's authenticator role
-- is granted the roles it may switch to. No login, no rights of its own; a cluster role, like
-- electric_sync_where.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'electric_sync_reader') THEN
        CREATE ROLE electric_sync_reader NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOINHERIT;
    END IF;
END
$$;

-- After CREATE / ALTER / DROP POLICY, GRANT / REVOKE and ALTER TABLE: authorized shapes whose
-- answer may have changed are invalidated (their readers get 409 and re-sync; the new shape is
-- compiled with the new policies and checked against the new grants). CREATE / ALTER POLICY and
-- ALTER TABLE name their table; GRANT, REVOKE and DROP POLICY do not, so they invalidate every
-- authorized shape of the database. CREATE [OR REPLACE] / ALTER FUNCTION invalidates every
-- authorized shape that has a compiled policy: the compilation inlined SQL functions and folded
-- immutable calls into constants, so any function may be in a compiled policy without being
-- named in it (the event cannot tell a new function from a replaced one).
CREATE FUNCTION electric_sync._on_authorization_change()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_all boolean;
    v_functions boolean;
    v_relids oid[];
BEGIN
    IF to_regclass('electric_sync.shapes') IS NULL
       OR NOT EXISTS (SELECT 1 FROM electric_sync.shapes WHERE status = 'active' AND read_role IS NOT NULL) THEN
        RETURN;
    END IF;
    SELECT coalesce(bool_or(c.classid IS NULL
                            OR c.classid NOT IN ('pg_catalog.pg_class'::regclass, 'pg_catalog.pg_policy'::regclass,
                                                 'pg_catalog.pg_proc'::regclass)),
                    true),
           coalesce(bool_or(c.classid = 'pg_catalog.pg_proc'::regclass), false),
           array_agg(CASE WHEN c.classid = 'pg_catalog.pg_class'::regclass THEN c.objid
                          WHEN c.classid = 'pg_catalog.pg_policy'::regclass
                          THEN (SELECT p.polrelid FROM pg_policy p WHERE p.oid = c.objid) END)
      INTO v_all, v_functions, v_relids
      FROM pg_event_trigger_ddl_commands() c;
    PERFORM electric_sync._invalidate_shape(s.shape_id,
                                            CASE WHEN v_functions AND s.policy_where IS NOT NULL
                                                 THEN 'function changed' ELSE 'authorization changed' END)
       FROM electric_sync.shapes s
      WHERE s.status = 'active' AND s.read_role IS NOT NULL
        AND (v_all OR s.relid = ANY (v_relids) OR (v_functions AND s.policy_where IS NOT NULL))
      ORDER BY s.shape_id;
END
$$;

CREATE EVENT TRIGGER electric_sync_authorization_change ON ddl_command_end
    WHEN TAG IN ('CREATE POLICY', 'ALTER POLICY', 'DROP POLICY', 'GRANT', 'REVOKE', 'ALTER TABLE',
                 'CREATE FUNCTION', 'ALTER FUNCTION')
    EXECUTE FUNCTION electric_sync._on_authorization_change();
REVOKE ALL ON FUNCTION electric_sync._on_authorization_change() FROM PUBLIC;

-- How a reader role reads, as far as the catalogs outside this database say: its attributes,
-- whether it is still a reader role (granted to electric_sync_reader), and every role it is a
-- member of or has the privileges of (policies apply TO roles and grants are inherited through
-- memberships). Role commands (GRANT role TO role, ALTER ROLE, DROP ROLE) are cluster-wide and
-- fire no event trigger, so each authorized shape keeps this state from its creation and
-- _check_reader_roles compares. NULL: no such role.
CREATE FUNCTION electric_sync._reader_role_state(role_name text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT md5(concat_ws('|', r.rolsuper, r.rolbypassrls, r.rolinherit,
                         pg_has_role('electric_sync_reader', r.oid, 'MEMBER'),
                         (SELECT string_agg(m.oid::text || CASE WHEN pg_has_role(r.oid, m.oid, 'USAGE') THEN 'u'
                                                                ELSE 'm' END, ',' ORDER BY m.oid)
                            FROM pg_roles m
                           WHERE m.oid <> r.oid AND pg_has_role(r.oid, m.oid, 'MEMBER'))))
      FROM pg_roles r
     WHERE r.rolname = role_name
$$;

-- Invalidates the authorized shapes whose role's state changed since they were made (the role
-- lost or gained a membership or an attribute, or was dropped); their readers get 409 and the
-- re-created shape is checked and compiled again. The worker's HTTP service calls it every 2 s.
-- Returns how many shapes it invalidated.
CREATE FUNCTION electric_sync._check_reader_roles()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_shape bigint;
    n integer := 0;
BEGIN
    FOR v_shape IN
        WITH roles AS (
            SELECT d.read_role, electric_sync._reader_role_state(d.read_role) AS state
              FROM (SELECT DISTINCT read_role FROM electric_sync.shapes
                     WHERE status = 'active' AND read_role IS NOT NULL) d)
        SELECT s.shape_id
          FROM electric_sync.shapes s JOIN roles r ON r.read_role = s.read_role
         WHERE s.status = 'active' AND s.read_role_state IS DISTINCT FROM r.state
         ORDER BY s.shape_id
    LOOP
        IF electric_sync._invalidate_shape(v_shape, 'reader role changed') THEN
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END
$$;
REVOKE ALL ON FUNCTION electric_sync._reader_role_state(text), electric_sync._check_reader_roles() FROM PUBLIC;

-- Device enrollment (sql/install/27_devices.sql).

-- ============================================================================================
-- Device enrollment (docs/authorization.md, "Devices"): an administrator or an app role creates
-- a one-time code for a reader role and its claims; a device exchanges it once at
-- POST /v1/enroll for a device token (a JWT the worker signs with the key below) and a refresh
-- token. Codes expire, are used once and can be revoked; devices can be revoked, and the worker
-- then refuses their tokens at once (revoke_device emits a devices_changed message).
-- ============================================================================================

-- The key the worker signs and verifies device tokens with (HS256, header kid
-- "electric_sync-device"). Made once per database, from pg_strong_random (gen_random_uuid);
-- readable by superusers only.
CREATE TABLE electric_sync.device_keys (
    id         int PRIMARY KEY CHECK (id = 1),
    secret     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO electric_sync.device_keys (id, secret)
SELECT 1, encode(sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text || gen_random_uuid()::text,
                                   'UTF8')), 'hex');

-- Only the SHA-256 of a code is kept: the code itself is shown once, to its creator.
CREATE TABLE electric_sync.enrollments (
    enrollment_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code_hash     text NOT NULL UNIQUE,
    role_name     name NOT NULL,
    claims        jsonb NOT NULL,
    created_by    name NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz,
    device_id     uuid,
    revoked_at    timestamptz
);

-- One row per enrolled device. refresh_hash: SHA-256 of its current refresh token (each
-- refresh replaces it). tokens_valid_until: the latest expiry of a token issued to it (the
-- worker keeps a revoked device in memory until then).
CREATE TABLE electric_sync.devices (
    device_id          uuid PRIMARY KEY,
    enrollment_id      bigint REFERENCES electric_sync.enrollments,
    role_name          name NOT NULL,
    claims             jsonb NOT NULL,
    enrolled_at        timestamptz NOT NULL DEFAULT now(),
    user_agent         text,
    refresh_hash       text NOT NULL UNIQUE,
    refreshed_at       timestamptz,
    tokens_valid_until timestamptz NOT NULL,
    revoked_at         timestamptz,
    revoked_reason     text
);
CREATE INDEX devices_revoked ON electric_sync.devices (tokens_valid_until) WHERE revoked_at IS NOT NULL;

CREATE FUNCTION electric_sync._sha256_hex(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$ SELECT encode(sha256(convert_to(t, 'UTF8')), 'hex') $$;

-- A one-time enrollment code for a device that will read as read_role with these claims (what
-- policies see in request.jwt.claims, besides "role" and "es_device"). Callable by superusers
-- and by the roles they grant EXECUTE to (an app's admin role): such a role may enroll devices
-- for every reader role, so grant it as you would grant that.
CREATE FUNCTION electric_sync.create_enrollment(read_role text, claims jsonb DEFAULT '{}', ttl interval DEFAULT '15 minutes')
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    v_code text := replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', '');
    k text;
BEGIN
    IF read_role IS NULL OR claims IS NULL OR ttl IS NULL THEN
        RAISE EXCEPTION 'create_enrollment: read_role, claims and ttl must not be NULL';
    END IF;
    SELECT rolname, rolsuper, rolbypassrls INTO r FROM pg_roles WHERE rolname = read_role;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'role "%" does not exist', read_role
            USING HINT = 'Create the role and GRANT it TO electric_sync_reader.';
    END IF;
    IF r.rolsuper THEN
        RAISE EXCEPTION 'role "%" is a superuser: devices cannot read as a superuser', read_role
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT pg_has_role('electric_sync_reader', r.rolname, 'MEMBER') THEN
        RAISE EXCEPTION 'role "%" is not a reader role', read_role
            USING ERRCODE = 'insufficient_privilege',
                  HINT = format('GRANT %I TO electric_sync_reader;', read_role);
    END IF;
    IF r.rolbypassrls AND current_setting('electric_sync.read_allow_bypassrls', true) IS DISTINCT FROM 'on' THEN
        RAISE EXCEPTION 'role "%" has BYPASSRLS', read_role
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Use a role without BYPASSRLS, or set electric_sync.read_allow_bypassrls = on.';
    END IF;
    IF jsonb_typeof(claims) <> 'object' THEN
        RAISE EXCEPTION 'create_enrollment: claims must be a JSON object';
    END IF;
    FOR k IN SELECT jsonb_object_keys(claims) LOOP
        IF k IN ('role', 'es_device', 'exp', 'iat', 'nbf', 'jti', 'iss') THEN
            RAISE EXCEPTION 'create_enrollment: claim "%" is set by the server', k
                USING HINT = 'The device token carries role (the read_role), es_device (the device id), iss, iat and exp.';
        END IF;
    END LOOP;
    IF length(claims::text) > 4096 THEN
        RAISE EXCEPTION 'create_enrollment: claims are longer than 4096 bytes';
    END IF;
    IF ttl <= interval '0' OR ttl > interval '30 days' THEN
        RAISE EXCEPTION 'create_enrollment: ttl must be positive and at most 30 days';
    END IF;
    INSERT INTO electric_sync.enrollments (code_hash, role_name, claims, created_by, expires_at)
    VALUES (electric_sync._sha256_hex(v_code), r.rolname, claims, session_user, now() + ttl);
    RETURN v_code;
END
$$;

-- Revokes an unused code. False if the code is unknown, used or already revoked.
CREATE FUNCTION electric_sync.revoke_enrollment(code text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE electric_sync.enrollments SET revoked_at = now()
     WHERE code_hash = electric_sync._sha256_hex(code) AND used_at IS NULL AND revoked_at IS NULL;
    RETURN FOUND;
END
$$;

-- Revokes a device: its tokens and its refresh token stop working at once (the worker hears of
-- it through the devices_changed message, in commit order). False if unknown or already revoked.
CREATE FUNCTION electric_sync.revoke_device(device_id uuid, reason text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE electric_sync.devices d SET revoked_at = now(), revoked_reason = reason
     WHERE d.device_id = revoke_device.device_id AND d.revoked_at IS NULL;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM electric_sync._emit_message('devices_changed', 0, device_id::text);
    RETURN true;
END
$$;

-- POST /v1/enroll (the worker's pool connection): uses the code once, creates the device and
-- its refresh token. Errors carry SQLSTATE 28000 and a message the client may see.
CREATE FUNCTION electric_sync._enroll(code text, user_agent text, token_ttl_s int)
RETURNS json
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e electric_sync.enrollments;
    v_device uuid := gen_random_uuid();
    v_refresh text := replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', '');
BEGIN
    SELECT * INTO e FROM electric_sync.enrollments WHERE code_hash = electric_sync._sha256_hex(code) FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown enrollment code' USING ERRCODE = 'invalid_authorization_specification';
    ELSIF e.used_at IS NOT NULL THEN
        RAISE EXCEPTION 'this enrollment code has already been used' USING ERRCODE = 'invalid_authorization_specification';
    ELSIF e.revoked_at IS NOT NULL THEN
        RAISE EXCEPTION 'this enrollment code has been revoked' USING ERRCODE = 'invalid_authorization_specification';
    ELSIF e.expires_at <= now() THEN
        RAISE EXCEPTION 'this enrollment code has expired' USING ERRCODE = 'invalid_authorization_specification';
    END IF;
    UPDATE electric_sync.enrollments SET used_at = now(), device_id = v_device WHERE enrollment_id = e.enrollment_id;
    INSERT INTO electric_sync.devices (device_id, enrollment_id, role_name, claims, user_agent, refresh_hash,
                                       tokens_valid_until)
    VALUES (v_device, e.enrollment_id, e.role_name, e.claims, left(user_agent, 256),
            electric_sync._sha256_hex(v_refresh), now() + make_interval(secs => token_ttl_s));
    RETURN json_build_object('device_id', v_device, 'role', e.role_name, 'claims', e.claims,
                             'refresh_token', v_refresh);
END
$$;

-- POST /v1/enroll/refresh: a new refresh token for the current one (which stops working).
CREATE FUNCTION electric_sync._refresh_device(refresh_token text, token_ttl_s int)
RETURNS json
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d electric_sync.devices;
    v_refresh text := replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', '');
BEGIN
    SELECT * INTO d FROM electric_sync.devices WHERE refresh_hash = electric_sync._sha256_hex(refresh_token) FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown or already used refresh token' USING ERRCODE = 'invalid_authorization_specification';
    ELSIF d.revoked_at IS NOT NULL THEN
        RAISE EXCEPTION 'this device has been revoked' USING ERRCODE = 'invalid_authorization_specification';
    END IF;
    UPDATE electric_sync.devices
       SET refresh_hash = electric_sync._sha256_hex(v_refresh), refreshed_at = now(),
           tokens_valid_until = greatest(tokens_valid_until, now() + make_interval(secs => token_ttl_s))
     WHERE device_id = d.device_id;
    RETURN json_build_object('device_id', d.device_id, 'role', d.role_name, 'claims', d.claims,
                             'refresh_token', v_refresh);
END
$$;

-- What the worker loads (at start and after devices_changed): the signing key and the revoked
-- devices whose tokens have not all expired yet.
CREATE FUNCTION electric_sync._device_state()
RETURNS TABLE (secret text, revoked uuid[])
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT (SELECT k.secret FROM electric_sync.device_keys k WHERE k.id = 1),
           (SELECT coalesce(array_agg(d.device_id ORDER BY d.device_id), '{}')
              FROM electric_sync.devices d
             WHERE d.revoked_at IS NOT NULL AND d.tokens_valid_until > now() - interval '5 minutes')
$$;

REVOKE ALL ON TABLE electric_sync.device_keys, electric_sync.enrollments, electric_sync.devices FROM PUBLIC;
REVOKE ALL ON FUNCTION electric_sync.create_enrollment(text, jsonb, interval),
                       electric_sync.revoke_enrollment(text),
                       electric_sync.revoke_device(uuid, text),
                       electric_sync._enroll(text, text, int),
                       electric_sync._refresh_device(text, int),
                       electric_sync._device_state(),
                       electric_sync._sha256_hex(text)
    FROM PUBLIC;

-- Who is connected (sql/install/56_clients.sql).

-- ============================================================================================
-- Who is connected (docs/authorization.md, "Who is connected"). The worker's HTTP side keeps a
-- bounded record of the clients it answered (electric_sync.max_tracked_clients, least recently
-- seen dropped first; at most 4 shapes per client) and writes what changed here every 2 s.
-- Unlogged: it is a sample of the present, emptied by a crash.
-- ============================================================================================

CREATE UNLOGGED TABLE electric_sync.client_activity (
    client_id       text PRIMARY KEY,
    kind            text NOT NULL,
    role_name       text,
    device_id       uuid,
    subject         text,
    user_id         text,
    source_id       text,
    user_agent      text,
    first_seen      timestamptz NOT NULL,
    last_seen       timestamptz NOT NULL,
    requests        bigint NOT NULL,
    errors          bigint NOT NULL,
    last_status     int NOT NULL,
    status          text NOT NULL,
    shapes          jsonb NOT NULL DEFAULT '[]',
    last_pull_after bigint,
    documents       jsonb
);

-- The log position of an Electric offset ("<lsn>_<op>"), for lag in bytes of WAL.
CREATE FUNCTION electric_sync._offset_lsn(o text) RETURNS numeric
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT CASE WHEN o ~ '^[0-9]+_[0-9]+$' THEN split_part(o, '_', 1)::numeric END $$;

-- One row per client: readers of /v1/shape (a device, a token subject, a role, the
-- administrator or, with read_auth = none, everyone as "public") and oversync sources.
-- status: idle (up to date, nothing pending), syncing (catching up; a push or pull under way;
-- a 409), error (the last request failed); 'revoked' for a revoked device.
-- shapes: the last shapes read, each with the offset read and lag_bytes behind the shape's log
-- (from shape_stats, refreshed every 5 s). lag_bytes: the largest of them. For oversync
-- sources: the last push (committed source bundle) and pull positions, and how many bundles
-- the user has that the last pull did not reach. documents: for a SyncKit WebSocket connection
-- (kind synckit), the ids of the documents it is subscribed to.
CREATE VIEW electric_sync.clients AS
SELECT a.client_id,
       a.kind,
       CASE WHEN d.revoked_at IS NOT NULL THEN 'revoked' ELSE a.status END AS status,
       a.last_seen,
       a.first_seen,
       a.user_agent,
       a.requests,
       a.errors,
       a.last_status,
       a.role_name,
       a.device_id,
       a.subject,
       d.enrolled_at,
       d.revoked_at,
       sh.shapes,
       sh.lag_bytes,
       a.user_id,
       a.source_id,
       ss.max_committed_source_bundle_id AS last_push_source_bundle_id,
       a.last_pull_after AS last_pull_after_bundle_seq,
       CASE WHEN a.kind = 'oversync' AND a.last_pull_after IS NOT NULL
            THEN greatest(us.next_bundle_seq - 1 - a.last_pull_after, 0) END AS pull_lag_bundles,
       a.documents
  FROM electric_sync.client_activity a
  LEFT JOIN electric_sync.devices d ON d.device_id = a.device_id
  LEFT JOIN electric_sync.os_source_state ss ON ss.user_id = a.user_id AND ss.source_id = a.source_id
  LEFT JOIN electric_sync.os_user_state us ON us.user_id = a.user_id
  LEFT JOIN LATERAL (
      SELECT jsonb_agg(x.e || jsonb_build_object('lag_bytes', x.lag) ORDER BY x.o) AS shapes, max(x.lag) AS lag_bytes
        FROM (SELECT e, o,
                     greatest(electric_sync._offset_lsn(st.last_offset) - electric_sync._offset_lsn(e->>'offset'), 0) AS lag
                FROM jsonb_array_elements(a.shapes) WITH ORDINALITY j(e, o)
                LEFT JOIN electric_sync.shapes s ON s.handle = e->>'handle'
                LEFT JOIN electric_sync.shape_stats st ON st.shape_id = s.shape_id) x) sh ON true;

REVOKE ALL ON TABLE electric_sync.client_activity, electric_sync.clients FROM PUBLIC;
REVOKE ALL ON FUNCTION electric_sync._offset_lsn(text) FROM PUBLIC;

-- SyncKit documents (sql/install/60_synckit.sql, same text).

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
