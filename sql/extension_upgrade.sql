-- ALTER EXTENSION electric_sync UPDATE from 0.1.0 gives exactly the objects of a fresh install
-- (sql/extension_objects.psql describes them) and keeps what the old version stored.
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE DATABASE es_upgrade_fresh;
CREATE DATABASE es_upgrade_old;

\c es_upgrade_fresh
SET client_min_messages = warning;
CREATE EXTENSION electric_sync;
SELECT extversion FROM pg_extension WHERE extname = 'electric_sync';
\set ECHO none
\i sql/extension_objects.psql
\set ECHO all
\set fresh_objects :objects
\set fresh_lines :lines

\c es_upgrade_old
SET client_min_messages = warning;
CREATE EXTENSION electric_sync VERSION '0.1.0';
-- what 0.1.0 stored: log entries (one row each)
INSERT INTO electric_sync.shape_log (shape_id, lsn, op, xid, chunk_end, entry) VALUES
  (7, 100, 0, 900, false, '{"a":1}'),
  (7, 100, 2, 900, true, '{"a":2}'),
  (8, 120, 0, 901, false, '{"b":1}');
ALTER EXTENSION electric_sync UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'electric_sync';
\set ECHO none
\i sql/extension_objects.psql
\set ECHO all
SELECT :'objects' = :'fresh_objects' AS same_objects_as_fresh_install, :lines = :fresh_lines AS same_count;
SELECT shape_id, lsn, op, xid, chunk_end, entry FROM electric_sync.shape_log_entries ORDER BY shape_id, lsn, op;
SELECT shape_id, bytes FROM electric_sync.shape_log ORDER BY shape_id, lsn, op;

\c contrib_regression
SET client_min_messages = warning;
DROP DATABASE es_upgrade_fresh;
DROP DATABASE es_upgrade_old;
