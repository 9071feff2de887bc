-- oversync route functions (what the HTTP handler calls): connect lifecycle, push sessions,
-- conflicts, committed rows, pull, snapshots, source replacement. Contract errors carry
-- SQLSTATE ES<http status> and the error code in DETAIL.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS electric_sync;
RESET client_min_messages;
\set SHOW_CONTEXT never
\set VERBOSITY default
CREATE SCHEMA osa;
CREATE TABLE osa.notes (_sync_scope_id text NOT NULL, id uuid NOT NULL, body text, n int, PRIMARY KEY (_sync_scope_id, id));
SELECT key_kind FROM electric_sync.oversync_register_table('osa.notes');
-- try(sql): 'ok', or the SQLSTATE (ES<status>) and the contract error code.
CREATE FUNCTION osa.try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; code text;
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, code = PG_EXCEPTION_DETAIL;
    RETURN st || ' ' || code;
END $$;

-- connect: first device with data initializes; another device waits; then remote_authoritative.
SELECT electric_sync.os_api_connect('a-u1', 'dev1', true, 900)::jsonb ->> 'resolution' AS r1;
SELECT (electric_sync.os_api_connect('a-u1', 'dev2', false, 900)::jsonb - 'lease_expires_at') ->> 'resolution' AS r2;
SELECT initialization_id AS iid FROM electric_sync.os_scope_state WHERE user_id = 'a-u1' \gset
SELECT electric_sync.os_api_push_create('a-u1', 'dev1', 1, 2, NULL, 900, 900);
SELECT electric_sync.os_api_push_create('a-u1', 'dev1', 1, 2, :'iid', 900, 900)::jsonb ->> 'push_id' AS pid \gset
SELECT electric_sync.os_api_push_chunk('a-u1', 'dev1', :'pid', 0,
  '[{"schema":"osa","table":"notes","key":{"id":"00000000-0000-0000-0000-000000000001"},"op":"INSERT","base_row_version":0,"payload":{"body":"one","n":1}}]', 900, 900)::jsonb ->> 'next_expected_row_ordinal' AS next;
SELECT osa.try(format($q$SELECT electric_sync.os_api_push_chunk('a-u1', 'dev1', %L, 0, '[]', 900, 900)$q$, :'pid'));
SELECT osa.try(format($q$SELECT electric_sync.os_api_push_chunk('a-u2', 'devx', %L, 1, '[]', 900, 900)$q$, :'pid'));
SELECT electric_sync.os_api_push_commit('a-u1', 'dev1', :'pid', 900);
SELECT electric_sync.os_api_push_chunk('a-u1', 'dev1', :'pid', 1,
  '[{"schema":"osa","table":"notes","key":{"id":"00000000-0000-0000-0000-000000000002"},"op":"INSERT","base_row_version":0,"payload":{"body":"two <b>"}}]', 900, 900)::jsonb ->> 'next_expected_row_ordinal' AS next;
SELECT electric_sync.os_api_push_commit('a-u1', 'dev1', :'pid', 900);
SELECT state FROM electric_sync.os_scope_state WHERE user_id = 'a-u1';
SELECT electric_sync.os_api_connect('a-u1', 'dev2', false, 900);
-- replay of a committed source bundle
SELECT electric_sync.os_api_push_create('a-u1', 'dev1', 1, 2, :'iid', 900, 900);
SELECT electric_sync.os_api_push_create('a-u1', 'dev1', 3, 1, NULL, 900, 900);
SELECT electric_sync.os_api_committed_rows('a-u1', 1, NULL, 1);
SELECT electric_sync.os_api_committed_rows('a-u1', 1, 0, 1);
SELECT electric_sync.os_api_committed_rows('a-u1', 2, NULL, 1);
SELECT electric_sync.os_api_committed_rows('a-u2', 1, NULL, 1);

-- conflict: stale base version; the error carries the server row
SELECT electric_sync.os_api_push_create('a-u1', 'dev2', 1, 1, NULL, 900, 900)::jsonb ->> 'push_id' AS pid2 \gset
SELECT electric_sync.os_api_push_chunk('a-u1', 'dev2', :'pid2', 0,
  '[{"schema":"osa","table":"notes","key":{"id":"00000000-0000-0000-0000-000000000001"},"op":"UPDATE","base_row_version":0,"payload":{"n":2}}]', 900, 900)::jsonb ->> 'next_expected_row_ordinal' AS next;
SELECT electric_sync.os_api_push_commit('a-u1', 'dev2', :'pid2', 900);
UPDATE electric_sync.os_push_rows SET base_row_version = 1 WHERE push_id = :'pid2';
SELECT electric_sync.os_api_push_commit('a-u1', 'dev2', :'pid2', 900)::jsonb - 'bundle_hash' AS commit;
SELECT body, n FROM osa.notes WHERE _sync_scope_id = 'a-u1' ORDER BY id;

-- pull: frozen ceiling, paging, history_pruned below the floor
SELECT electric_sync.os_api_pull('a-u1', 0, 1, 0)::jsonb - 'bundles' AS page1;
SELECT jsonb_path_query_array(electric_sync.os_api_pull('a-u1', 1, 1, 2)::jsonb, '$.bundles[*].bundle_seq') AS page2;
SELECT electric_sync.os_api_pull('a-u1', 2, 10, 2);
SELECT electric_sync.oversync_set_retention_floor('a-u1', 1);
SELECT electric_sync.os_api_pull('a-u1', 1, 10, 0);
SELECT electric_sync.os_api_committed_rows('a-u1', 1, NULL, 10);
SELECT electric_sync.os_api_pull('a-u9', 0, 10, 0);

