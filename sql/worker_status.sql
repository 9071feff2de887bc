-- The worker becomes active once the extension exists in its database: it creates its slot
-- with our output plugin and publishes its HTTP address.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS electric_sync;
RESET client_min_messages;
DO $$
BEGIN
  FOR i IN 1..600 LOOP
    EXIT WHEN (SELECT state FROM electric_sync.worker_status) = 'active';
    PERFORM pg_sleep(0.1);
  END LOOP;
END $$;
SELECT state, slot_name, pid IS NOT NULL AS has_pid, http_address ~ '^http://127\.0\.0\.1:[0-9]+$' AS http_ok,
       lag_bytes IS NOT NULL AS has_lag
FROM electric_sync.worker_status;
SELECT plugin, slot_type, database = current_database() AS our_db
FROM pg_replication_slots WHERE slot_name = 'electric_sync';
-- Secrets are superuser-only settings.
SELECT name, context FROM pg_settings WHERE name IN ('electric_sync.secret', 'electric_sync.jwt_secret') ORDER BY name;
CREATE ROLE es_nobody;
SET ROLE es_nobody;
SHOW electric_sync.jwt_secret;
RESET ROLE;
DROP ROLE es_nobody;
-- A setting of the server's configuration file is kept at start, also one defined after the
-- others (test/regress/regress.conf.in sets synckit_auth_timeout to 12345).
SELECT setting, source FROM pg_settings WHERE name = 'electric_sync.synckit_auth_timeout';

-- Nothing of electric_sync is executable by PUBLIC (docs/security.md).
SELECT p.oid::regprocedure AS executable_by_public FROM pg_proc p
 WHERE p.pronamespace = 'electric_sync'::regnamespace
   AND (p.proacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) a WHERE a.grantee = 0))
 ORDER BY 1;
