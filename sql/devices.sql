-- Device enrollment (docs/authorization.md, "Devices"): one-time codes for a reader role,
-- exchanged once for a device; codes expire and can be revoked, devices can be revoked; only
-- hashes are stored; the functions are not PUBLIC's.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS electric_sync;
RESET client_min_messages;
\set VERBOSITY default

CREATE ROLE regress_dev_reader NOLOGIN;
CREATE ROLE regress_dev_plain NOLOGIN;
CREATE ROLE regress_dev_bypass NOLOGIN BYPASSRLS;
CREATE ROLE regress_dev_app NOLOGIN;
GRANT regress_dev_reader, regress_dev_bypass TO electric_sync_reader;
-- USAGE on the schema, so that what is refused below is refused by the objects' own privileges.
GRANT USAGE ON SCHEMA electric_sync TO regress_dev_app, regress_dev_plain;

-- The key exists from CREATE EXTENSION on: 64 hex digits.
SELECT secret ~ '^[0-9a-f]{64}$' AS key_ok, revoked FROM electric_sync._device_state();

-- Checks on the role, the claims and the ttl.
SELECT electric_sync.create_enrollment('regress_dev_plain');
SELECT electric_sync.create_enrollment('postgres');
SELECT electric_sync.create_enrollment('regress_dev_bypass');
SELECT electric_sync.create_enrollment('regress_no_such_role');
SELECT electric_sync.create_enrollment('regress_dev_reader', '{"role": "postgres"}');
SELECT electric_sync.create_enrollment('regress_dev_reader', '{"es_device": "x"}');
SELECT electric_sync.create_enrollment('regress_dev_reader', '"sub"');
SELECT electric_sync.create_enrollment('regress_dev_reader', '{}', '0 seconds');
SELECT electric_sync.create_enrollment('regress_dev_reader', '{}', '31 days');
SELECT electric_sync.create_enrollment('regress_dev_reader', NULL);

-- Not PUBLIC's: an app role needs a grant.
SET ROLE regress_dev_app;
SELECT electric_sync.create_enrollment('regress_dev_reader');
SELECT * FROM electric_sync.enrollments;
RESET ROLE;
GRANT EXECUTE ON FUNCTION electric_sync.create_enrollment(text, jsonb, interval) TO regress_dev_app;
SET ROLE regress_dev_app;
SELECT electric_sync.create_enrollment('regress_dev_reader', '{"sub": "alice"}') AS code \gset
RESET ROLE;
SELECT length(:'code') AS code_length;
SELECT role_name, claims, created_by, used_at IS NULL AS unused, code_hash = :'code' AS stores_code,
       code_hash = encode(sha256(convert_to(:'code', 'UTF8')), 'hex') AS stores_hash
  FROM electric_sync.enrollments;

-- Used once.
SELECT (electric_sync._enroll(:'code', 'regress-agent', 3600)::jsonb - 'device_id' - 'refresh_token') AS enrolled;
SELECT electric_sync._enroll(:'code', 'regress-agent', 3600);
SELECT electric_sync._enroll('nonsense', NULL, 3600);
SELECT d.role_name, d.claims, d.user_agent, d.revoked_at IS NULL AS active, e.used_at IS NOT NULL AS code_used,
       e.device_id = d.device_id AS linked, d.tokens_valid_until > now() + interval '59 minutes' AS valid_hour
  FROM electric_sync.devices d JOIN electric_sync.enrollments e USING (enrollment_id);

-- Refresh: the new refresh token works, the old one does not.
SELECT device_id AS dev FROM electric_sync.devices \gset
SELECT electric_sync.create_enrollment('regress_dev_reader') AS code2 \gset
SELECT electric_sync._enroll(:'code2', NULL, 60)::jsonb ->> 'refresh_token' AS rt \gset
SELECT electric_sync._refresh_device(:'rt', 60)::jsonb ->> 'refresh_token' AS rt2 \gset
SELECT electric_sync._refresh_device(:'rt', 60);
SELECT (electric_sync._refresh_device(:'rt2', 60)::jsonb - 'device_id' - 'refresh_token') AS refreshed;

-- Expired and revoked codes.
SELECT electric_sync.create_enrollment('regress_dev_reader', '{}', '1 millisecond') AS code3 \gset
SELECT pg_sleep(0.01);
SELECT electric_sync._enroll(:'code3', NULL, 60);
SELECT electric_sync.create_enrollment('regress_dev_reader') AS code4 \gset
SELECT electric_sync.revoke_enrollment(:'code4') AS revoked, electric_sync.revoke_enrollment(:'code4') AS again;
SELECT electric_sync._enroll(:'code4', NULL, 60);
SELECT electric_sync.revoke_enrollment(:'code') AS used_code_revoked;

-- Revoking a device: listed for the worker until its tokens expire; twice is false.
SELECT electric_sync.revoke_device(:'dev', 'lost') AS revoked, electric_sync.revoke_device(:'dev') AS again;
SELECT revoked = ARRAY[:'dev'::uuid] AS listed FROM electric_sync._device_state();
SELECT revoked_reason FROM electric_sync.devices WHERE device_id = :'dev';

-- Nothing here is PUBLIC's.
SET ROLE regress_dev_plain;
SELECT * FROM electric_sync.devices;
SELECT * FROM electric_sync.device_keys;
SELECT * FROM electric_sync.clients;
SELECT electric_sync.revoke_device(:'dev');
SELECT * FROM electric_sync._device_state();
RESET ROLE;

REVOKE USAGE ON SCHEMA electric_sync FROM regress_dev_app, regress_dev_plain;
DROP OWNED BY regress_dev_app;
DROP ROLE regress_dev_reader, regress_dev_plain, regress_dev_bypass, regress_dev_app;
DELETE FROM electric_sync.devices;
DELETE FROM electric_sync.enrollments;
