\set ECHO none
-- Shared by the decoding tests (sql/decoding_*.sql, read with \i): pg_temp.show() replaces
-- user relation/type oids in a decoded line with their names (oids vary between runs), and
-- pg_temp.changes() consumes regression_slot with the plugin's options for stable output.
-- Not echoed into the tests' output (they run with psql -a): ECHO is off until the end.
CREATE FUNCTION pg_temp.show(d text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE o text; nm text;
BEGIN
  FOR o IN SELECT DISTINCT (regexp_matches(d, '(?:^| )(\d{5,})(?= |$)', 'g'))[1] LOOP
    CONTINUE WHEN o::bigint < 16384 OR o::bigint > 4294967295;
    SELECT coalesce((SELECT c.oid::regclass::text FROM pg_class c WHERE c.oid = o::oid),
                    (SELECT format_type(t.oid, NULL) FROM pg_type t WHERE t.oid = o::oid)) INTO nm;
    CONTINUE WHEN nm IS NULL;
    d := regexp_replace(d, '(^| )' || o || '(?= |$)', '\1<' || nm || '>', 'g');
  END LOOP;
  RETURN d;
END $$;
CREATE FUNCTION pg_temp.changes() RETURNS SETOF text LANGUAGE sql AS $$
  SELECT pg_temp.show(data) FROM pg_logical_slot_get_changes('regression_slot', NULL, NULL,
    'include-xids', '0', 'include-lsn', '0', 'include-timestamp', '0', 'skip-empty-xacts', '1',
    'skip-schema', 'electric_sync') $$;
\set ECHO all
