-- Output plugin electric_sync: non-public schemas, quoted mixed-case names, truncate cascade.
\set VERBOSITY terse
\i test/regress/decoding_helpers.sql

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
