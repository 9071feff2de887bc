-- Shape SQL API: create (get-or-create), list, delete, recreate, replica identity, messages.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS electric_sync;
RESET client_min_messages;
\set VERBOSITY default

CREATE TABLE items (id int PRIMARY KEY, title text, owner text, done bool NOT NULL DEFAULT false);
SELECT relreplident FROM pg_class WHERE oid = 'items'::regclass;

-- Watch the change stream for the worker notifications.
SELECT 'init' FROM pg_create_logical_replication_slot('shapes_api_slot', 'test_decoding');

SELECT electric_sync.create_shape('items') AS h1 \gset
SELECT :'h1' ~ '^[0-9]+-[0-9]{16}$' AS handle_format;
-- the first shape set REPLICA IDENTITY FULL
SELECT relreplident FROM pg_class WHERE oid = 'items'::regclass;
-- same definition -> same handle (also spelled differently)
SELECT electric_sync.create_shape('items') = :'h1' AS same;
SELECT electric_sync.create_shape('public.items') = :'h1' AS same_qualified;
SELECT electric_sync.create_shape('"items"', NULL, NULL, 'default', NULL, 'full') = :'h1' AS same_explicit_defaults;
SELECT electric_sync.create_shape('items', '   ') = :'h1' AS blank_where_is_no_where;
-- different definitions -> different handles
SELECT electric_sync.create_shape('items', 'owner = $1', params => ARRAY['ann']) AS h2 \gset
SELECT :'h2' <> :'h1' AS different;
-- the where clause is normalized: spacing, case and redundant parentheses don't matter
SELECT electric_sync.create_shape('items', '(OWNER=$1)', params => ARRAY['ann']) = :'h2' AS same_normalized;
SELECT electric_sync.create_shape('items', 'owner = $1', params => ARRAY['bob']) <> :'h2' AS other_params;
SELECT electric_sync.create_shape('items', columns => ARRAY['title', 'id']) AS h3 \gset
SELECT electric_sync.create_shape('items', columns => ARRAY['id', 'title', 'id']) = :'h3' AS columns_normalized;
SELECT electric_sync.create_shape('items', replica => 'full') <> :'h1' AS replica_full_differs;
SELECT electric_sync.create_shape('items', log_mode => 'changes_only') <> :'h1' AS changes_only_differs;

SELECT relation, where_clause, params, columns, replica, log_mode, status
  FROM electric_sync.shapes_view WHERE table_name = 'items' ORDER BY shape_id;
SELECT columns, pk_columns, schema_json FROM electric_sync.shapes WHERE handle = :'h3';
-- the normalized definition behind the identity
SELECT regexp_replace(def_key, 'relid:[0-9]+', 'relid:N') AS def_key FROM electric_sync.shapes WHERE handle = :'h2';
SELECT split_part(:'h2', '-', 1) = split_part(electric_sync.create_shape('items', 'owner = $1', params => ARRAY['ann']), '-', 1)
       AS handle_hash_is_stable;
SELECT count(*) AS live_shapes FROM electric_sync.shapes WHERE status = 'active' AND table_name = 'items';

-- delete, then recreate: a new handle, the old one is never reused
SELECT electric_sync.delete_shape(:'h1') AS deleted;
SELECT electric_sync.delete_shape(:'h1') AS deleted_again;
SELECT electric_sync.delete_shape('no-such-handle') AS unknown;
SELECT status, invalid_reason FROM electric_sync.shapes WHERE handle = :'h1';
SELECT electric_sync.create_shape('items') AS h1b \gset
SELECT :'h1b' <> :'h1' AS new_handle;
SELECT count(*) AS rows_for_definition FROM electric_sync.shapes
 WHERE def_key = (SELECT def_key FROM electric_sync.shapes WHERE handle = :'h1');

-- the worker is told, transactionally, in the change stream
BEGIN;
SELECT electric_sync.create_shape('items', 'done') AS h4 \gset
ROLLBACK;
SELECT count(*) AS rolled_back FROM electric_sync.shapes WHERE handle = :'h4';
SELECT regexp_replace(data, '[0-9]+', 'N', 'g') AS message
  FROM pg_logical_slot_get_changes('shapes_api_slot', NULL, NULL, 'include-xids', '0', 'skip-empty-xacts', '1')
 WHERE data LIKE 'message:%content:shape\_%';
SELECT pg_drop_replication_slot('shapes_api_slot');

-- validate_shape: the normalized pieces, or the error as data
SELECT valid, relid = 'items'::regclass AS relid_ok, schema_name, table_name, where_normalized, columns, pk_columns,
       replica, log_mode, schema_json
  FROM electric_sync.validate_shape('items', 'title ILIKE $1 and not done', ARRAY['id', 'title', 'done'], 'full',
                                    ARRAY['%x%']);
SELECT valid, error_field, error_sqlstate, error_message, error_hint, error_detail, error_position
  FROM electric_sync.validate_shape('items', 'title = = 1');
SELECT valid, error_field, error_sqlstate, error_message
  FROM electric_sync.validate_shape('nope');
SELECT valid, error_field, error_sqlstate, error_message
  FROM electric_sync.validate_shape('items', columns => ARRAY['title']);
-- validation in a transaction leaves it usable
BEGIN;
SELECT valid FROM electric_sync.validate_shape('items', 'nope = 1');
SELECT 1 AS still_usable;
COMMIT;

-- quoted mixed-case schema, table and column names
CREATE SCHEMA "App";
CREATE TABLE "App"."Todo Items" ("Id" int PRIMARY KEY, "Title" text, "isDone" boolean);
SELECT electric_sync.create_shape('"App"."Todo Items"', '"isDone" AND "Title" <> $1', ARRAY['Id', 'Title'],
                                  params => ARRAY['x']) AS h5 \gset
SELECT schema_name, table_name, where_clause, columns, pk_columns, schema_json FROM electric_sync.shapes
 WHERE handle = :'h5';
SELECT electric_sync.create_shape('"App"."Todo Items"', '("isDone") and ("Title" != $1)', ARRAY['Title', 'Id'],
                                  params => ARRAY['x']) = :'h5' AS same;