-- snapshots and source replacement
SELECT electric_sync.os_api_snapshot_create('a-u1', 'dev1', NULL, 900, 0, 0)::jsonb - 'snapshot_id' - 'expires_at' AS snap;
SELECT snapshot_id AS sid FROM electric_sync.os_snapshot_sessions WHERE user_id = 'a-u1' \gset
SELECT electric_sync.os_api_snapshot_chunk('a-u1', :'sid', 0, 1)::jsonb - 'snapshot_id' AS chunk1;
SELECT electric_sync.os_api_snapshot_chunk('a-u1', :'sid', 1, 5)::jsonb - 'snapshot_id' AS chunk2;
SELECT osa.try(format($q$SELECT electric_sync.os_api_snapshot_chunk('a-u2', %L, 0, 1)$q$, :'sid'));
SELECT electric_sync.os_api_snapshot_delete('a-u1', :'sid');
SELECT osa.try(format($q$SELECT electric_sync.os_api_snapshot_chunk('a-u1', %L, 0, 1)$q$, :'sid'));
SELECT electric_sync.os_api_snapshot_create('a-u1', 'dev1', '{"previous_source_id":"dev1","new_source_id":"dev1b","reason":"history_pruned"}', 900, 0, 0)::jsonb ->> 'row_count' AS rotated;
SELECT source_id, state, replaced_by_source_id, retirement_reason FROM electric_sync.os_source_state WHERE user_id = 'a-u1' ORDER BY 1;
SELECT electric_sync.os_api_snapshot_create('a-u1', 'dev1', '{"previous_source_id":"dev1","new_source_id":"dev1b","reason":"history_pruned"}', 900, 0, 0)::jsonb ->> 'row_count' AS retried;
SELECT electric_sync.os_api_snapshot_create('a-u1', 'dev1', '{"previous_source_id":"dev1","new_source_id":"dev1c","reason":"history_pruned"}', 900, 0, 0);
SELECT electric_sync.os_api_snapshot_create('a-u1', 'dev2', '{"previous_source_id":"dev2","new_source_id":"dev1b","reason":"source_retired"}', 900, 0, 0);
SELECT electric_sync.os_api_push_create('a-u1', 'dev1', 2, 1, NULL, 900, 900);
SELECT electric_sync.os_api_snapshot_create('a-u7', 'x', NULL, 900, 0, 0);

-- Clean up (the schedule may run this file twice in one database).
SET client_min_messages = warning;
-- A push's commit probes the row states of its own rows only (a primary-key lookup per staged
-- row), never every row state of the user: a user with 3,000 synced rows pushes one row. The
-- statistics are taken while the table is small, as they often are (autovacuum lags): the
-- planner then believes a user has a handful of row states.
ANALYZE electric_sync.os_row_state;
INSERT INTO osa.notes SELECT 'a-big', gen_random_uuid(), 'x', g FROM generate_series(1, 3000) g;
SELECT count(*) AS row_states FROM electric_sync.os_row_state WHERE user_id = 'a-big';
SELECT electric_sync.os_api_connect('a-big', 'dev1', false, 900)::jsonb ->> 'resolution' AS resolution;
SELECT electric_sync.os_api_push_create('a-big', 'dev1', 1, 1, NULL, 900, 900)::jsonb ->> 'push_id' AS bpid \gset
SELECT electric_sync.os_api_push_chunk('a-big', 'dev1', :'bpid', 0,
  '[{"schema":"osa","table":"notes","key":{"id":"00000000-0000-0000-0000-0000000000b1"},"op":"INSERT","base_row_version":0,"payload":{"body":"b"}}]', 900, 900)::jsonb ->> 'next_expected_row_ordinal' AS next;
-- (this backend's pending table statistics are flushed first: pg_stat_xact_* then counts the
-- commit's transaction alone)
SELECT pg_stat_force_next_flush();
BEGIN;
SELECT electric_sync.os_api_push_commit('a-big', 'dev1', :'bpid', 900)::jsonb ->> 'row_count' AS row_count;
SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) < 50 AS few_row_states_read
  FROM pg_stat_xact_all_tables WHERE relid = 'electric_sync.os_row_state'::regclass;
COMMIT;
SELECT electric_sync.oversync_unregister_tables(array_agg(relid::regclass)) IS NOT NULL AS cleaned
  FROM electric_sync.os_tables WHERE schema_name = 'osa';
DROP SCHEMA osa CASCADE;
DELETE FROM electric_sync.os_bundle_log WHERE user_id LIKE 'a-%';
DELETE FROM electric_sync.os_user_state WHERE user_id LIKE 'a-%';
DELETE FROM electric_sync.os_scope_state WHERE user_id LIKE 'a-%';
DELETE FROM electric_sync.os_source_state WHERE user_id LIKE 'a-%';
DELETE FROM electric_sync.os_push_sessions WHERE user_id LIKE 'a-%';
DELETE FROM electric_sync.os_snapshot_sessions WHERE user_id LIKE 'a-%';
RESET client_min_messages;
