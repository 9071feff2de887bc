-- Invalidation hooks: DDL that changes a shape's table layout invalidates its shapes (and tells
-- the worker in the change stream); DDL that does not change it leaves them alone.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS electric_sync;
RESET client_min_messages;
\set VERBOSITY default

CREATE TYPE d_mood AS ENUM ('sad', 'happy');
CREATE TABLE d_t (id int PRIMARY KEY, title text, mood d_mood);
CREATE TABLE d_u (id int PRIMARY KEY);
SELECT 'init' FROM pg_create_logical_replication_slot('shapes_ddl_slot', 'test_decoding');

CREATE FUNCTION d_status() RETURNS TABLE (tbl text, where_clause text, status text, invalid_reason text)
LANGUAGE sql AS $$
    SELECT s.table_name, s.where_clause, s.status, s.invalid_reason FROM electric_sync.shapes s
     WHERE s.table_name LIKE 'd\_%' OR s.schema_name = 'd_schema' ORDER BY s.shape_id
$$;
CREATE FUNCTION d_messages() RETURNS SETOF text LANGUAGE sql AS $$
    SELECT regexp_replace(substr(data, strpos(data, 'content:') + 8), '[0-9]+', 'N')
      FROM pg_logical_slot_get_changes('shapes_ddl_slot', NULL, NULL, 'include-xids', '0')
     WHERE data LIKE 'message:%content:shape\_%'
$$;

SELECT electric_sync.create_shape('d_t') IS NOT NULL AS t_all,
       electric_sync.create_shape('d_t', 'title = $1', params => ARRAY['x']) IS NOT NULL AS t_where,
       electric_sync.create_shape('d_u') IS NOT NULL AS u_all;
SELECT * FROM d_messages();

-- DDL that keeps the layout: nothing happens
CREATE INDEX ON d_t (title);
ALTER TABLE d_t ALTER COLUMN title SET DEFAULT 'untitled';
ALTER TABLE d_t ADD CONSTRAINT title_len CHECK (length(title) < 100);
ALTER TABLE d_t SET (fillfactor = 90);
ALTER TABLE d_t REPLICA IDENTITY FULL;
ALTER TYPE d_mood ADD VALUE 'ok';
COMMENT ON TABLE d_t IS 'shaped';
SELECT * FROM d_status();
SELECT * FROM d_messages();

-- adding a column invalidates the table's shapes, not the other table's
ALTER TABLE d_t ADD COLUMN extra int;
SELECT * FROM d_status();
SELECT * FROM d_messages();

-- a rolled back ALTER changes nothing
SELECT electric_sync.create_shape('d_t') IS NOT NULL AS recreated;
BEGIN;
ALTER TABLE d_t DROP COLUMN extra;
ROLLBACK;
SELECT status, count(*) FROM d_status() WHERE tbl = 'd_t' GROUP BY status ORDER BY status;
SELECT * FROM d_messages();

-- each kind of layout change invalidates: drop / rename / retype a column, NOT NULL, primary
-- key, replica identity, renaming the table, its schema or a column's type
CREATE FUNCTION d_try(ddl text, tbl text DEFAULT 'd_t') RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    before int;
    after int;
BEGIN
    PERFORM electric_sync.create_shape(tbl);
    SELECT count(*) INTO before FROM electric_sync.shapes s WHERE s.relid = tbl::regclass AND s.status = 'active';
    EXECUTE ddl;
    SELECT count(*) INTO after FROM electric_sync.shapes s
     WHERE s.relid = (SELECT c.oid FROM pg_class c WHERE c.oid = s.relid) AND s.status = 'active'
       AND s.relid IN (SELECT s2.relid FROM electric_sync.shapes s2 WHERE s2.table_name = split_part(tbl, '.', 2)
                                                                        OR s2.table_name = tbl);
    RETURN format('%s: %s active -> %s active', ddl, before, after);
