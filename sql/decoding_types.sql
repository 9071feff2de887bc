-- Output plugin electric_sync: text output of many types, with Electric's output settings
-- forced whatever the session uses (DateStyle, TimeZone, IntervalStyle, extra_float_digits,
-- bytea_output).
\set VERBOSITY terse
\i test/regress/decoding_helpers.sql

-- objects live in their own schema (other tests may leave tables in public)
CREATE SCHEMA dec_types;
SET search_path = dec_types;
SELECT 'init' FROM pg_create_logical_replication_slot('regression_slot', 'electric_sync');
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE TABLE typed (
  id int4 PRIMARY KEY, i2 int2, i8 int8, num numeric, num2 numeric(10,2), f8 float8, f4 float4,
  t text, vc varchar(5), ch char(4), b bool, j jsonb, js json, ia int[], ta text[], ia2 int[][],
  u uuid, tz timestamptz, ts timestamp, d date, tm time, iv interval, by bytea,
  m mood, ma mood[], p posint);

-- the session asks for other output settings: the decoded text must not follow them
SET DateStyle = 'SQL, MDY';
SET TimeZone = 'America/New_York';
SET IntervalStyle = 'postgres_verbose';
SET extra_float_digits = -3;
SET bytea_output = 'escape';

INSERT INTO typed VALUES (
  1, -32768, 9223372036854775807, 12345678901234567890.123456789, 3.5, 0.1, 1.5,
  E'multi\nline ''quoted'' "dq" \\ back', 'abc', 'ab', true, '{"b": [1, 2.50, null], "a": "x y"}', '{"b":1,  "a":2}',
  '{1,NULL,3}', '{"a b",NULL,"c\"d","",NULL}', '{{1,2},{3,4}}',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2024-01-02 03:04:05.678+01', '2024-01-02 03:04:05.678',
  '2024-02-29', '13:14:15.5', '1 year 2 months 3 days 04:05:06.5', '\xdeadbeef00',
  'happy', '{sad,ok}', 7);
INSERT INTO typed VALUES (2, 0, -1, 'NaN', -0.01, 1.0/3, 'Infinity', '', '', '', false, 'null', '[]',
  '{}', '{}', '{}', '00000000-0000-0000-0000-000000000000', 'infinity', '-infinity', '0001-01-01 BC',
  '00:00', '-1 day +00:00:01', '', 'ok', '{}', 1);
INSERT INTO typed (id) VALUES (3);
UPDATE typed SET f8 = 1e100, f4 = '-0', tz = '1999-12-31 23:59:59.999999-08', iv = '0', by = '\x00' WHERE id = 3;
SELECT * FROM pg_temp.changes();

-- the session's settings are untouched afterwards
SHOW DateStyle;
SHOW TimeZone;
SHOW IntervalStyle;
SHOW extra_float_digits;
SHOW bytea_output;
SELECT tz, iv, f8, by FROM typed WHERE id = 1;

-- the same text as the server's output with Electric's settings
SET DateStyle = 'ISO, DMY';
SET TimeZone = 'UTC';
SET IntervalStyle = 'iso_8601';
SET extra_float_digits = 1;
SET bytea_output = 'hex';
UPDATE typed SET t = 'again' WHERE id = 1;
CREATE TEMP TABLE out AS SELECT c FROM pg_temp.changes() c WHERE c LIKE 'U %';
SELECT strpos((SELECT c FROM out), ' ' || length(tz::text) || ':' || tz::text || ' ' || length(ts::text) || ':' || ts::text
       || ' ' || length(d::text) || ':' || d::text || ' ' || length(tm::text) || ':' || tm::text
       || ' ' || length(iv::text) || ':' || iv::text || ' ' || length(by::text) || ':' || by::text || ' ') > 0
       AND strpos((SELECT c FROM out), ' ' || length(f8::text) || ':' || f8::text || ' ') > 0 AS same_as_server_output
FROM typed WHERE id = 1;

SELECT pg_drop_replication_slot('regression_slot');
DROP TABLE typed;
DROP DOMAIN posint;
DROP TYPE mood;
RESET search_path;
DROP SCHEMA dec_types;
