-- Output plugin electric_sync: option skip-origin drops changes and messages written under the
-- given replication origins (the worker's snapshot connections write their chunk bodies so);
-- the transaction itself (its commit written without an origin) still comes through.
\set VERBOSITY terse
CREATE FUNCTION pg_temp.changes(opts text[]) RETURNS SETOF text LANGUAGE sql AS $$
  SELECT regexp_replace(data, '^(R|I|U|D) \d+', '\1 <rel>')
  FROM pg_logical_slot_get_changes('regression_slot', NULL, NULL,
    VARIADIC ARRAY['include-xids', '0', 'include-lsn', '0', 'include-timestamp', '0',
                   'skip-empty-xacts', '1', 'skip-schema', 'electric_sync'] || opts) $$;

CREATE SCHEMA dec_origin;
SET search_path = dec_origin;
SELECT 'init' FROM pg_create_logical_replication_slot('regression_slot', 'electric_sync');
CREATE TABLE o (id int PRIMARY KEY, v text);
SELECT pg_replication_origin_create('regress_skip') > 0 AS created;
SELECT pg_replication_origin_create('regress_keep') > 0 AS created;

-- writes under the skipped origin, then without it, in one transaction
BEGIN;
SELECT pg_replication_origin_session_setup('regress_skip');
INSERT INTO o VALUES (1, 'under skipped origin');
SELECT 'm' FROM pg_logical_emit_message(true, 'regress', 'message under skipped origin');
SELECT pg_replication_origin_session_reset();
INSERT INTO o VALUES (2, 'no origin');
SELECT 'm' FROM pg_logical_emit_message(true, 'regress', 'message without origin');
COMMIT;

-- a whole transaction under another origin is kept
SELECT pg_replication_origin_session_setup('regress_keep');
INSERT INTO o VALUES (3, 'under kept origin');
SELECT pg_replication_origin_session_reset();

SELECT * FROM pg_temp.changes(ARRAY['skip-origin', (SELECT roident::text FROM pg_replication_origin WHERE roname = 'regress_skip')]);

-- without the option nothing is dropped
SELECT pg_replication_origin_session_setup('regress_skip');
INSERT INTO o VALUES (4, 'under skipped origin, option not given');
SELECT pg_replication_origin_session_reset();
SELECT * FROM pg_temp.changes(ARRAY[]::text[]);

-- bad values
SELECT * FROM pg_temp.changes(ARRAY['skip-origin', 'x']);
SELECT * FROM pg_temp.changes(ARRAY['skip-origin', '0']);
SELECT * FROM pg_temp.changes(ARRAY['skip-origin', '70000']);

SELECT 'stop' FROM pg_drop_replication_slot('regression_slot');
SELECT pg_replication_origin_drop('regress_skip');
SELECT pg_replication_origin_drop('regress_keep');
DROP SCHEMA dec_origin CASCADE;
