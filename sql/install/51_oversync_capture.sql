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
-- (inlined SQL: without bytea columns the payload is returned without a PL/pgSQL call)
CREATE FUNCTION electric_sync.os_wire_payload(p jsonb, cols text[]) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN cardinality(cols) > 0 THEN electric_sync.os_bytea_payload(p, cols, true) ELSE p END $$;
CREATE FUNCTION electric_sync.os_db_payload(p jsonb, cols text[]) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN cardinality(cols) > 0 THEN electric_sync.os_bytea_payload(p, cols, false) ELSE p END $$;

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

CREATE FUNCTION electric_sync.os_finalize_trigger() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- (most often a push commit or exec_write has finalized already: skip the call)
    IF coalesce(current_setting('oversync.capture_txid', true), '') <> '' THEN
        PERFORM electric_sync.os_finalize_tx();
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER os_finalize_at_commit AFTER INSERT ON electric_sync.os_capture_marker
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION electric_sync.os_finalize_trigger();

-- Takes the per-user lock and locks the user's state row (always first, to avoid deadlocks).
CREATE FUNCTION electric_sync.os_lock_user(u text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(u, 0));
    PERFORM 1 FROM electric_sync.os_user_state WHERE user_id = u FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO electric_sync.os_user_state (user_id) VALUES (u) ON CONFLICT DO NOTHING;
        PERFORM 1 FROM electric_sync.os_user_state WHERE user_id = u FOR UPDATE;
    END IF;
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

-- Moves a user's retained floor (the example server's /test/retention-floor). Only the floor:
-- from now on, positions at or below it answer 409 history_pruned (pull, committed-bundle rows,
-- push replays). The bundle rows stay until electric_sync.oversync_prune deletes them. The floor
-- may move back only while every bundle above the new floor is still stored (no silent gaps).
CREATE FUNCTION electric_sync.oversync_set_retention_floor(scope_id text, new_floor bigint) RETURNS bigint
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
