-- Bad shape definitions: every error comes with a SQLSTATE, a clear message and a hint.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS electric_sync;
RESET client_min_messages;
\set VERBOSITY default

CREATE TABLE err_t (id int PRIMARY KEY, title text, qty int, created timestamptz, data jsonb);
CREATE TABLE err_other (id int PRIMARY KEY);
CREATE TABLE err_comp (a int, b text, c text, PRIMARY KEY (a, b));
CREATE TABLE err_nopk (x int, y text);

-- replica / log_mode
SELECT electric_sync.create_shape('err_t', replica => 'partial');
SELECT electric_sync.create_shape('err_t', log_mode => 'snapshot');

-- table
SELECT electric_sync.create_shape(NULL);
SELECT electric_sync.create_shape('');
SELECT electric_sync.create_shape('""');
SELECT electric_sync.create_shape('no_such_table');
SELECT electric_sync.create_shape('nosuchschema.err_t');
SELECT electric_sync.create_shape('"Err_T"');
SELECT electric_sync.create_shape('a.b.c');
SELECT electric_sync.create_shape('err t');
SELECT electric_sync.create_shape('"unterminated');
CREATE VIEW err_view AS SELECT * FROM err_t;
SELECT electric_sync.create_shape('err_view');
CREATE SEQUENCE err_seq;
SELECT electric_sync.create_shape('err_seq');
CREATE TABLE err_parted (id int PRIMARY KEY) PARTITION BY RANGE (id);
SELECT electric_sync.create_shape('err_parted');
CREATE UNLOGGED TABLE err_unlogged (id int PRIMARY KEY);
SELECT electric_sync.create_shape('err_unlogged');
CREATE TEMP TABLE err_temp (id int PRIMARY KEY);
SELECT electric_sync.create_shape('pg_temp.err_temp');
SELECT electric_sync.create_shape('pg_catalog.pg_class');
SELECT electric_sync.create_shape('electric_sync.shapes');

-- columns
SELECT electric_sync.create_shape('err_t', columns => ARRAY[]::text[]);
SELECT electric_sync.create_shape('err_t', columns => ARRAY['id', NULL]);
SELECT electric_sync.create_shape('err_t', columns => ARRAY['id', 'nope', 'Title', 'nope']);
SELECT electric_sync.create_shape('err_t', columns => ARRAY['"title"', 'id']);
SELECT electric_sync.create_shape('err_t', columns => ARRAY['title']);
SELECT electric_sync.create_shape('err_comp', columns => ARRAY['a', 'c']);
SELECT electric_sync.create_shape('err_nopk', columns => ARRAY['x']);
SELECT electric_sync.create_shape('err_t', columns => ARRAY[['id'], ['title']]);

-- where: syntax, names, types
SELECT electric_sync.create_shape('err_t', 'title = = 1');
SELECT electric_sync.create_shape('err_t', 'title = ''unterminated');
SELECT electric_sync.create_shape('err_t', 'nope = 1');
SELECT electric_sync.create_shape('err_t', '"Title" = ''x''');
SELECT electric_sync.create_shape('err_t', 'err_other.id = 1');
SELECT electric_sync.create_shape('err_t', 'qty');
SELECT electric_sync.create_shape('err_t', 'title');
SELECT electric_sync.create_shape('err_t', 'qty = ''many''');
SELECT electric_sync.create_shape('err_t', 'title > 5');
SELECT electric_sync.create_shape('err_t', 'no_such_function(qty)');
SELECT electric_sync.create_shape('err_t', 'qty = 1/0');
-- where: only immutable expressions over the table's own columns
SELECT electric_sync.create_shape('err_t', 'random() > 0.5');
SELECT electric_sync.create_shape('err_t', 'created > now()');
SELECT electric_sync.create_shape('err_t', 'created > CURRENT_TIMESTAMP');
SELECT electric_sync.create_shape('err_t', 'created::date = ''2024-01-01''');
SELECT electric_sync.create_shape('err_t', 'qty = nextval(''err_seq'')');
SELECT electric_sync.create_shape('err_t', 'id IN (SELECT id FROM err_other)');
SELECT electric_sync.create_shape('err_t', 'EXISTS (SELECT 1)');
SELECT electric_sync.create_shape('err_t', 'qty = generate_series(1, 3)');
SELECT electric_sync.create_shape('err_t', 'jsonb_array_elements(data) IS NOT NULL');
SELECT electric_sync.create_shape('err_t', 'count(*) > 1');
SELECT electric_sync.create_shape('err_t', 'row_number() OVER () = 1');
SELECT electric_sync.create_shape('err_t', 'ctid = ''(0,1)''');
SELECT electric_sync.create_shape('err_t', 'err_t IS NOT NULL AND xmin = ''1''');
-- where: no smuggled SQL
SELECT electric_sync.create_shape('err_t', 'true; DROP TABLE err_other');
SELECT electric_sync.create_shape('err_t', 'true UNION SELECT 1');
SELECT electric_sync.create_shape('err_t', 'true) UNION (SELECT 1');
SELECT electric_sync.create_shape('err_t', 'true ORDER BY 1');
SELECT electric_sync.create_shape('err_t', 'true LIMIT 1');
SELECT electric_sync.create_shape('err_t', 'true FOR UPDATE');
SELECT electric_sync.create_shape('err_t', 'true GROUP BY 1');
SELECT electric_sync.create_shape('err_t', 'true WINDOW w AS ()');
SELECT valid, where_normalized FROM electric_sync.validate_shape('err_t', 'true -- comment');
SELECT electric_sync.create_shape('err_t', 'true /* unterminated');
SELECT count(*) AS other_table_still_there FROM err_other;

