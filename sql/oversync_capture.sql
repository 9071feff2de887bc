-- oversync capture: plain SQL writes and server writes become bundles in the writing
-- transaction (gapless per-user bundle_seq, collapse rules, row versions, tombstones).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS electric_sync;
RESET client_min_messages;
\set SHOW_CONTEXT never
CREATE SCHEMA osc;
CREATE TABLE osc.items (_sync_scope_id text NOT NULL, id text NOT NULL, title text, qty numeric, tags text[], img bytea,
  PRIMARY KEY (_sync_scope_id, id));
CREATE TABLE osc.parts (_sync_scope_id text NOT NULL, id uuid NOT NULL, item_id text, PRIMARY KEY (_sync_scope_id, id),
  FOREIGN KEY (_sync_scope_id, item_id) REFERENCES osc.items (_sync_scope_id, id) ON DELETE CASCADE ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED);
SELECT count(*) FROM electric_sync.oversync_register_tables(ARRAY['osc.items', 'osc.parts']::regclass[]);

CREATE VIEW osc.log AS
  SELECT l.user_id, l.bundle_seq, l.source_id, l.source_bundle_id, l.row_count, r.row_ordinal, r.op, r.key_json, r.payload
    FROM electric_sync.os_bundle_log l JOIN electric_sync.os_bundle_rows r USING (user_id, bundle_seq)
   WHERE l.user_id LIKE 'c-%' ORDER BY 1, 2, r.row_ordinal;

-- A plain write is a bundle of the row's scope (writer electric_sync.sql); numbers and strings
-- are in Go's canonical form, bytea in base64.
INSERT INTO osc.items VALUES ('c-ann', 'i1', 'Tom & <Jerry>', 12345678901234567890, '{a,b}', '\x00ff10');
SELECT * FROM osc.log;
SELECT bundle_hash, byte_count FROM electric_sync.os_bundle_log WHERE user_id = 'c-ann';

-- One transaction touching two users: one bundle each. Collapse: insert+update = INSERT with the
-- last image; insert+delete = nothing; a key change = DELETE old + INSERT new; cascades captured.
BEGIN;
INSERT INTO osc.items VALUES ('c-bob', 'b1', 'first', 1, NULL, NULL);
UPDATE osc.items SET title = 'second' WHERE _sync_scope_id = 'c-bob';
INSERT INTO osc.items VALUES ('c-bob', 'tmp', 'gone', 0, NULL, NULL);
DELETE FROM osc.items WHERE _sync_scope_id = 'c-bob' AND id = 'tmp';
INSERT INTO osc.parts VALUES ('c-ann', '11111111-2222-3333-4444-555555555555', 'i1');
UPDATE osc.items SET id = 'i1-renamed', qty = 0.1 WHERE _sync_scope_id = 'c-ann' AND id = 'i1';
COMMIT;
SELECT * FROM osc.log;
SELECT user_id, key_text, bundle_seq, deleted FROM electric_sync.os_row_state WHERE user_id LIKE 'c-%' ORDER BY 1, 2;

-- A rolled back transaction leaves nothing; an empty update of no rows makes no bundle.
BEGIN;
DELETE FROM osc.items WHERE _sync_scope_id = 'c-bob';
ROLLBACK;
UPDATE osc.items SET title = 'x' WHERE false;
SELECT user_id, max(bundle_seq) FROM electric_sync.os_bundle_log WHERE user_id LIKE 'c-%' GROUP BY 1 ORDER BY 1;
SELECT count(*) AS leftover_capture FROM electric_sync.os_capture;

-- Scope rules: a row needs a scope, cannot move to another scope, TRUNCATE is refused.
INSERT INTO osc.items (id, title) VALUES ('nobody', 'x');
UPDATE osc.items SET _sync_scope_id = 'c-bob' WHERE _sync_scope_id = 'c-ann';
TRUNCATE osc.items, osc.parts;

