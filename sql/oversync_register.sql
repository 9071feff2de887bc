-- oversync table registration: the registered-table envelope, precise errors, FK order, cycles.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS electric_sync;
RESET client_min_messages;
\set SHOW_CONTEXT never
CREATE SCHEMA osr;

-- Unsupported schemas fail with a precise error and a hint.
CREATE TABLE osr.no_scope (id uuid PRIMARY KEY, name text);
SELECT electric_sync.oversync_register_table('osr.no_scope');
CREATE TABLE osr.int_key (_sync_scope_id text NOT NULL, id int NOT NULL, PRIMARY KEY (_sync_scope_id, id));
SELECT electric_sync.oversync_register_table('osr.int_key');
CREATE TABLE osr.unscoped_pk (_sync_scope_id text NOT NULL, id uuid PRIMARY KEY);
SELECT electric_sync.oversync_register_table('osr.unscoped_pk');
CREATE TABLE osr.extra_unique (_sync_scope_id text NOT NULL, id uuid NOT NULL, email text UNIQUE, PRIMARY KEY (_sync_scope_id, id));
SELECT electric_sync.oversync_register_table('osr.extra_unique');
CREATE TABLE osr."Caps" (_sync_scope_id text NOT NULL, id uuid NOT NULL, PRIMARY KEY (_sync_scope_id, id));
SELECT electric_sync.oversync_register_table('osr."Caps"');
CREATE TABLE osr.bad_col (_sync_scope_id text NOT NULL, id uuid NOT NULL, "Name" text, PRIMARY KEY (_sync_scope_id, id));
SELECT electric_sync.oversync_register_table('osr.bad_col');
CREATE TABLE osr.int_scope (_sync_scope_id int NOT NULL, id uuid NOT NULL, PRIMARY KEY (_sync_scope_id, id));
SELECT electric_sync.oversync_register_table('osr.int_scope');

CREATE TABLE osr.parent (_sync_scope_id text NOT NULL, id uuid NOT NULL, name text, PRIMARY KEY (_sync_scope_id, id));
CREATE TABLE osr.child (_sync_scope_id text NOT NULL, id text NOT NULL, parent_id uuid,
  PRIMARY KEY (_sync_scope_id, id),
  FOREIGN KEY (_sync_scope_id, parent_id) REFERENCES osr.parent (_sync_scope_id, id) DEFERRABLE INITIALLY DEFERRED);
-- FK closure: the parent must be registered first (or together).
SELECT electric_sync.oversync_register_table('osr.child');
CREATE TABLE osr.single_fk (_sync_scope_id text NOT NULL, id uuid NOT NULL, parent_id uuid,
  PRIMARY KEY (_sync_scope_id, id), UNIQUE (_sync_scope_id, parent_id));
ALTER TABLE osr.parent ADD UNIQUE (id);  -- makes a single-column FK possible...
SELECT electric_sync.oversync_register_table('osr.parent');  -- ...but that unique index is not scoped
ALTER TABLE osr.parent DROP CONSTRAINT parent_id_key;
CREATE TABLE osr.not_deferrable (_sync_scope_id text NOT NULL, id uuid NOT NULL, parent_id uuid,
  PRIMARY KEY (_sync_scope_id, id),
  FOREIGN KEY (_sync_scope_id, parent_id) REFERENCES osr.parent (_sync_scope_id, id));
SELECT electric_sync.oversync_register_tables(ARRAY['osr.parent', 'osr.not_deferrable']::regclass[]);

-- Success: key inferred from the primary key; text keys; existing rows become bundles.
INSERT INTO osr.parent VALUES ('r-alice', '00000000-0000-0000-0000-00000000000a', 'pre-existing');
SELECT table_id > 0 AS has_id, schema_name, table_name, key_column, key_kind FROM electric_sync.oversync_register_table('osr.parent');
SELECT schema_name, table_name, key_column, key_kind FROM electric_sync.oversync_register_table('osr.child', 'id');
SELECT user_id, bundle_seq, source_id, row_count FROM electric_sync.os_bundle_log WHERE user_id = 'r-alice';
SELECT op, key_json, payload FROM electric_sync.os_bundle_rows WHERE user_id = 'r-alice';
SELECT state, initialized_by_source_id FROM electric_sync.os_scope_state WHERE user_id = 'r-alice';
SELECT electric_sync.oversync_register_table('osr.parent');

