-- oversync_dev_token: a development HS256 token for the write path, signed with the configured
-- secret (electric_sync.jwt_secret_file, else electric_sync.jwt_secret). Superuser only.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS electric_sync;
RESET client_min_messages;
\set VERBOSITY terse
-- HMAC-SHA256 signature: a vector computed with openssl (short key, and a key over 64 bytes).
SELECT electric_sync._os_jwt_hs256('{"a":1}', 'secret');
SELECT electric_sync._os_jwt_hs256('{"a":1}', repeat('k', 100));
-- no secret configured in this instance
SELECT electric_sync.oversync_dev_token('alice');
SELECT electric_sync.oversync_dev_token('');
SELECT electric_sync.oversync_dev_token('alice', '-1 minute');
-- not callable by PUBLIC
CREATE ROLE oversync_dev_nobody;
SET ROLE oversync_dev_nobody;
SELECT electric_sync.oversync_dev_token('alice');
RESET ROLE;
DROP ROLE oversync_dev_nobody;
-- with a secret file: the token verifies with that secret, carries sub and exp = now + ttl
SELECT current_setting('data_directory') || '/regress_jwt_secret' AS secret_path \gset
COPY (SELECT 'regress-secret') TO :'secret_path';
ALTER SYSTEM SET electric_sync.jwt_secret_file = :'secret_path';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT electric_sync.oversync_dev_token('alice', '2 hours') AS tok \gset
SELECT split_part(:'tok', '.', 1) AS header,
       electric_sync._os_jwt_hs256(convert_from(decode(translate(split_part(:'tok', '.', 2), '-_', '+/')
         || repeat('=', (4 - length(split_part(:'tok', '.', 2)) % 4) % 4), 'base64'), 'UTF8')::jsonb,
         'regress-secret') = :'tok' AS verifies;
SELECT c ->> 'sub' AS sub, abs((c ->> 'exp')::bigint - extract(epoch FROM now() + interval '2 hours')) <= 2 AS exp_ok
  FROM (SELECT convert_from(decode(translate(split_part(:'tok', '.', 2), '-_', '+/')
         || repeat('=', (4 - length(split_part(:'tok', '.', 2)) % 4) % 4), 'base64'), 'UTF8')::jsonb AS c) s;
ALTER SYSTEM RESET electric_sync.jwt_secret_file;
SELECT pg_reload_conf();
