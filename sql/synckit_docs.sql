-- SyncKit document storage (sql/install/60_synckit.sql): the WebSocket write path
-- _synckit_apply (LWW on (ts, client_id), Lamport counters, tombstones), plain SQL writes
-- stamped by the trigger, the notifications to the worker, the SQL API and its errors.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS electric_sync;
RESET client_min_messages;
\set SHOW_CONTEXT never

-- ---- _synckit_apply: last-writer-wins -------------------------------------------------------
-- a missing document without p_create: no row, nothing created
SELECT * FROM electric_sync._synckit_apply('lww', 'a', '1', false, 1000, 'alice', 0, false);
SELECT count(*) FROM electric_sync_docs.documents WHERE id = 'lww';
-- the first write creates the document
SELECT * FROM electric_sync._synckit_apply('lww', 'a', '1', false, 1000, 'alice', 0, true);
-- a later timestamp wins
SELECT * FROM electric_sync._synckit_apply('lww', 'a', '2', false, 2000, 'bob', 1, true);
-- an earlier one loses: the winner comes back, re-stamped with the next counter
SELECT * FROM electric_sync._synckit_apply('lww', 'a', '3', false, 1500, 'zed', 2, true);
-- equal timestamps: the greater client_id wins, in byte order ('carol' > 'bob' > 'Dave';
-- a linguistic collation would put 'Dave' after 'carol')
SELECT * FROM electric_sync._synckit_apply('lww', 'a', '4', false, 2000, 'carol', 3, true);
SELECT * FROM electric_sync._synckit_apply('lww', 'a', '5', false, 2000, 'Dave', 4, true);
-- a full tie (same ts and client_id): the incoming write, so a replay is idempotent
SELECT * FROM electric_sync._synckit_apply('lww', 'a', '6', false, 2000, 'carol', 5, true);
SELECT * FROM electric_sync._synckit_apply('lww', 'a', '6', false, 2000, 'carol', 5, true);
-- a client clock above the document's counter: the counter goes past it
SELECT * FROM electric_sync._synckit_apply('lww', 'b', 'true', false, 100, 'alice', 41, true);
-- a clock below it does not lower it
SELECT * FROM electric_sync._synckit_apply('lww', 'b', 'false', false, 200, 'alice', 3, true);
-- a tombstone: value NULL whatever was sent
SELECT * FROM electric_sync._synckit_apply('lww', 'a', '"gone"', true, 3000, 'alice', 0, true);
-- an older write does not bring the field back
SELECT * FROM electric_sync._synckit_apply('lww', 'a', '7', false, 2500, 'zed', 0, true);
-- a newer one does
SELECT * FROM electric_sync._synckit_apply('lww', 'a', '{"k": [1, "two"]}', false, 3001, 'zed', 0, true);
-- an existing document without p_create
SELECT * FROM electric_sync._synckit_apply('lww', 'c', '"c"', false, 10, 'alice', 0, false);
SELECT document_id, field, value, deleted, ts, client_id, counter FROM electric_sync_docs.fields
 WHERE document_id = 'lww' ORDER BY field;
SELECT id, counter, updated_at >= created_at AS times_ok FROM electric_sync_docs.documents WHERE id = 'lww';
-- the stored values obey the constraints (terse: the failing row has timestamps)
\set VERBOSITY terse
SELECT * FROM electric_sync._synckit_apply('', 'a', '1', false, 1, 'alice', 0, true);
SELECT * FROM electric_sync._synckit_apply('lww', repeat('f', 1025), '1', false, 1, 'alice', 0, true);
SELECT * FROM electric_sync._synckit_apply('lww', 'a', '1', false, NULL, 'alice', 0, true);
\set VERBOSITY default

-- ---- plain SQL writes: stamped by the trigger -----------------------------------------------
SELECT ts AS c_ts FROM electric_sync_docs.fields WHERE document_id = 'lww' AND field = 'c' \gset
-- an UPDATE: the document's next counter, client_id 'sql', a timestamp of now
UPDATE electric_sync_docs.fields SET value = '"sql"' WHERE document_id = 'lww' AND field = 'c'
RETURNING field, value, client_id, counter, ts > :c_ts AS later,
          abs(ts - electric_sync._synckit_now_ms()) < 60000 AS now_ms;
-- a field whose timestamp is ahead of the clock: the SQL write's is one above it
SELECT * FROM electric_sync._synckit_apply('lww', 'future', '1', false, 99999999999999, 'alice', 0, true);
UPDATE electric_sync_docs.fields SET value = '2' WHERE document_id = 'lww' AND field = 'future'
RETURNING value, client_id, counter, ts;
UPDATE electric_sync_docs.fields SET value = '3' WHERE document_id = 'lww' AND field = 'future'
RETURNING value, client_id, counter, ts;
-- a client_id the statement sets is kept; deleted = true clears the value
UPDATE electric_sync_docs.fields SET client_id = 'importer', deleted = true
 WHERE document_id = 'lww' AND field = 'future'
