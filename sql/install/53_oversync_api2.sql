-- oversync write path: push commit, committed-bundle rows, pull, snapshots, status.

-- POST /sync/push-sessions/{push_id}/commit
CREATE FUNCTION electric_sync.os_api_push_commit(u text, src text, push_id text, lease_ttl int) RETURNS text
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

-- GET /sync/committed-bundles/{bundle_seq}/rows. after: NULL = from the start.
CREATE FUNCTION electric_sync.os_api_committed_rows(u text, seq bigint, after bigint, max_rows int) RETURNS text
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

-- GET /sync/pull (called in a REPEATABLE READ transaction)
CREATE FUNCTION electric_sync.os_api_pull(u text, after bigint, max_bundles int, target bigint) RETURNS text
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

CREATE FUNCTION electric_sync.os_snapshot_for(u text, snapshot_id text, check_expiry boolean)
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

-- GET /sync/snapshot-sessions/{snapshot_id}
CREATE FUNCTION electric_sync.os_api_snapshot_chunk(u text, snapshot_id text, after bigint, max_rows int) RETURNS text
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

-- DELETE /sync/snapshot-sessions/{snapshot_id}
CREATE FUNCTION electric_sync.os_api_snapshot_delete(u text, snapshot_id text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE s electric_sync.os_snapshot_sessions;
BEGIN
    s := electric_sync.os_snapshot_for(u, snapshot_id, false);
    DELETE FROM electric_sync.os_snapshot_sessions x WHERE x.snapshot_id = s.snapshot_id;
    RETURN NULL;
END $$;

-- The limits of the electric_sync.oversync_* settings, as capabilities' bundle_limits shows them.
CREATE FUNCTION electric_sync.os_api_limits() RETURNS json LANGUAGE sql STABLE AS $$
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

-- Registered tables for capabilities and status.
CREATE FUNCTION electric_sync.os_api_registered() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'registered_tables', coalesce((SELECT json_agg(schema_name || '.' || table_name ORDER BY schema_name || '.' || table_name COLLATE "C")
                                         FROM electric_sync.os_tables), '[]'::json),
        'registered_table_specs', coalesce((SELECT json_agg(json_build_object('schema', schema_name, 'table', table_name,
                                                   'sync_key_columns', json_build_array(key_column))
                                                   ORDER BY schema_name || '.' || table_name COLLATE "C")
                                              FROM electric_sync.os_tables), '[]'::json),
        'bundle_limits', electric_sync.os_api_limits())::text
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
