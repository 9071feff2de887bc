-- oversync settings, retention floor vs pruning, the pull's floor checks, reset and the
-- inspection views (docs/oversync.md "Settings", "Retention and pruning", "Operations").
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS electric_sync;
RESET client_min_messages;
\set SHOW_CONTEXT never
\set VERBOSITY default
CREATE SCHEMA osm;
CREATE TABLE osm.items (_sync_scope_id text NOT NULL, id text NOT NULL, v int, PRIMARY KEY (_sync_scope_id, id));
CREATE TABLE osm.tags (_sync_scope_id text NOT NULL, id text NOT NULL, item_id text NOT NULL, PRIMARY KEY (_sync_scope_id, id),
  FOREIGN KEY (_sync_scope_id, item_id) REFERENCES osm.items (_sync_scope_id, id) DEFERRABLE INITIALLY DEFERRED);
SELECT count(*) FROM electric_sync.oversync_register_tables(ARRAY['osm.items', 'osm.tags']::regclass[]);
CREATE FUNCTION osm.try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; code text;
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, code = PG_EXCEPTION_DETAIL;
    RETURN st || ' ' || code;
END $$;

-- Settings: the defaults are go-oversync v0.2.0's; all reloadable, none settable per session.
SELECT name, setting, unit, context, boot_val FROM pg_settings WHERE name LIKE 'electric_sync.oversync\_%' ORDER BY name;
SELECT osm.try('SET electric_sync.oversync_push_session_ttl = 5');
SELECT electric_sync.os_api_limits();
-- The 0.2.0 settings table is gone.
SELECT to_regclass('electric_sync.os_settings') AS os_settings;

-- Task: a follower at after_bundle_seq = 0 whose user's history is all at or below the floor
-- gets history_pruned (the resolved stable seq is checked), not an empty page forever.
INSERT INTO osm.items VALUES ('m-one', 'i1', 1);
SELECT electric_sync.oversync_set_retention_floor('m-one', 1);
SELECT osm.try($$SELECT electric_sync.os_api_pull('m-one', 0, 1000, 0)$$) AS pull_at_zero;
SELECT osm.try($$SELECT electric_sync.os_api_pull('m-one', 0, 1000, 1)$$) AS target_at_floor;
SELECT osm.try($$SELECT electric_sync.os_api_pull('m-one', 1, 1000, 0)$$) AS after_at_floor;
-- The snapshot it rebuilds from is at the latest bundle.
SELECT electric_sync.os_api_snapshot_create('m-one', 'dev', NULL, 60, 0, 0)::jsonb ->> 'snapshot_bundle_seq' AS snapshot_seq;

-- The floor moves; bundles stay until oversync_prune. Every position at or below the floor is
-- history_pruned anyway: pull pages start above it, committed-bundle rows and replays refuse.
INSERT INTO osm.items VALUES ('m-two', 'a', 1);
INSERT INTO osm.items VALUES ('m-two', 'b', 1);
INSERT INTO osm.items VALUES ('m-two', 'c', 1);
SELECT electric_sync.oversync_set_retention_floor('m-two', 2);
SELECT user_id, latest_bundle_seq, retained_floor, retained_bundles, prunable_bundles FROM electric_sync.oversync_users WHERE user_id = 'm-two';
SELECT bundle_seq, source_id, source_bundle_id, row_count, retained FROM electric_sync.oversync_bundles WHERE user_id = 'm-two' ORDER BY bundle_seq;
SELECT jsonb_path_query_array(electric_sync.os_api_pull('m-two', 0, 1000, 0)::jsonb, '$.bundles[*].bundle_seq') AS pulled;
SELECT osm.try($$SELECT electric_sync.os_api_committed_rows('m-two', 2, NULL, 10)$$) AS committed_at_floor;
SELECT osm.try($$SELECT electric_sync.os_api_push_create('m-two', 'electric_sync.sql', 1, 1, NULL, 60, 60)$$) AS replay_below_floor;
SELECT electric_sync.os_api_push_create('m-two', 'electric_sync.sql', 3, 1, NULL, 60, 60)::jsonb ->> 'status' AS replay_above_floor;
-- The floor may move back over stored bundles only.
SELECT electric_sync.oversync_set_retention_floor('m-two', 1);
SELECT electric_sync.oversync_set_retention_floor('m-two', 2);
SELECT osm.try($$SELECT electric_sync.oversync_set_retention_floor('m-two', 4)$$) AS beyond_latest;
SELECT osm.try($$SELECT electric_sync.oversync_set_retention_floor('nobody', 0)$$) AS unknown_user;
-- Pruning: per user, bounded, then everything below the floors.
INSERT INTO osm.items VALUES ('m-three', 'x', 1);
INSERT INTO osm.items VALUES ('m-three', 'y', 1);
SELECT electric_sync.oversync_set_retention_floor('m-three', 2);
SELECT electric_sync.oversync_prune('m-two', 1) AS pruned_one;
SELECT array_agg(bundle_seq ORDER BY bundle_seq) FROM electric_sync.os_bundle_log WHERE user_id = 'm-two';
SELECT electric_sync.oversync_prune() AS pruned_rest;
SELECT user_id, array_agg(bundle_seq ORDER BY bundle_seq) FROM electric_sync.os_bundle_log
 WHERE user_id IN ('m-one', 'm-two', 'm-three') GROUP BY 1 ORDER BY 1;