-- params
SELECT electric_sync.create_shape('err_t', 'qty = $1');
SELECT electric_sync.create_shape('err_t', 'qty = $1 OR qty = $3', params => ARRAY['1', '2']);
SELECT electric_sync.create_shape('err_t', 'qty = $1', params => ARRAY['1', '2']);
SELECT electric_sync.create_shape('err_t', 'qty = $2', params => ARRAY['1', '2']);
SELECT electric_sync.create_shape('err_t', NULL, params => ARRAY['1']);
SELECT electric_sync.create_shape('err_t', 'qty = $1', params => ARRAY[NULL]);
SELECT electric_sync.create_shape('err_t', 'qty = $1', params => ARRAY['many']);
SELECT electric_sync.create_shape('err_t', 'created > $1', params => ARRAY['yesterday-ish']);
SELECT electric_sync.create_shape('err_t', 'qty = $0');
SELECT electric_sync.create_shape('err_t', 'qty = $1 AND title = $1', params => ARRAY['1']);

-- SQLSTATEs (validate_shape reports them as data)
SELECT v.label, r.error_field, r.error_sqlstate
  FROM (VALUES ('unknown table', 'nope', NULL, NULL, NULL),
               ('bad table name', 'a b', NULL, NULL, NULL),
               ('view', 'err_view', NULL, NULL, NULL),
               ('unknown column', 'err_t', NULL, ARRAY['id', 'x'], NULL),
               ('missing pk', 'err_t', NULL, ARRAY['title'], NULL),
               ('syntax', 'err_t', 'qty = = 1', NULL, NULL),
               ('unknown where column', 'err_t', 'x = 1', NULL, NULL),
               ('other table', 'err_t', 'err_other.id = 1', NULL, NULL),
               ('not boolean', 'err_t', 'qty + 1', NULL, NULL),
               ('no operator', 'err_t', 'title > 5', NULL, NULL),
               ('stable function', 'err_t', 'created < now()', NULL, NULL),
               ('subquery', 'err_t', 'id IN (SELECT 1)', NULL, NULL),
               ('set-returning', 'err_t', 'qty = generate_series(1, 2)', NULL, NULL),
               ('aggregate', 'err_t', 'max(qty) > 1', NULL, NULL),
               ('param missing', 'err_t', 'qty = $1', NULL, NULL),
               ('param unused', 'err_t', 'qty = 1', NULL, ARRAY['1']),
               ('param value', 'err_t', 'qty = $1', NULL, ARRAY['x'])) AS v(label, tbl, w, cols, prms)
 CROSS JOIN LATERAL electric_sync.validate_shape(v.tbl, v.w, v.cols, params => v.prms) r;
SELECT error_field, error_sqlstate FROM electric_sync.validate_shape('err_t', replica => 'x');
SELECT error_field, error_sqlstate FROM electric_sync.validate_shape('err_t', log_mode => 'x');

-- nothing was created, and no table got its replica identity changed
SELECT count(*) AS shapes FROM electric_sync.shapes WHERE relid IN ('err_t'::regclass, 'err_comp'::regclass, 'err_nopk'::regclass);
SELECT relname, relreplident FROM pg_class WHERE relname IN ('err_t', 'err_comp', 'err_nopk') ORDER BY relname;

-- a role without SELECT on the table cannot define a shape on it
CREATE ROLE es_shape_user;
GRANT USAGE ON SCHEMA electric_sync TO es_shape_user;
GRANT EXECUTE ON FUNCTION electric_sync.create_shape(text, text, text[], text, text[], text, text, text) TO es_shape_user;
SET ROLE es_shape_user;
SELECT electric_sync.create_shape('err_t');
RESET ROLE;
-- with SELECT, the first shape still needs the owner to set REPLICA IDENTITY FULL...
GRANT SELECT ON err_t TO es_shape_user;
GRANT SELECT, INSERT, UPDATE ON electric_sync.shapes TO es_shape_user;
GRANT USAGE ON SEQUENCE electric_sync.shapes_shape_id_seq TO es_shape_user;
SET ROLE es_shape_user;
SELECT electric_sync.create_shape('err_t');
RESET ROLE;
-- ...and once the table is FULL, a non-owner can define shapes on it
ALTER TABLE err_t REPLICA IDENTITY FULL;
SET ROLE es_shape_user;
SELECT electric_sync.create_shape('err_t') IS NOT NULL AS created_by_non_owner;
RESET ROLE;
SELECT count(*) AS shapes_on_err_t FROM electric_sync.shapes WHERE relid = 'err_t'::regclass;
SELECT electric_sync.delete_shape(handle) FROM electric_sync.shapes WHERE relid = 'err_t'::regclass;
ALTER TABLE err_t REPLICA IDENTITY DEFAULT;
REVOKE ALL ON err_t FROM es_shape_user;
REVOKE ALL ON electric_sync.shapes FROM es_shape_user;
REVOKE ALL ON SEQUENCE electric_sync.shapes_shape_id_seq FROM es_shape_user;
-- and the API is not open to PUBLIC
CREATE ROLE es_nobody2;
SET ROLE es_nobody2;
SELECT electric_sync.create_shape('err_t');
SELECT * FROM electric_sync.shapes;
RESET ROLE;
DROP ROLE es_nobody2;
REVOKE ALL ON SCHEMA electric_sync FROM es_shape_user;
REVOKE ALL ON FUNCTION electric_sync.create_shape(text, text, text[], text, text[], text, text, text) FROM es_shape_user;
DROP ROLE es_shape_user;
