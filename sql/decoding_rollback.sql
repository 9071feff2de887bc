-- Output plugin electric_sync: rolled-back work (transactions, savepoints) emits nothing.
\set VERBOSITY terse
\i test/regress/decoding_helpers.sql

-- objects live in their own schema (other tests may leave tables in public)
CREATE SCHEMA dec_rollback;
SET search_path = dec_rollback;
SELECT 'init' FROM pg_create_logical_replication_slot('regression_slot', 'electric_sync');
CREATE TABLE rb (id int PRIMARY KEY, v text);

-- a rolled-back transaction
BEGIN;
INSERT INTO rb VALUES (1, 'rolled back');
UPDATE rb SET v = 'still rolled back';
ROLLBACK;
SELECT * FROM pg_temp.changes();

-- savepoints: only the work that survives is emitted, in order
BEGIN;
INSERT INTO rb VALUES (1, 'kept 1');
SAVEPOINT a;
INSERT INTO rb VALUES (2, 'undone by a');
UPDATE rb SET v = 'undone by a' WHERE id = 1;
ROLLBACK TO SAVEPOINT a;
INSERT INTO rb VALUES (3, 'kept 3');
SAVEPOINT b;
INSERT INTO rb VALUES (4, 'kept 4');
SAVEPOINT c;
DELETE FROM rb WHERE id = 4;
TRUNCATE rb;
ROLLBACK TO SAVEPOINT c;
RELEASE SAVEPOINT b;
UPDATE rb SET v = 'kept 1, updated' WHERE id = 1;
COMMIT;
SELECT * FROM pg_temp.changes();

-- a transactional message in a rolled-back savepoint disappears too
BEGIN;
INSERT INTO rb VALUES (5, 'five');
SAVEPOINT s;
SELECT 'emitted' FROM pg_logical_emit_message(true, 'electric_sync', 'undone');
ROLLBACK TO SAVEPOINT s;
SELECT 'emitted' FROM pg_logical_emit_message(true, 'electric_sync', 'kept');
COMMIT;
-- a rolled-back transaction with a lot of work (spilled to disk: logical_decoding_work_mem = 64kB)
BEGIN;
INSERT INTO rb SELECT g, repeat('x', 100) FROM generate_series(100, 2100) g;
ROLLBACK;
-- and a large committed one with a rolled-back savepoint in the middle
BEGIN;
INSERT INTO rb SELECT g, 'big' FROM generate_series(100, 1099) g;
SAVEPOINT s;
INSERT INTO rb SELECT g, 'undone' FROM generate_series(2000, 2999) g;
DELETE FROM rb WHERE id < 600;
ROLLBACK TO SAVEPOINT s;
INSERT INTO rb VALUES (3000, 'last');
COMMIT;
SELECT count(*) AS records,
       count(*) FILTER (WHERE c LIKE 'I %') AS inserts,
       count(*) FILTER (WHERE c LIKE '%undone%' OR c LIKE 'D %') AS undone,
       count(*) FILTER (WHERE c LIKE 'B%') AS begins,
       count(*) FILTER (WHERE c LIKE 'M %') AS messages
FROM pg_temp.changes() c;
-- the slot is consumed: nothing more
SELECT * FROM pg_temp.changes();

-- rolled-back DDL + DML, then the relation is described as it really is
BEGIN;
ALTER TABLE rb ADD COLUMN extra int;
INSERT INTO rb VALUES (6000, 'x', 1);
ROLLBACK;
INSERT INTO rb VALUES (6001, 'after');
SELECT * FROM pg_temp.changes();

SELECT pg_drop_replication_slot('regression_slot');
DROP TABLE rb;
RESET search_path;
DROP SCHEMA dec_rollback;
