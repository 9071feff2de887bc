-- electric-schema header values (protocol §12) and primary keys computed at shape creation.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS electric_sync;
RESET client_min_messages;
\set VERBOSITY default

CREATE TYPE s_mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN s_posint AS int CHECK (VALUE > 0);
CREATE DOMAIN s_intarr AS int[];
CREATE TABLE s_types (
    i2 int2, i4 int4 NOT NULL, i8 int8, num numeric(10,2), num_any numeric, num_neg numeric(5,-2),
    f4 float4, f8 float8, t text, vc varchar(20), vc_any varchar, ch char(5), bo bool NOT NULL,
    js json, jb jsonb, ia int[], ta text[], ia2 int[][], vca varchar(10)[], u uuid,
    ts timestamp, tz timestamptz, tz3 timestamptz(3), tm time(2), ttz timetz, d date,
    iv interval, iv_ym interval YEAR TO MONTH, iv_s interval(3), iv_ds interval DAY TO SECOND(0),
    by bytea, bt bit(4), vb varbit(8), ip inet, e s_mood NOT NULL, ea s_mood[], dm s_posint, dma s_intarr,
    rg int4range, pt point, oid_col oid, nm name,
    PRIMARY KEY (i8, i4));

SELECT electric_sync.create_shape('s_types') AS h \gset
SELECT pk_columns, columns FROM electric_sync.shapes WHERE handle = :'h';
-- one line per column, exactly as in the header (json keeps the text and the order)
SELECT key AS column_name, value::text AS schema FROM json_each((SELECT schema_json::json FROM electric_sync.shapes WHERE handle = :'h'));
-- the header value is compact JSON
SELECT schema_json FROM electric_sync.shapes WHERE handle = :'h';

-- selected columns: only those, in table order, primary key included
SELECT electric_sync.create_shape('s_types', columns => ARRAY['e', 'i4', 'ia', 'i8']) AS h2 \gset
SELECT columns, pk_columns, schema_json FROM electric_sync.shapes WHERE handle = :'h2';

-- composite primary key declared in a different order than the columns
CREATE TABLE s_comp (a text, b int, c text, PRIMARY KEY (c, a));
SELECT electric_sync.create_shape('s_comp') AS h3 \gset
SELECT columns, pk_columns, schema_json FROM electric_sync.shapes WHERE handle = :'h3';

-- no primary key: every column identifies the row, no pk_index in the schema
CREATE TABLE s_nopk (x int NOT NULL, y text, z jsonb);
SELECT electric_sync.create_shape('s_nopk') AS h3 \gset
SELECT columns, pk_columns, schema_json FROM electric_sync.shapes WHERE handle = :'h3';
SELECT relreplident FROM pg_class WHERE oid = 's_nopk'::regclass;

-- dropped columns are skipped; names are kept exactly
CREATE TABLE s_drop (id bigint PRIMARY KEY, old text, "New Name" varchar(3));
ALTER TABLE s_drop DROP COLUMN old;
SELECT electric_sync.create_shape('s_drop') AS h3 \gset
SELECT columns, pk_columns, schema_json FROM electric_sync.shapes WHERE handle = :'h3';

-- a table that already has REPLICA IDENTITY FULL is left alone
CREATE TABLE s_full (id int PRIMARY KEY);
ALTER TABLE s_full REPLICA IDENTITY FULL;
SELECT electric_sync.create_shape('s_full') IS NOT NULL AS created;
SELECT relreplident FROM pg_class WHERE oid = 's_full'::regclass;
