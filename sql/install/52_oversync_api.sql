-- oversync write path: one function per HTTP route (called by src/oversync/routes.cpp over
-- libpq, each in its own transaction). They return the JSON body of the success reply; contract
-- errors are raised by os_raise (SQLSTATE OSERR, DETAIL = the contract's error code, HINT = extra
-- members); src/core/oversync/errors.cpp maps each code to its HTTP status.
-- The caller has already authenticated user u and source src and validated the request shape.

-- One bundle row in wire form (BundleRow): keys in Go's struct order.
CREATE FUNCTION electric_sync.os_row_json(sch text, tbl text, key_json text, op text, rv bigint, payload text)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT '{"schema":' || to_json(sch)::text || ',"table":' || to_json(tbl)::text || ',"key":' || key_json
        || CASE WHEN op IS NULL THEN '' ELSE ',"op":"' || op || '"' END
        || ',"row_version":' || rv || CASE WHEN payload IS NULL THEN '' ELSE ',"payload":' || payload END || '}'
$$;

-- Effective scope state: an INITIALIZING scope whose lease lapsed reads as UNINITIALIZED.
-- (PL/pgSQL, not SQL: a SQL function with a sub-select is not inlined, and was planned anew on
-- every call.)
CREATE FUNCTION electric_sync.os_scope_state_of(u text) RETURNS smallint LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN coalesce((SELECT CASE WHEN s.state = 1 AND s.lease_expires_at <= now() THEN 0 ELSE s.state END
                       FROM electric_sync.os_scope_state s WHERE s.user_id = u), 0)::smallint;
END $$;

CREATE FUNCTION electric_sync.os_require_initialized(u text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE s smallint := electric_sync.os_scope_state_of(u);
BEGIN
    IF s = 0 THEN
        PERFORM electric_sync.os_raise('scope_uninitialized', format('scope for user %s is not initialized; call /sync/connect first', u));
    ELSIF s = 1 THEN
        PERFORM electric_sync.os_raise('scope_initializing', format('scope for user %s is being initialized by another device', u));
    END IF;
END $$;

-- Lease check for create/chunk/commit of an initializing push; extends the lease.
CREATE FUNCTION electric_sync.os_check_lease(u text, src text, init_id text, lease_ttl int) RETURNS void
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

CREATE FUNCTION electric_sync.os_retired_error(u text, src text, replaced_by text) RETURNS void LANGUAGE sql AS $$
    SELECT electric_sync.os_raise('source_retired',
        format('source %s for user %s was retired and replaced by %s', src, u, coalesce(replaced_by, '(none)')),
        jsonb_build_object('source_id', src, 'replaced_by_source_id', coalesce(replaced_by, '')));
$$;

-- POST /sync/connect
CREATE FUNCTION electric_sync.os_api_connect(u text, src text, has_pending boolean, lease_ttl int) RETURNS text
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

-- POST /sync/push-sessions
CREATE FUNCTION electric_sync.os_api_push_create(u text, src text, sbid bigint, planned int, init_id text,
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

-- Loads a push session for chunk/commit/delete with the owner and expiry checks.
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

-- POST /sync/push-sessions/{push_id}/chunks. rows: validated, normalized PushRequestRows.
CREATE FUNCTION electric_sync.os_api_push_chunk(u text, src text, push_id text, start_ord int, rows jsonb,
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

-- DELETE /sync/push-sessions/{push_id}
CREATE FUNCTION electric_sync.os_api_push_delete(u text, push_id text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE s electric_sync.os_push_sessions;
BEGIN
    s := electric_sync.os_push_session_for(u, push_id, 'push_chunk_invalid');
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
