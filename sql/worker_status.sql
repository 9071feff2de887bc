-- The status view exists and reports the worker (it may still be starting in this database).
CREATE EXTENSION electric_sync;
SELECT count(*) = 1 AS one_row FROM electric_sync.worker_status;
SELECT state IN ('starting', 'active') AS state_ok, slot_name FROM electric_sync.worker_status;
-- Secrets are superuser-only settings.
SELECT name, context FROM pg_settings WHERE name IN ('electric_sync.secret', 'electric_sync.jwt_secret') ORDER BY name;
CREATE ROLE es_nobody;
SET ROLE es_nobody;
SHOW electric_sync.jwt_secret;
RESET ROLE;
DROP ROLE es_nobody;