END
$$;
SELECT d_try('ALTER TABLE d_t DROP COLUMN extra');
SELECT d_try('ALTER TABLE d_t RENAME COLUMN title TO name');
SELECT d_try('ALTER TABLE d_t ALTER COLUMN name TYPE varchar(50)');
SELECT d_try('ALTER TABLE d_t ALTER COLUMN name SET NOT NULL');
SELECT d_try('ALTER TABLE d_t DROP CONSTRAINT d_t_pkey');
SELECT d_try('ALTER TABLE d_t ADD PRIMARY KEY (id)');
SELECT d_try('ALTER TABLE d_t REPLICA IDENTITY DEFAULT');
SELECT relreplident FROM pg_class WHERE oid = 'd_t'::regclass;
SELECT d_try('ALTER TYPE d_mood RENAME TO d_feeling');
SELECT d_try('ALTER TABLE d_t RENAME TO d_t2', 'd_t');
ALTER TABLE d_t2 RENAME TO d_t;
CREATE SCHEMA d_schema;
CREATE TABLE d_schema.d_v (id int PRIMARY KEY);
SELECT d_try('ALTER SCHEMA d_schema RENAME TO d_schema2', 'd_schema.d_v');
SELECT schema_name, table_name, status, invalid_reason FROM electric_sync.shapes WHERE table_name = 'd_v';
SELECT count(*) AS invalidation_messages FROM d_messages() m WHERE m LIKE 'shape_invalidated N relation changed';

-- dropping tables: DROP TABLE, DROP SCHEMA ... CASCADE
SELECT electric_sync.create_shape('d_schema2.d_v') IS NOT NULL AS on_renamed_schema;
DROP TABLE d_u;
DROP SCHEMA d_schema2 CASCADE;
SELECT tbl, status, invalid_reason FROM d_status() WHERE tbl IN ('d_u', 'd_v') ORDER BY tbl, status, invalid_reason;
SELECT * FROM d_messages();

-- the hooks run as their owner: a table owner without access to electric_sync can still ALTER
-- and DROP their tables
CREATE ROLE d_owner;
GRANT CREATE ON SCHEMA public TO d_owner;
SET ROLE d_owner;
CREATE TABLE d_owned (id int PRIMARY KEY, v text);
RESET ROLE;
SELECT electric_sync.create_shape('d_owned') IS NOT NULL AS created;
SET ROLE d_owner;
ALTER TABLE d_owned ADD COLUMN w text;
DROP TABLE d_owned;
RESET ROLE;
SELECT tbl, status, invalid_reason FROM d_status() WHERE tbl = 'd_owned';
REVOKE CREATE ON SCHEMA public FROM d_owner;
DROP ROLE d_owner;

-- DDL the hooks did not see (event triggers do not fire under session_replication_role =
-- replica): create_shape notices the stale shape and replaces it
CREATE TABLE d_silent (id int PRIMARY KEY);
SELECT electric_sync.create_shape('d_silent') AS hs \gset
SET session_replication_role = replica;
ALTER TABLE d_silent ADD COLUMN v text;
RESET session_replication_role;
SELECT status FROM electric_sync.shapes WHERE handle = :'hs';
SELECT electric_sync.create_shape('d_silent') <> :'hs' AS replaced;
SELECT status, invalid_reason FROM electric_sync.shapes WHERE handle = :'hs';

-- shapes never come back: creating again gives new handles
SELECT count(*) AS handles, count(DISTINCT handle) AS distinct_handles FROM electric_sync.shapes
 WHERE table_name LIKE 'd\_%' OR schema_name LIKE 'd\_schema%';
SELECT pg_drop_replication_slot('shapes_ddl_slot');

-- DROP EXTENSION works with the event triggers installed (in a scratch database)
SELECT current_database() AS origdb \gset
CREATE DATABASE shapes_ddl_scratch;
\c shapes_ddl_scratch
SET client_min_messages = warning;
CREATE EXTENSION electric_sync;
RESET client_min_messages;
CREATE TABLE x (id int PRIMARY KEY);
SELECT electric_sync.create_shape('x') IS NOT NULL AS created;
DROP TABLE x;
SELECT status, invalid_reason FROM electric_sync.shapes;
DROP EXTENSION electric_sync;
SELECT count(*) AS leftover_event_triggers FROM pg_event_trigger WHERE evtname LIKE 'electric_sync%';
CREATE TABLE y (id int PRIMARY KEY);
ALTER TABLE y ADD COLUMN z int;
DROP TABLE y;
\c :origdb
DROP DATABASE shapes_ddl_scratch;
