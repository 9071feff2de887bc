-- Where clauses with Postgres semantics: CompiledWhere (through the _where_matches test hook)
-- must agree with Postgres evaluating the same clause on the same rows.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS electric_sync;
RESET client_min_messages;
\set VERBOSITY default

CREATE TYPE w_mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN w_posint AS int CHECK (VALUE > 0);
CREATE TABLE w (
    id int PRIMARY KEY, name text, mood w_mood, data jsonb, tags text[], nums int[], price numeric(10,2),
    at timestamptz, d date, span int4range, flag bool, "Mixed Col" text, ip inet, u uuid, b bytea,
    iv interval, dom w_posint);
INSERT INTO w VALUES
  (1, 'Ann', 'happy', '{"a": 1, "tags": ["x"]}', '{red,blue}', '{1,2,3}', 9.99, '2024-01-02 03:04:05+00',
   '2024-01-02', '[1,10)', true, 'Hello', '10.1.2.3', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\xdeadbeef',
   '1 day 2 hours', 7),
  (2, 'bob', 'sad', '{"a": 2}', '{green}', '{4}', 100, '2024-07-01 00:00:00+00', '2024-07-01', '[10,20)',
   false, 'World', '192.168.0.1', 'b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', '\x00', '3 hours', 1),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

-- Evaluates a clause on every row of w twice: with CompiledWhere (row given as text values,
-- one per attribute) and with Postgres itself ($n replaced by quoted literals).
CREATE FUNCTION check_where(clause text, params text[] DEFAULT NULL)
RETURNS TABLE (id int, ours boolean, postgres boolean) LANGUAGE plpgsql AS $$
DECLARE
    q text := clause;
BEGIN
    FOR i IN REVERSE coalesce(array_length(params, 1), 0)..1 LOOP
        q := replace(q, '$' || i, quote_literal(params[i]));
    END LOOP;
    RETURN QUERY EXECUTE format(
        'SELECT w.id, electric_sync._where_matches(''w'', $1, $2, ARRAY[w.id::text, w.name, w.mood::text, '
        'w.data::text, w.tags::text, w.nums::text, w.price::text, w.at::text, w.d::text, w.span::text, '
        'w.flag::text, w."Mixed Col", w.ip::text, w.u::text, w.b::text, w.iv::text, w.dom::text]), '
        'coalesce((%s), false) FROM w ORDER BY w.id', q) USING clause, params;
END
$$;

