-- Output plugin electric_sync: basic records, options, transaction fields, relation records.
-- Oids vary between runs: pg_temp.show() replaces user relation/type oids with their names.
\set VERBOSITY terse
\i test/regress/decoding_helpers.sql

-- objects live in their own schema (other tests may leave tables in public)
CREATE SCHEMA dec_basic;
SET search_path = dec_basic;
SELECT 'init' FROM pg_create_logical_replication_slot('regression_slot', 'electric_sync');

CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL, tags text[], note varchar(10));
INSERT INTO users VALUES (1, 'Ann', '{a,b}', 'x');
INSERT INTO users VALUES (2, E'two\nlines "quoted"\ttab', NULL, '');
UPDATE users SET name = 'Bob' WHERE id = 1;
UPDATE users SET id = 3 WHERE id = 2;
DELETE FROM users WHERE id = 1;
SELECT * FROM pg_temp.changes();

-- multi-statement transaction, several tables, the relation record once per session
CREATE TABLE items (sku text PRIMARY KEY, qty int8);
BEGIN;
INSERT INTO users VALUES (10, 'ten');
INSERT INTO items VALUES ('a/b', 5);
UPDATE users SET note = 'n' WHERE id = 10;
UPDATE items SET qty = qty + 1;
DELETE FROM users WHERE id = 3;
COMMIT;
INSERT INTO items VALUES ('c', NULL);
SELECT * FROM pg_temp.changes();

-- a changed description is sent again before the next change (in the same session)
INSERT INTO items VALUES ('d', 1);
ALTER TABLE items ADD COLUMN price numeric(10,2) NOT NULL DEFAULT 0;
INSERT INTO items VALUES ('e', 2, 9.99);
ALTER TABLE items DROP COLUMN qty;
ALTER TABLE items RENAME TO goods;
INSERT INTO goods VALUES ('f', 1.5);
-- rebuilds without a visible change do not repeat the description
CREATE INDEX goods_price ON goods (price);
INSERT INTO goods VALUES ('g', 2);
SELECT * FROM pg_temp.changes();

-- truncate
TRUNCATE users;
TRUNCATE goods, users RESTART IDENTITY;
SELECT * FROM pg_temp.changes();

-- messages: transactional ones inside their transaction, non-transactional ones alone
BEGIN;
INSERT INTO users VALUES (20, 'msg');
SELECT 'emitted' FROM pg_logical_emit_message(true, 'electric_sync', '{"shape": "a b"}');
SELECT 'emitted' FROM pg_logical_emit_message(false, 'other', E'multi\nline');
COMMIT;
SELECT 'emitted' FROM pg_logical_emit_message(true, 'bin', '\x00ff41'::bytea);
SELECT 'emitted' FROM pg_logical_emit_message(true, 'empty', '');
SELECT * FROM pg_temp.changes();
-- message-prefix keeps only the given prefixes
SELECT 'emitted' FROM pg_logical_emit_message(true, 'electric_sync', 'keep');
SELECT 'emitted' FROM pg_logical_emit_message(true, 'other', 'drop');
SELECT data FROM pg_logical_slot_get_changes('regression_slot', NULL, NULL, 'include-xids', '0',
  'include-lsn', '0', 'include-timestamp', '0', 'skip-empty-xacts', '1', 'message-prefix', 'electric_sync', 'skip-schema', 'electric_sync');

-- skip-schema: relations of that schema are skipped entirely
CREATE SCHEMA dec_skipme;
CREATE TABLE dec_skipme.t (id int PRIMARY KEY);
INSERT INTO dec_skipme.t VALUES (1);
TRUNCATE dec_skipme.t, users;
INSERT INTO dec_skipme.t VALUES (2);
SELECT pg_temp.show(data) FROM pg_logical_slot_peek_changes('regression_slot', NULL, NULL, 'include-xids', '0',
  'include-lsn', '0', 'include-timestamp', '0', 'skip-empty-xacts', '1', 'skip-schema', 'dec_skipme',
  'skip-schema', 'electric_sync');  -- the worker may write its own tables meanwhile
