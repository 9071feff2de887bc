-- Output plugin electric_sync: non-public schemas, quoted mixed-case names, truncate cascade.
\set VERBOSITY terse
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

SELECT 'init' FROM pg_create_logical_replication_slot('regression_slot', 'electric_sync');
CREATE SCHEMA "My Schema";
CREATE SCHEMA dec_names_app;
CREATE TABLE "My Schema"."MixedCase" ("Id" int PRIMARY KEY, "a b" text, "quote""d" text, "dot.name" text);
CREATE TABLE dec_names_app.parent (id bigserial PRIMARY KEY, name text);
CREATE TABLE dec_names_app.child (id int PRIMARY KEY, parent_id bigint REFERENCES dec_names_app.parent);
CREATE TABLE public."DecNamesMixed" (id int PRIMARY KEY);   -- a quoted name in public

INSERT INTO "My Schema"."MixedCase" VALUES (1, 'space', 'q"uote', 'a.b');
UPDATE "My Schema"."MixedCase" SET "Id" = 2;
INSERT INTO dec_names_app.parent (name) VALUES ('p');
INSERT INTO dec_names_app.child VALUES (1, 1);
INSERT INTO public."DecNamesMixed" VALUES (1);
DELETE FROM "My Schema"."MixedCase";
SELECT * FROM pg_temp.changes();

-- TRUNCATE ... CASCADE lists every truncated relation; RESTART IDENTITY is flagged
TRUNCATE dec_names_app.parent CASCADE;
TRUNCATE dec_names_app.parent, dec_names_app.child RESTART IDENTITY;
TRUNCATE "My Schema"."MixedCase", public."DecNamesMixed";
SELECT * FROM pg_temp.changes();

-- renaming the schema or the table sends the description again (within one decoding call)
INSERT INTO "My Schema"."MixedCase" VALUES (3, NULL, NULL, NULL);
ALTER SCHEMA "My Schema" RENAME TO "Other Schema";
INSERT INTO "Other Schema"."MixedCase" VALUES (4, NULL, NULL, NULL);
ALTER TABLE "Other Schema"."MixedCase" RENAME TO "Renamed";
INSERT INTO "Other Schema"."Renamed" VALUES (5, NULL, NULL, NULL);
SELECT * FROM pg_temp.changes();

SELECT pg_drop_replication_slot('regression_slot');
DROP SCHEMA "Other Schema", dec_names_app CASCADE;
DROP TABLE public."DecNamesMixed";