CREATE TABLE cases (n serial, clause text, params text[]);
INSERT INTO cases (clause, params) VALUES
  -- enums
  ('mood = ''happy''', NULL),
  ('mood > ''sad''', NULL),
  ('mood IN (''ok'', ''happy'')', NULL),
  ('mood = $1', '{sad}'),
  -- jsonb
  ('data->>''a'' = ''1''', NULL),
  ('(data->>''a'')::int >= 2', NULL),
  ('data @> ''{"tags": ["x"]}''', NULL),
  ('data ? ''tags''', NULL),
  ('data->''tags''->>0 = $1', '{x}'),
  ('data @> $1', '{"{\"a\": 2}"}'),
  -- arrays
  ('''red'' = ANY (tags)', NULL),
  ('tags @> ARRAY[''red'']', NULL),
  ('tags && $1', '{"{blue,green}"}'),
  ('3 = ANY (nums)', NULL),
  ('nums = $1', '{"{4}"}'),
  ('id = ANY ($1::int[])', '{"{1,3}"}'),
  ('array_length(nums, 1) >= 3', NULL),
  -- text
  ('name LIKE ''A%''', NULL),
  ('name ILIKE ''B%''', NULL),
  ('name NOT LIKE ''%z%''', NULL),
  ('name ~ ''^[A-Z]''', NULL),
  ('name SIMILAR TO ''b%''', NULL),
  ('starts_with(name, $1)', '{An}'),
  ('lower(name) = $1', '{ann}'),
  ('length(name) > 2 AND "Mixed Col" = ''Hello''', NULL),
  ('coalesce(name, ''none'') = ''none''', NULL),
  -- IN / BETWEEN / arithmetic
  ('id IN (1, 3)', NULL),
  ('id = 2', NULL),
  ('name = ''Ann''', NULL),
  ('name IN (''Ann'', ''bob'', ''x'')', NULL),
  ('name = $1', '{bob}'),
  ('id NOT IN (1, 3)', NULL),
  ('id BETWEEN 2 AND 3', NULL),
  ('price BETWEEN 5 AND 10.5', NULL),
  ('price > $1', '{50}'),
  ('id % 2 = 0 OR abs(id - 3) < 1', NULL),
  ('CASE WHEN flag THEN id ELSE -id END > 0', NULL),
  -- ranges
  ('span @> 5', NULL),
  ('span && int4range(8, 20)', NULL),
  ('upper(span) = $1', '{20}'),
  -- time
  ('at > ''2024-03-01 00:00:00+00''', NULL),
  ('at > $1', '{2024-06-01T00:00:00Z}'),
  ('d = ''2024-01-02''', NULL),
  ('d BETWEEN $1 AND $2', '{2024-01-01,2024-01-31}'),
  ('(at AT TIME ZONE ''UTC'')::date = ''2024-07-01''', NULL),
  ('iv > ''PT2H''', NULL),
  -- casts
  ('id::text = $1', '{2}'),
  ('price::int = 10', NULL),
  ('name::varchar(2) = ''An''', NULL),
  -- booleans and NULLs
  ('flag', NULL),
  ('NOT flag', NULL),
  ('flag IS NOT TRUE', NULL),
  ('name IS NULL', NULL),
  ('$1 IS NULL OR name = $1', '{bob}'),
  ('name IS DISTINCT FROM $1', '{Ann}'),
  -- other types
  ('ip << ''10.0.0.0/8''', NULL),
  ('u = $1', '{b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12}'),
  ('b = ''\xdeadbeef''', NULL),
  ('dom > 5', NULL),
  -- qualified with the table's own name, and whole-row references
  ('w.id = 1', NULL),
  ('w IS NOT NULL', NULL),
  -- constant clauses
  ('true', NULL),
  ('1 = 2', NULL),
  ('$1 = ''x''', '{x}');

SELECT c.clause, c.params, array_agg(r.ours ORDER BY r.id) AS matches,
       bool_and(r.ours IS NOT DISTINCT FROM r.postgres) AS agrees_with_postgres
  FROM cases c CROSS JOIN LATERAL check_where(c.clause, c.params) r
 GROUP BY c.n, c.clause, c.params ORDER BY c.n;

-- no where clause: everything matches
SELECT electric_sync._where_matches('w', NULL, NULL, array_fill(NULL::text, ARRAY[17])) AS no_where;
SELECT electric_sync._where_matches('w', '  ', NULL, array_fill(NULL::text, ARRAY[17])) AS blank_where;

-- values in the formats the change stream carries (ISO timestamps in UTC, ISO 8601 intervals,
-- hex bytea) are read with the column types' input functions
SELECT electric_sync._where_matches('w',
         'at = ''2024-01-02 03:04:05.678+00'' AND iv = ''1 year 2 mons 3 days 04:05:06'' AND b = ''\xdeadbeef''',
         NULL,
         ARRAY['1', NULL, NULL, NULL, NULL, NULL, NULL, '2024-01-02 03:04:05.678+00', NULL, NULL, NULL, NULL,
               NULL, NULL, '\xdeadbeef', 'P1Y2M3DT4H5M6S', NULL]) AS electric_formats;