-- oversync_exec_write: a bundle for one scope from a named writer; auto-initializes the scope.
SELECT electric_sync.oversync_exec_write('c-cat', 'admin', $$INSERT INTO osc.items (id, title) VALUES ('k1', 'by admin'); INSERT INTO osc.items (id, title) VALUES ('k2', 'two')$$) - 'bundle' AS result;
SELECT user_id, bundle_seq, source_id, source_bundle_id, row_count FROM electric_sync.os_bundle_log WHERE user_id = 'c-cat';
SELECT state, initialized_by_source_id FROM electric_sync.os_scope_state WHERE user_id = 'c-cat';
SELECT electric_sync.oversync_exec_write('c-cat', 'admin', $$UPDATE osc.items SET title = 'y' WHERE _sync_scope_id = 'c-ann'$$);
SELECT electric_sync.oversync_exec_write('c-cat', 'admin', $$UPDATE osc.items SET title = 'y' WHERE false$$);
SELECT (electric_sync.oversync_exec_write('c-cat', 'admin', $$DELETE FROM osc.items WHERE id = 'k1'$$) -> 'bundle') - 'bundle_hash' AS second;
SELECT key_text, bundle_seq, deleted FROM electric_sync.os_row_state WHERE user_id = 'c-cat' ORDER BY 1;

-- A scope being initialized by a device refuses plain writes (until its lease ends).
SELECT electric_sync.os_api_connect('c-dan', 'phone', true, 60)::jsonb ->> 'resolution' AS resolution;
INSERT INTO osc.items VALUES ('c-dan', 'd1', 'x', 1, NULL, NULL);
UPDATE electric_sync.os_scope_state SET lease_expires_at = now() - interval '1 second' WHERE user_id = 'c-dan';
INSERT INTO osc.items VALUES ('c-dan', 'd1', 'x', 1, NULL, NULL);
SELECT state, initialized_by_source_id FROM electric_sync.os_scope_state WHERE user_id = 'c-dan';

-- Retention: keep 2 bundles per user, prune at most 1 per commit.
-- (settings: ALTER SYSTEM + reload; a backend picks the reload up before its next command)
ALTER SYSTEM SET electric_sync.oversync_retained_bundles_per_user = 2;
ALTER SYSTEM SET electric_sync.oversync_retention_prune_batch = 1;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SHOW electric_sync.oversync_retained_bundles_per_user;
INSERT INTO osc.items VALUES ('c-eve', 'e1', 'x', 1, NULL, NULL);
INSERT INTO osc.items VALUES ('c-eve', 'e2', 'x', 1, NULL, NULL);
INSERT INTO osc.items VALUES ('c-eve', 'e3', 'x', 1, NULL, NULL);
INSERT INTO osc.items VALUES ('c-eve', 'e4', 'x', 1, NULL, NULL);
SELECT next_bundle_seq, retained_floor FROM electric_sync.os_user_state WHERE user_id = 'c-eve';
SELECT array_agg(bundle_seq ORDER BY bundle_seq) FROM electric_sync.os_bundle_log WHERE user_id = 'c-eve';
ALTER SYSTEM RESET electric_sync.oversync_retained_bundles_per_user;
ALTER SYSTEM RESET electric_sync.oversync_retention_prune_batch;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SHOW electric_sync.oversync_retained_bundles_per_user;

-- Canonical JSON follows Go's encoding/json.
SELECT electric_sync.os_canonical_json('{"b":1e21,"a":[0.000001,1e-7,100,"<&>\u2028"],"é":null}');

-- Clean up (the schedule may run this file twice in one database).
SET client_min_messages = warning;
SELECT electric_sync.oversync_unregister_tables(array_agg(relid::regclass)) IS NOT NULL AS cleaned
  FROM electric_sync.os_tables WHERE schema_name = 'osc';
DROP SCHEMA osc CASCADE;
DELETE FROM electric_sync.os_bundle_log WHERE user_id LIKE 'c-%';
DELETE FROM electric_sync.os_user_state WHERE user_id LIKE 'c-%';
DELETE FROM electric_sync.os_scope_state WHERE user_id LIKE 'c-%';
DELETE FROM electric_sync.os_source_state WHERE user_id LIKE 'c-%';
DELETE FROM electric_sync.os_push_sessions WHERE user_id LIKE 'c-%';
DELETE FROM electric_sync.os_snapshot_sessions WHERE user_id LIKE 'c-%';
RESET client_min_messages;