RETURNING value, deleted, client_id, counter, ts;
-- several rows: one counter each
UPDATE electric_sync_docs.fields SET value = to_jsonb(field) WHERE document_id = 'lww' AND field IN ('b', 'c')
RETURNING field, value, client_id, counter;
-- an INSERT creates its document; an explicit client_id is kept; a deleted field has no value
INSERT INTO electric_sync_docs.fields (document_id, field, value) VALUES ('sqldoc', 'x', '1'), ('sqldoc', 'y', '2')
RETURNING document_id, field, value, deleted, client_id, counter, abs(ts - electric_sync._synckit_now_ms()) < 60000 AS now_ms;
INSERT INTO electric_sync_docs.fields (document_id, field, value, client_id) VALUES ('sqldoc', 'z', '3', 'importer')
RETURNING field, value, client_id, counter;
INSERT INTO electric_sync_docs.fields (document_id, field, value, deleted) VALUES ('sqldoc', 'w', '4', true)
RETURNING field, value, deleted, client_id, counter;
SELECT id, counter FROM electric_sync_docs.documents WHERE id = 'sqldoc';
-- a field cannot move to another key
UPDATE electric_sync_docs.fields SET field = 'x2' WHERE document_id = 'sqldoc' AND field = 'x';
-- a DELETE of a field row raises the document's counter (the delete is sent with it)
DELETE FROM electric_sync_docs.fields WHERE document_id = 'sqldoc' AND field = 'z';
SELECT id, counter FROM electric_sync_docs.documents WHERE id = 'sqldoc';
-- deleting the document deletes its fields
DELETE FROM electric_sync_docs.documents WHERE id = 'sqldoc';
SELECT count(*) FROM electric_sync_docs.fields WHERE document_id = 'sqldoc';

-- ---- notifications (channel electric_sync_synckit) ------------------------------------------
-- psql prints each with the sending backend's PID, so they go to a file (\o) and are shown
-- from it; SQL writes' timestamps (epoch ms, 13 digits or more) are shown as <now>.
\getenv abs_builddir PG_ABS_BUILDDIR
\set notify_file :abs_builddir '/results/synckit_docs.notifications'
\o :notify_file
LISTEN electric_sync_synckit;
SELECT * FROM electric_sync._synckit_apply('n1', 'title', '"Hi \"you\""', false, 500, 'alice', 0, true);
-- a losing write: the winner, with the new counter
SELECT * FROM electric_sync._synckit_apply('n1', 'title', '"old"', false, 400, 'bob', 0, true);
SELECT * FROM electric_sync._synckit_apply('n1', 'gone', 'null', true, 600, 'bob', 0, true);
-- a value too long for a NOTIFY payload: left out, "big": true
SELECT value = to_jsonb(repeat('x', 8000)) AS stored, counter, won
  FROM electric_sync._synckit_apply('n1', 'big', to_jsonb(repeat('x', 8000)), false, 700, 'alice', 0, true);
-- SQL writes
UPDATE electric_sync_docs.fields SET value = '{"a": 1}' WHERE document_id = 'n1' AND field = 'title';
INSERT INTO electric_sync_docs.fields (document_id, field, value) VALUES ('n1', 'new', '[1, 2]');
DELETE FROM electric_sync_docs.fields WHERE document_id = 'n1' AND field = 'new';
-- two writes in one transaction: both sent at commit, in order
BEGIN;
SELECT * FROM electric_sync._synckit_apply('n1', 'p', '1', false, 800, 'alice', 0, true);
SELECT * FROM electric_sync._synckit_apply('n1', 'q', '2', false, 800, 'alice', 0, true);
COMMIT;
-- a rolled-back write sends nothing
BEGIN;
SELECT * FROM electric_sync._synckit_apply('n1', 'r', '3', false, 900, 'alice', 0, true);
ROLLBACK;
-- the document's delete: every field as a delete, one above its counter
DELETE FROM electric_sync_docs.documents WHERE id = 'n1';
UNLISTEN electric_sync_synckit;
\o
SELECT n, regexp_replace(substring(l FROM '^Asynchronous notification "electric_sync_synckit" with payload "(.*)" received from server process with PID [0-9]+\.$'),
                         '"t":[0-9]{13,}', '"t":<now>') AS payload
  FROM regexp_split_to_table(pg_read_file(:'notify_file'), E'\n') WITH ORDINALITY AS t(l, n)
 WHERE l LIKE 'Asynchronous notification %'
 ORDER BY n;
-- every payload is JSON (a cast fails otherwise)
SELECT count(*) AS notifications,
       bool_and(substring(l FROM 'with payload "(.*)" received')::json IS NOT NULL) AS all_json
  FROM regexp_split_to_table(pg_read_file(:'notify_file'), E'\n') AS t(l)
 WHERE l LIKE 'Asynchronous notification %';
