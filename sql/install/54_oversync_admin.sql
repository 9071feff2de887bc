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