-- only the referenced columns are converted: garbage elsewhere is never read
SELECT electric_sync._where_matches('w', 'id = 1', NULL,
         ARRAY['1', 'x', 'not-a-mood', '{bad json', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', '-5'])
       AS unreferenced_not_parsed;

-- evaluation errors surface as SQL errors (the worker treats the row as not matching)
SELECT electric_sync._where_matches('w', '(data->>''a'')::int > 0', NULL,
         ARRAY['1', NULL, NULL, '{"a": "x"}', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
               NULL, NULL]);
SELECT electric_sync._where_matches('w', '100 / id > 1', NULL, ARRAY['0'] || array_fill(NULL::text, ARRAY[16]));
SELECT electric_sync._where_matches('w', 'dom > 1', NULL, array_fill(NULL::text, ARRAY[16]) || ARRAY['-1']);
-- one value per attribute is required
SELECT electric_sync._where_matches('w', 'id = 1', NULL, ARRAY['1']);
-- the same validation as create_shape
SELECT electric_sync._where_matches('w', 'now() > at', NULL, array_fill(NULL::text, ARRAY[17]));
SELECT electric_sync._where_matches('w', 'id = $1', NULL, array_fill(NULL::text, ARRAY[17]));

-- dropped columns keep their attribute slot (pass NULL there)
CREATE TABLE w2 (id int PRIMARY KEY, gone text, status text);
ALTER TABLE w2 DROP COLUMN gone;
SELECT electric_sync._where_matches('w2', 'status = $1', '{open}', ARRAY['1', NULL, 'open']) AS after_drop;
SELECT electric_sync._where_matches('w2', 'gone = ''x''', NULL, ARRAY['1', NULL, 'open']);

-- equality under a non-deterministic collation: equal values need not have equal texts (such a
-- clause is never matched by comparing texts, nor indexed for routing)
CREATE COLLATION w_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE wc (id int PRIMARY KEY, name text COLLATE w_ci);
SELECT electric_sync._where_matches('wc', 'name = ''ann''', NULL, ARRAY['1', 'Ann']) AS ci_equal;
SELECT electric_sync._where_matches('wc', 'name IN (''x'', ''ANN'')', NULL, ARRAY['1', 'Ann']) AS ci_in;

-- a user-defined function is refused until a superuser allows it; then an immutable one
-- (plpgsql) works; a volatile one is refused (and cannot be allowed)
CREATE FUNCTION w_is_even(int) RETURNS boolean IMMUTABLE LANGUAGE plpgsql AS 'BEGIN RETURN $1 % 2 = 0; END';
CREATE FUNCTION w_coin(int) RETURNS boolean VOLATILE LANGUAGE sql AS 'SELECT random() < 0.5';
SELECT electric_sync._where_matches('w', 'w_is_even(id)', NULL, array_fill(NULL::text, ARRAY[17]));
SELECT electric_sync.allow_where_function('w_is_even(int)');
SELECT electric_sync.allow_where_function('w_coin(int)');
SELECT fn::regprocedure, signature FROM electric_sync.where_functions;
SELECT c.clause, array_agg(r.ours ORDER BY r.id) AS matches, bool_and(r.ours IS NOT DISTINCT FROM r.postgres) AS agrees
  FROM (VALUES ('w_is_even(id)'), ('public.w_is_even(id + 1)')) AS c(clause)
 CROSS JOIN LATERAL check_where(c.clause) r GROUP BY c.clause ORDER BY c.clause;
SELECT electric_sync._where_matches('w', 'w_coin(id)', NULL, array_fill(NULL::text, ARRAY[17]));
-- an allowed function runs as the unprivileged role electric_sync_where, security-restricted
CREATE FUNCTION w_whoami(int) RETURNS boolean IMMUTABLE LANGUAGE plpgsql
  AS 'BEGIN RAISE NOTICE ''current_user %'', current_user; RETURN true; END';
SELECT electric_sync.allow_where_function('w_whoami(int)');
SELECT electric_sync._where_matches('w', 'w_whoami(id)', NULL, array_fill(NULL::text, ARRAY[17]));
CREATE FUNCTION w_reset(int) RETURNS void LANGUAGE plpgsql AS 'BEGIN EXECUTE ''RESET ROLE''; END';
CREATE FUNCTION w_setrole(int) RETURNS boolean IMMUTABLE LANGUAGE plpgsql
  AS 'BEGIN PERFORM w_reset($1); RETURN true; END';
SELECT electric_sync.allow_where_function('w_setrole(int)');
SELECT electric_sync._where_matches('w', 'w_setrole(id)', NULL, array_fill(NULL::text, ARRAY[17]));
-- the reported escalation: an immutable function calling a volatile one that alters a role
CREATE ROLE w_mallory;
CREATE FUNCTION w_doit(int) RETURNS void LANGUAGE plpgsql AS 'BEGIN EXECUTE ''ALTER ROLE w_mallory SUPERUSER''; END';
CREATE FUNCTION w_evil(int) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS 'BEGIN PERFORM w_doit($1); RETURN true; END';
SELECT electric_sync.allow_where_function('w_evil(int)');
SELECT electric_sync._where_matches('w', 'w_evil(id)', NULL, array_fill(NULL::text, ARRAY[17]));
SELECT valid, error_message FROM electric_sync.validate_shape('w', 'w_evil(1)');
SELECT rolsuper FROM pg_roles WHERE rolname = 'w_mallory';
DROP ROLE w_mallory;
-- SECURITY DEFINER is never allowed, not even by a stale allow-list entry
CREATE FUNCTION w_definer(int) RETURNS boolean IMMUTABLE SECURITY DEFINER LANGUAGE sql AS 'SELECT true';
SELECT electric_sync.allow_where_function('w_definer(int)');
ALTER FUNCTION w_whoami(int) SECURITY DEFINER;
SELECT electric_sync._where_matches('w', 'w_whoami(id)', NULL, array_fill(NULL::text, ARRAY[17]));
SELECT electric_sync.disallow_where_function('w_whoami(int)'), electric_sync.disallow_where_function('w_whoami(int)');
-- object identifier types are refused before analysis (no existence oracle)
SELECT t.c, v.valid, v.error_message
  FROM (VALUES ('''pg_authid''::regclass IS NOT NULL'), ('''no_such_table''::regclass IS NOT NULL'),
               ('CAST(''x'' AS pg_catalog.regtype) IS NULL'), ('regclass ''pg_authid'' IS NULL'),
               ('ARRAY[''pg_authid'']::regclass[] IS NULL'), ('pg_relation_size(''pg_authid'') > 0'),
               ('to_regclass(''pg_authid'') IS NULL'), ('regnamespace(''pg_catalog'') IS NULL')) AS t(c),
       LATERAL electric_sync.validate_shape('w', t.c) v;
-- the request's text never reaches SQL: canonical definition and executable form are deparsed
SELECT electric_sync._where_sql('w', E'true /*\n)) UNION ALL SELECT -1, current_setting(''electric_sync.jwt_secret'') -- */');
SELECT electric_sync._where_sql('w', 'id = 42 --');
SELECT electric_sync._where_sql('w', 'name = $1 AND id = ANY($2)', ARRAY[$$O'Brien ); DROP TABLE w; --$$, '{1,2}']);
SELECT electric_sync._where_sql('w', 'id = 1; DROP TABLE w');
SELECT where_normalized FROM electric_sync.validate_shape('w', 'id = 42 -- a comment');
-- bounds: depth, length, parameter count
SELECT valid, error_field, error_message FROM electric_sync.validate_shape('w', repeat('NOT ', 300) || 'id > 0');
SELECT valid, error_field, error_message FROM electric_sync.validate_shape('w', 'id > 0 OR name = ''' || repeat('x', 300000) || '''');
SELECT valid, error_field, error_message FROM electric_sync.validate_shape('w', 'id > 0', params => array_fill('1'::text, ARRAY[10001]));
-- domains with constraints are the owner's code: casts to user domains are refused
CREATE DOMAIN w_chk AS int CHECK (VALUE > 0);
SELECT valid, error_message FROM electric_sync.validate_shape('w', 'id = 1::w_chk');
-- the where clause is resolved with search_path = pg_catalog, <table schema>, public
CREATE SCHEMA wschema;
CREATE FUNCTION wschema.lower(text) RETURNS text IMMUTABLE LANGUAGE sql AS 'SELECT ''hijacked''';
SET search_path = wschema, public;
SELECT electric_sync._where_matches('w', 'lower(name) = ''ann''', NULL,
         ARRAY['1', 'Ann'] || array_fill(NULL::text, ARRAY[15])) AS builtin_lower_used;
RESET search_path;

-- literals and parameters are read with TimeZone = UTC and DateStyle = ISO, whatever the session
SET TimeZone = 'America/New_York';
SET DateStyle = 'SQL, DMY';
SELECT electric_sync._where_matches('w', 'at = ''2024-01-02 03:04:05'' AND at = $1 AND d = ''2024-01-02''',
         ARRAY['2024-01-02 03:04:05'],
         ARRAY['1', NULL, NULL, NULL, NULL, NULL, NULL, '2024-01-02 03:04:05+00', '2024-01-02', NULL, NULL, NULL,
               NULL, NULL, NULL, NULL, NULL]) AS utc_literals;
SELECT where_normalized FROM electric_sync.validate_shape('w', 'at > ''2024-01-02 03:04:05'' AND price > 1.5e0');
RESET TimeZone;
RESET DateStyle;