SELECT electric_sync.oversync_prune() AS nothing_left;
SELECT osm.try($$SELECT electric_sync.oversync_prune(NULL, -1)$$) AS negative;
SELECT osm.try($$SELECT electric_sync.oversync_set_retention_floor('m-two', 1)$$) AS back_over_pruned;

-- Automatic retention moves the floor by at most the batch per commit and deletes exactly the
-- bundles it moves past (here: keep 1, batch 1; m-two's floor was 2 with bundle 3 stored).
ALTER SYSTEM SET electric_sync.oversync_retained_bundles_per_user = 1;
ALTER SYSTEM SET electric_sync.oversync_retention_prune_batch = 1;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
INSERT INTO osm.items VALUES ('m-two', 'd', 1);
INSERT INTO osm.items VALUES ('m-two', 'e', 1);
SELECT latest_bundle_seq, retained_floor FROM electric_sync.oversync_users WHERE user_id = 'm-two';
SELECT array_agg(bundle_seq ORDER BY bundle_seq) FROM electric_sync.os_bundle_log WHERE user_id = 'm-two';
-- 0 = no automatic retention.
ALTER SYSTEM SET electric_sync.oversync_retained_bundles_per_user = 0;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
INSERT INTO osm.items VALUES ('m-two', 'f', 1);
SELECT latest_bundle_seq, retained_floor FROM electric_sync.oversync_users WHERE user_id = 'm-two';
-- Limits from settings: pull max_bundles range, chunk rows, snapshot chunk rows, planned rows.
ALTER SYSTEM SET electric_sync.oversync_max_bundles_per_pull = 3;
ALTER SYSTEM SET electric_sync.oversync_max_rows_per_push_chunk = 1;
ALTER SYSTEM SET electric_sync.oversync_max_rows_per_snapshot_chunk = 1;
ALTER SYSTEM SET electric_sync.oversync_max_rows_per_bundle = 2;
ALTER SYSTEM SET electric_sync.oversync_push_session_ttl = '2min';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT osm.try($$SELECT electric_sync.os_api_pull('m-two', 2, 4, 0)$$) AS max_bundles_4;
SELECT jsonb_path_query_array(electric_sync.os_api_pull('m-two', 0, NULL, 0)::jsonb, '$.bundles[*].bundle_seq') AS default_page;
SELECT osm.try($$SELECT electric_sync.os_api_push_create('m-two', 'dev', 1, 3, NULL, NULL, NULL)$$) AS planned_3;
SELECT electric_sync.os_api_push_create('m-two', 'dev', 1, 2, NULL, NULL, NULL)::jsonb ->> 'push_id' AS pid \gset
SELECT round(extract(epoch FROM expires_at - created_at)) AS push_ttl_seconds FROM electric_sync.oversync_push_sessions WHERE push_id = :'pid';
SELECT osm.try(format($q$SELECT electric_sync.os_api_push_chunk('m-two', 'dev', %L, 0,
  '[{"schema":"osm","table":"items","key":{"id":"p1"},"op":"INSERT","base_row_version":0,"payload":{"v":1}},
    {"schema":"osm","table":"items","key":{"id":"p2"},"op":"INSERT","base_row_version":0,"payload":{"v":1}}]', NULL, NULL)$q$, :'pid')) AS chunk_2_rows;
SELECT user_id, source_id, source_bundle_id, planned_row_count, next_expected_row_ordinal, staged_rows, expired
  FROM electric_sync.oversync_push_sessions WHERE push_id = :'pid';
SELECT electric_sync.os_api_snapshot_create('m-two', 'dev', NULL, NULL, 0, 0)::jsonb ->> 'snapshot_id' AS sid \gset
SELECT jsonb_array_length(electric_sync.os_api_snapshot_chunk('m-two', :'sid', 0, NULL)::jsonb -> 'rows') AS default_rows,
       jsonb_array_length(electric_sync.os_api_snapshot_chunk('m-two', :'sid', 0, 100)::jsonb -> 'rows') AS lowered_rows;
SELECT user_id, snapshot_bundle_seq, row_count, expired FROM electric_sync.oversync_snapshot_sessions WHERE snapshot_id = :'sid';
ALTER SYSTEM RESET electric_sync.oversync_retained_bundles_per_user;
ALTER SYSTEM RESET electric_sync.oversync_retention_prune_batch;
ALTER SYSTEM RESET electric_sync.oversync_max_bundles_per_pull;
ALTER SYSTEM RESET electric_sync.oversync_max_rows_per_push_chunk;
ALTER SYSTEM RESET electric_sync.oversync_max_rows_per_snapshot_chunk;
ALTER SYSTEM RESET electric_sync.oversync_max_rows_per_bundle;
ALTER SYSTEM RESET electric_sync.oversync_push_session_ttl;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SHOW electric_sync.oversync_max_bundles_per_pull;

-- Inspection views: sources and row versions.
SELECT user_id, source_id, state, max_committed_source_bundle_id FROM electric_sync.oversync_sources
 WHERE user_id LIKE 'm-%' ORDER BY 1, 2;
INSERT INTO osm.tags VALUES ('m-one', 't1', 'i1');
DELETE FROM osm.tags WHERE _sync_scope_id = 'm-one';
INSERT INTO osm.tags VALUES ('m-one', 't2', 'i1');
SELECT user_id, schema_name, table_name, key, row_version, deleted FROM electric_sync.oversync_row_versions
 WHERE user_id = 'm-one' ORDER BY table_name, key;

-- Reset: one user (state only, then with its rows), then everyone.
SELECT electric_sync.oversync_reset('m-one') AS reset_state;
SELECT count(*) AS m_one_rows FROM osm.items WHERE _sync_scope_id = 'm-one';
SELECT count(*) AS m_one_state FROM electric_sync.oversync_users WHERE user_id = 'm-one';
INSERT INTO osm.items VALUES ('m-one', 'i2', 1);
SELECT latest_bundle_seq, scope_state FROM electric_sync.oversync_users WHERE user_id = 'm-one';
SELECT electric_sync.oversync_reset('m-one', true) AS reset_rows;
SELECT count(*) AS m_one_rows FROM osm.items WHERE _sync_scope_id = 'm-one';
SELECT count(*) AS m_one_bundles FROM electric_sync.os_bundle_log WHERE user_id = 'm-one';
SELECT count(*) AS m_two_rows FROM osm.items WHERE _sync_scope_id = 'm-two';
SELECT osm.try($$SELECT electric_sync.oversync_reset('')$$) AS empty_scope;
SELECT electric_sync.oversync_reset(NULL, true) - 'users' - 'bundles' AS reset_all;
SELECT (SELECT count(*) FROM osm.items) AS items, (SELECT count(*) FROM osm.tags) AS tags,
       (SELECT count(*) FROM electric_sync.os_user_state) AS users, (SELECT count(*) FROM electric_sync.os_row_state) AS row_versions,
       (SELECT count(*) FROM electric_sync.os_push_sessions) AS push_sessions;
-- The triggers are back: a write is captured again; TRUNCATE is refused again.
INSERT INTO osm.items VALUES ('m-two', 'again', 1);
SELECT latest_bundle_seq FROM electric_sync.oversync_users WHERE user_id = 'm-two';
SELECT osm.try('TRUNCATE osm.tags') AS truncate_refused;

-- Superuser only; the views and functions are not granted to PUBLIC.
CREATE ROLE osm_plain LOGIN;
GRANT USAGE ON SCHEMA electric_sync, osm TO osm_plain;
GRANT EXECUTE ON FUNCTION electric_sync.oversync_reset(text, boolean) TO osm_plain;
SET ROLE osm_plain;
SELECT osm.try($$SELECT electric_sync.oversync_reset('m-two')$$) AS reset_as_plain;
SELECT osm.try('SELECT * FROM electric_sync.oversync_users') AS users_view;
SELECT osm.try('SELECT * FROM electric_sync.oversync_bundles') AS bundles_view;
SELECT osm.try('SELECT electric_sync.oversync_prune()') AS prune_fn;
RESET ROLE;
SELECT c.relname, c.relacl FROM pg_class c WHERE c.relnamespace = 'electric_sync'::regnamespace AND c.relname LIKE 'oversync\_%' ORDER BY 1;
REVOKE ALL ON SCHEMA electric_sync, osm FROM osm_plain;
REVOKE ALL ON FUNCTION electric_sync.oversync_reset(text, boolean) FROM osm_plain;
DROP ROLE osm_plain;
SELECT electric_sync.oversync_unregister_tables(ARRAY['osm.tags', 'osm.items']::regclass[]);
DROP SCHEMA osm CASCADE;
