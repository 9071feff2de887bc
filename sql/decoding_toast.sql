-- Output plugin electric_sync: large TOASTed values and the unchanged-TOAST mark.
\set VERBOSITY terse
\i test/regress/decoding_helpers.sql
-- long runs of the test pattern are shortened for display; the length prefix shows the real size
CREATE FUNCTION pg_temp.short(d text) RETURNS text LANGUAGE sql AS $$
  SELECT regexp_replace(regexp_replace(regexp_replace(regexp_replace(d, '(0123456789){3,}', '0123456789...', 'g'), '(ABCDEFGHIJ){3,}', 'ABCDEFGHIJ...', 'g'),
    '(7,){3,}', '7,...,', 'g'), '(30313233343536373839){3,}', '30313233343536373839...', 'g') $$;

-- objects live in their own schema (other tests may leave tables in public)
CREATE SCHEMA dec_toast;
SET search_path = dec_toast;
SELECT 'init' FROM pg_create_logical_replication_slot('regression_slot', 'electric_sync');
CREATE TABLE tt (id int PRIMARY KEY, small text, big text, arr int[], blob bytea);
-- EXTERNAL storage: values over ~2kB go out of line, uncompressed
ALTER TABLE tt ALTER COLUMN big SET STORAGE EXTERNAL;
ALTER TABLE tt ALTER COLUMN arr SET STORAGE EXTERNAL;
INSERT INTO tt VALUES (1, 's', repeat('0123456789', 1000), NULL, NULL);
INSERT INTO tt VALUES (2, 's', repeat('ABCDEFGHIJ', 300), array_fill(7, ARRAY[1000]), NULL);
-- compressed inline values are plain values too
INSERT INTO tt VALUES (3, 's', NULL, NULL, convert_to(repeat('0123456789', 1000), 'UTF8'));
-- updates that do not touch the TOASTed columns: unchanged TOAST values are marked u
UPDATE tt SET small = 'changed' WHERE id = 1;
UPDATE tt SET small = 'changed' WHERE id = 2;
-- updating the TOASTed column itself sends the new value
UPDATE tt SET big = big || 'END' WHERE id = 1;
DELETE FROM tt WHERE id = 1;
SELECT pg_temp.short(c) FROM pg_temp.changes() c;

-- REPLICA IDENTITY FULL: the old tuple carries the TOASTed values in full
ALTER TABLE tt REPLICA IDENTITY FULL;
UPDATE tt SET small = 'full' WHERE id = 2;
DELETE FROM tt WHERE id = 2;
SELECT pg_temp.short(c) FROM pg_temp.changes() c;

-- a transaction large enough to be spilled to disk keeps its TOAST data
ALTER TABLE tt REPLICA IDENTITY DEFAULT;
BEGIN;
INSERT INTO tt SELECT g, 'bulk', repeat('0123456789', 500) || g, NULL, NULL FROM generate_series(10, 59) g;
UPDATE tt SET small = 'bulk2' WHERE id >= 10;
COMMIT;
SELECT count(*) FILTER (WHERE c ~ '^I <tt> N 5 \d+:\d+ 4:bulk 50\d\d:(0123456789)+\d+ n n$') AS inserts_with_full_value,
       count(*) FILTER (WHERE c ~ '^U <tt> N 5 \d+:\d+ 5:bulk2 u n n$') AS updates_with_unchanged_mark
FROM pg_temp.changes() c;

SELECT pg_drop_replication_slot('regression_slot');
DROP TABLE tt;
RESET search_path;
DROP SCHEMA dec_toast;