-- the payload builder: an over-long client_id leaves the rest to the row too
SELECT electric_sync._synckit_payload('d', 'f', 1, repeat('k', 8000), 5, false, '1');
SELECT electric_sync._synckit_payload(E'd\n"', E'f\\', 2, 'c', 6, true, NULL);

-- ---- SQL API ---------------------------------------------------------------------------------
SELECT electric_sync.document_create('api');
SELECT electric_sync.document_create('api');
SELECT electric_sync.document_get('api');
SELECT electric_sync.document_get('missing');
SELECT electric_sync.document_set('api', 'title', '"Hello"');
SELECT electric_sync.document_set('api', 'n', '1');
SELECT electric_sync.document_set('api', 'title', '"Bye"');
SELECT electric_sync.document_set('api', 'nothing', 'null');
SELECT electric_sync.document_get('api');
SELECT field, value, deleted, client_id, counter FROM electric_sync_docs.fields WHERE document_id = 'api' ORDER BY field;
-- a field of a missing document creates it
SELECT electric_sync.document_set('api2', 'f', '{"x": true}');
SELECT electric_sync.document_get('api2');
-- delete a field: a tombstone; false when there is none (any more)
SELECT electric_sync.document_delete_field('api', 'n');
SELECT electric_sync.document_delete_field('api', 'n');
SELECT electric_sync.document_delete_field('api', 'none');
SELECT electric_sync.document_delete_field('nodoc', 'n');
SELECT field, value, deleted, client_id, counter FROM electric_sync_docs.fields WHERE document_id = 'api' AND field = 'n';
SELECT electric_sync.document_get('api');
-- set again: alive
SELECT electric_sync.document_set('api', 'n', '2');
SELECT electric_sync.document_get('api');
-- a document whose fields are all deleted: {}
SELECT electric_sync.document_delete_field('api2', 'f');
SELECT electric_sync.document_get('api2');
-- 256 bytes (128 two-byte characters) is the longest id
SELECT electric_sync.document_create(repeat('é', 128));
SELECT left(id, 4) AS id, octet_length(id) AS bytes, fields, counter FROM electric_sync.documents ORDER BY id;
-- the view's columns
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'electric_sync.documents'::regclass AND attnum > 0 ORDER BY attnum;
-- bad input
SELECT electric_sync.document_create('');
SELECT electric_sync.document_create(repeat('é', 129));
SELECT electric_sync.document_create(NULL);
SELECT electric_sync.document_get('');
SELECT electric_sync.document_set('api', '', '1');
SELECT electric_sync.document_set('api', repeat('f', 1025), '1');
SELECT electric_sync.document_set('api', NULL, '1');
SELECT electric_sync.document_set('api', 'f', NULL);
SELECT electric_sync.document_set(NULL, 'f', '1');
SELECT electric_sync.document_delete_field('api', NULL);
SELECT electric_sync.document_delete(repeat('x', 257));
-- delete documents
SELECT electric_sync.document_delete('api');
SELECT electric_sync.document_delete('api');
SELECT count(*) FROM electric_sync_docs.fields WHERE document_id = 'api';
SELECT electric_sync.document_get('api');

-- ---- privileges: nothing for PUBLIC ----------------------------------------------------------
CREATE ROLE synckit_nobody;
SELECT p.oid::regprocedure AS function, has_function_privilege('synckit_nobody', p.oid, 'EXECUTE') AS executable
  FROM pg_proc p
 WHERE p.pronamespace = 'electric_sync'::regnamespace AND (p.proname LIKE '%synckit%' OR p.proname LIKE 'document%')
 ORDER BY 1;
SELECT has_schema_privilege('synckit_nobody', 'electric_sync_docs', 'USAGE') AS schema_usage,
       has_table_privilege('synckit_nobody', 'electric_sync_docs.documents', 'SELECT') AS documents,
       has_table_privilege('synckit_nobody', 'electric_sync_docs.fields', 'SELECT') AS fields,
       has_table_privilege('synckit_nobody', 'electric_sync.documents', 'SELECT') AS view;
SET ROLE synckit_nobody;
SELECT electric_sync.document_get('lww');
SELECT * FROM electric_sync_docs.fields;
RESET ROLE;
DROP ROLE synckit_nobody;
-- the schema and its tables belong to the extension
SELECT pg_describe_object(classid, objid, 0) AS member FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'electric_sync')
   AND (pg_describe_object(classid, objid, 0) LIKE '%electric_sync_docs%'
        OR pg_describe_object(classid, objid, 0) LIKE '%synckit%'
        OR pg_describe_object(classid, objid, 0) LIKE '%document%')
 ORDER BY 1;
-- and their data is dumped
SELECT unnest(extconfig)::regclass AS dumped FROM pg_extension WHERE extname = 'electric_sync' ORDER BY 1;
-- the clients view ends with the documents column
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'electric_sync.clients'::regclass AND attnum > 0 ORDER BY attnum DESC LIMIT 2;

-- clean up
DELETE FROM electric_sync_docs.documents;