-- without skip-empty-xacts the skipped transactions stay visible as empty ones
-- (at least the 5 above; other sessions' transactions may add more)
SELECT count(*) FILTER (WHERE data = 'B') >= 5 AS empty_begins, bool_and(data IN ('B', 'C')) AS only_begin_commit
FROM pg_logical_slot_peek_changes('regression_slot', NULL, NULL, 'include-xids', '0',
  'include-lsn', '0', 'include-timestamp', '0', 'skip-schema', 'dec_skipme', 'skip-schema', 'dec_basic', 'skip-schema', 'electric_sync');
-- not skipped here
SELECT * FROM pg_temp.changes();

-- B/C fields: xid, commit LSN, end LSN, commit time (values vary: checked, not printed)
INSERT INTO users VALUES (30, 'fields');
SELECT 'emitted' FROM pg_logical_emit_message(false, 'nt', 'x');
INSERT INTO users VALUES (31, 'flush');
CREATE TEMP TABLE rows AS
  SELECT row_number() OVER () AS n, lsn, xid, data
  FROM pg_logical_slot_peek_changes('regression_slot', NULL, NULL, 'skip-schema', 'electric_sync',
    'skip-empty-xacts', 'on');
SELECT n, regexp_replace(data, '\d+', 'N', 'g') AS shape FROM rows ORDER BY n;
SELECT b.n AS begin_row,
       substring(b.data from ' x=(\d+)')::xid = b.xid AS xid_ok,
       substring(b.data from ' lsn=(\d+)') = substring(c.data from ' lsn=(\d+)') AS same_commit_lsn,
       substring(c.data from ' end=(\d+)')::numeric = c.lsn - '0/0'::pg_lsn AS end_is_row_lsn,
       substring(b.data from ' lsn=(\d+)')::numeric < c.lsn - '0/0'::pg_lsn AS commit_before_end,
       abs(extract(epoch FROM now()) - substring(b.data from ' t=(\d+)')::numeric / 1e6) < 600 AS time_ok,
       substring(b.data from ' t=(\d+)') = substring(c.data from ' t=(\d+)') AS same_time
FROM rows b JOIN rows c ON c.n = (SELECT min(n) FROM rows WHERE n > b.n AND data LIKE 'C%')
WHERE b.data LIKE 'B%' ORDER BY b.n;
SELECT substring(data from ' lsn=(\d+)')::numeric = lsn - '0/0'::pg_lsn AS message_lsn_ok FROM rows WHERE data LIKE 'M%';
SELECT count(*) > 0 AS consumed FROM pg_logical_slot_get_changes('regression_slot', NULL, NULL);

-- options are strict
SELECT data FROM pg_logical_slot_peek_changes('regression_slot', NULL, NULL, 'include-xid', '1');
SELECT data FROM pg_logical_slot_peek_changes('regression_slot', NULL, NULL, 'include-xids', 'maybe');
SELECT data FROM pg_logical_slot_peek_changes('regression_slot', NULL, NULL, 'include-timestamp', '');
SELECT data FROM pg_logical_slot_peek_changes('regression_slot', NULL, NULL, 'skip-schema', '');
SELECT data FROM pg_logical_slot_peek_changes('regression_slot', NULL, NULL, 'message-prefix', '');
SELECT data FROM pg_logical_slot_peek_changes('regression_slot', NULL, NULL, 'format-version', '2');
SELECT count(*) >= 0 AS options_accepted FROM pg_logical_slot_peek_changes('regression_slot', NULL, NULL, 'format-version', '1',
  'include-xids', 'off', 'include-lsn', 'on', 'include-timestamp', 'yes', 'skip-empty-xacts', 'false',
  'message-prefix', 'a');

SELECT pg_drop_replication_slot('regression_slot');
DROP TABLE users, goods;
DROP SCHEMA dec_skipme CASCADE;
RESET search_path;
DROP SCHEMA dec_basic;