-- FK order with a cycle (a <-> b) and a dependent table.
CREATE TABLE osr.a (_sync_scope_id text NOT NULL, id uuid NOT NULL, b_id uuid, PRIMARY KEY (_sync_scope_id, id));
CREATE TABLE osr.b (_sync_scope_id text NOT NULL, id uuid NOT NULL, a_id uuid, PRIMARY KEY (_sync_scope_id, id),
  FOREIGN KEY (_sync_scope_id, a_id) REFERENCES osr.a (_sync_scope_id, id) DEFERRABLE);
ALTER TABLE osr.a ADD FOREIGN KEY (_sync_scope_id, b_id) REFERENCES osr.b (_sync_scope_id, id) DEFERRABLE INITIALLY DEFERRED;
CREATE TABLE osr.c (_sync_scope_id text NOT NULL, id uuid NOT NULL, a_id uuid, self_id uuid, PRIMARY KEY (_sync_scope_id, id),
  FOREIGN KEY (_sync_scope_id, a_id) REFERENCES osr.a (_sync_scope_id, id) DEFERRABLE,
  FOREIGN KEY (_sync_scope_id, self_id) REFERENCES osr.c (_sync_scope_id, id) DEFERRABLE);
SELECT electric_sync.oversync_register_table('osr.a');
SELECT table_name FROM electric_sync.oversync_register_tables(ARRAY['osr.a', 'osr.b', 'osr.c']::regclass[]);
SELECT table_name, cycle_group IS NOT NULL AS in_cycle FROM electric_sync.oversync_table_order() WHERE schema_name = 'osr' ORDER BY ord;

-- Unregister keeps the set FK-closed.
SELECT electric_sync.oversync_unregister_table('osr.parent');
SELECT electric_sync.oversync_unregister_table('osr.child');
SELECT electric_sync.oversync_unregister_table('osr.child');
SELECT tgname FROM pg_trigger WHERE tgrelid = 'osr.child'::regclass AND tgname LIKE 'oversync%' ORDER BY 1;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'osr.parent'::regclass AND tgname LIKE 'oversync%' ORDER BY 1;
SELECT electric_sync.oversync_unregister_table('osr.c');
SELECT electric_sync.oversync_unregister_table('osr.b');
SELECT electric_sync.oversync_unregister_tables(ARRAY['osr.a', 'osr.b']::regclass[]);
SELECT electric_sync.oversync_unregister_table('osr.parent');
SELECT count(*) FROM electric_sync.os_tables WHERE schema_name = 'osr';

-- DDL: a renamed table keeps its registration; a dropped one is unregistered.
CREATE TABLE osr.tmp (_sync_scope_id text NOT NULL, id text NOT NULL, PRIMARY KEY (_sync_scope_id, id));
SELECT table_name FROM electric_sync.oversync_register_table('osr.tmp');
ALTER TABLE osr.tmp RENAME TO tmp2;
SELECT table_name FROM electric_sync.os_tables WHERE relid = 'osr.tmp2'::regclass;
DROP TABLE osr.tmp2;
SELECT count(*) FROM electric_sync.os_tables WHERE schema_name = 'osr';

-- Only superusers reach the API.
CREATE ROLE osr_app;
SET ROLE osr_app;
SELECT electric_sync.oversync_register_table('osr.parent');
RESET ROLE;
DROP ROLE osr_app;

-- Clean up (the schedule may run this file twice in one database).
SET client_min_messages = warning;
SELECT electric_sync.oversync_unregister_tables(array_agg(relid::regclass)) IS NOT NULL AS cleaned
  FROM electric_sync.os_tables WHERE schema_name = 'osr';
DROP SCHEMA osr CASCADE;
DELETE FROM electric_sync.os_bundle_log WHERE user_id LIKE 'r-%';
DELETE FROM electric_sync.os_user_state WHERE user_id LIKE 'r-%';
DELETE FROM electric_sync.os_scope_state WHERE user_id LIKE 'r-%';
DELETE FROM electric_sync.os_source_state WHERE user_id LIKE 'r-%';
DELETE FROM electric_sync.os_push_sessions WHERE user_id LIKE 'r-%';
DELETE FROM electric_sync.os_snapshot_sessions WHERE user_id LIKE 'r-%';
RESET client_min_messages;
