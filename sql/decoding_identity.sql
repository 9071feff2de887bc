-- Output plugin electric_sync: old tuples per replica identity, composite keys, NULLs.
\set VERBOSITY terse
\i test/regress/decoding_helpers.sql

-- objects live in their own schema (other tests may leave tables in public)
CREATE SCHEMA dec_identity;
SET search_path = dec_identity;
SELECT 'init' FROM pg_create_logical_replication_slot('regression_slot', 'electric_sync');

-- composite primary key declared in non-column order, REPLICA IDENTITY DEFAULT
CREATE TABLE ck (a int, b text, v text, w int, PRIMARY KEY (b, a));
INSERT INTO ck VALUES (1, 'x', NULL, NULL), (2, 'y', 'v', 0);
UPDATE ck SET v = 'changed', w = NULL WHERE a = 2;  -- key kept: no old tuple
UPDATE ck SET v = NULL WHERE a = 2;
UPDATE ck SET b = 'z' WHERE a = 2;                  -- key changed: old key
UPDATE ck SET a = a + 10;                           -- several rows
DELETE FROM ck WHERE a = 11;                        -- old key only
SELECT * FROM pg_temp.changes();

-- REPLICA IDENTITY FULL: whole old row on every update and delete, NULLs included
ALTER TABLE ck REPLICA IDENTITY FULL;
UPDATE ck SET w = 5;
UPDATE ck SET v = 'v', w = NULL;
DELETE FROM ck;
SELECT * FROM pg_temp.changes();

-- REPLICA IDENTITY USING INDEX: the index columns form the old key
CREATE TABLE ui (id int PRIMARY KEY, code text NOT NULL, v text);
CREATE UNIQUE INDEX ui_code ON ui (code);
ALTER TABLE ui REPLICA IDENTITY USING INDEX ui_code;
INSERT INTO ui VALUES (1, 'c1', 'v');
UPDATE ui SET v = 'w';
UPDATE ui SET code = 'c2';
UPDATE ui SET id = 2;
DELETE FROM ui;
SELECT * FROM pg_temp.changes();

-- REPLICA IDENTITY NOTHING and a table without a primary key: no old data at all
CREATE TABLE nk (x int, y text);
INSERT INTO nk VALUES (1, NULL);
UPDATE nk SET y = 'y';
DELETE FROM nk;
ALTER TABLE ui REPLICA IDENTITY NOTHING;
INSERT INTO ui VALUES (3, 'c3', NULL);
UPDATE ui SET id = 4;
DELETE FROM ui;
SELECT * FROM pg_temp.changes();
-- a table without a primary key, REPLICA IDENTITY FULL (Electric's key is then every column)
ALTER TABLE nk REPLICA IDENTITY FULL;
INSERT INTO nk VALUES (1, NULL), (1, NULL);
UPDATE nk SET x = 2;
DELETE FROM nk;
SELECT * FROM pg_temp.changes();

SELECT pg_drop_replication_slot('regression_slot');
DROP TABLE ck, ui, nk;
RESET search_path;
DROP SCHEMA dec_identity;
