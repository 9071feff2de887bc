
-- ============================================================================================
-- Device enrollment (docs/authorization.md, "Devices"): an administrator or an app role creates
-- a one-time code for a reader role and its claims; a device exchanges it once at
-- POST /v1/enroll for a device token (a JWT the worker signs with the key below) and a refresh
-- token. Codes expire, are used once and can be revoked; devices can be revoked, and the worker
-- then refuses their tokens at once (revoke_device emits a devices_changed message).
-- ============================================================================================

-- The key the worker signs and verifies device tokens with (HS256, header kid
-- "electric_sync-device"). Made once per database, from pg_strong_random (gen_random_uuid);
-- readable by superusers only.
CREATE TABLE electric_sync.device_keys (
    id         int PRIMARY KEY CHECK (id = 1),
    secret     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO electric_sync.device_keys (id, secret)
SELECT 1, encode(sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text || gen_random_uuid()::text,
                                   'UTF8')), 'hex');

-- Only the SHA-256 of a code is kept: the code itself is shown once, to its creator.
CREATE TABLE electric_sync.enrollments (
    enrollment_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code_hash     text NOT NULL UNIQUE,
    role_name     name NOT NULL,
    claims        jsonb NOT NULL,
    created_by    name NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz,
    device_id     uuid,
    revoked_at    timestamptz
);

-- One row per enrolled device. refresh_hash: SHA-256 of its current refresh token (each
-- refresh replaces it). tokens_valid_until: the latest expiry of a token issued to it (the
-- worker keeps a revoked device in memory until then).
CREATE TABLE electric_sync.devices (
    device_id          uuid PRIMARY KEY,
    enrollment_id      bigint REFERENCES electric_sync.enrollments,
    role_name          name NOT NULL,
    claims             jsonb NOT NULL,
    enrolled_at        timestamptz NOT NULL DEFAULT now(),
    user_agent         text,
    refresh_hash       text NOT NULL UNIQUE,
    refreshed_at       timestamptz,
    tokens_valid_until timestamptz NOT NULL,
    revoked_at         timestamptz,
    revoked_reason     text
);
CREATE INDEX devices_revoked ON electric_sync.devices (tokens_valid_until) WHERE revoked_at IS NOT NULL;

CREATE FUNCTION electric_sync._sha256_hex(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$ SELECT encode(sha256(convert_to(t, 'UTF8')), 'hex') $$;

-- A one-time enrollment code for a device that will read as read_role with these claims (what
-- policies see in request.jwt.claims, besides "role" and "es_device"). Callable by superusers
-- and by the roles they grant EXECUTE to (an app's admin role): such a role may enroll devices
-- for every reader role, so grant it as you would grant that.
CREATE FUNCTION electric_sync.create_enrollment(read_role text, claims jsonb DEFAULT '{}', ttl interval DEFAULT '15 minutes')
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    v_code text := replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', '');
    k text;
BEGIN
    IF read_role IS NULL OR claims IS NULL OR ttl IS NULL THEN
        RAISE EXCEPTION 'create_enrollment: read_role, claims and ttl must not be NULL';
    END IF;
    SELECT rolname, rolsuper, rolbypassrls INTO r FROM pg_roles WHERE rolname = read_role;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'role "%" does not exist', read_role
            USING HINT = 'Create the role and GRANT it TO electric_sync_reader.';
    END IF;
    IF r.rolsuper THEN
        RAISE EXCEPTION 'role "%" is a superuser: devices cannot read as a superuser', read_role
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT pg_has_role('electric_sync_reader', r.rolname, 'MEMBER') THEN
        RAISE EXCEPTION 'role "%" is not a reader role', read_role
            USING ERRCODE = 'insufficient_privilege',
                  HINT = format('GRANT %I TO electric_sync_reader;', read_role);
    END IF;
    IF r.rolbypassrls AND current_setting('electric_sync.read_allow_bypassrls', true) IS DISTINCT FROM 'on' THEN
        RAISE EXCEPTION 'role "%" has BYPASSRLS', read_role
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Use a role without BYPASSRLS, or set electric_sync.read_allow_bypassrls = on.';
    END IF;
    IF jsonb_typeof(claims) <> 'object' THEN
        RAISE EXCEPTION 'create_enrollment: claims must be a JSON object';
    END IF;
    FOR k IN SELECT jsonb_object_keys(claims) LOOP
        IF k IN ('role', 'es_device', 'exp', 'iat', 'nbf', 'jti', 'iss') THEN
            RAISE EXCEPTION 'create_enrollment: claim "%" is set by the server', k
                USING HINT = 'The device token carries role (the read_role), es_device (the device id), iss, iat and exp.';
        END IF;
    END LOOP;
    IF length(claims::text) > 4096 THEN
        RAISE EXCEPTION 'create_enrollment: claims are longer than 4096 bytes';
    END IF;
    IF ttl <= interval '0' OR ttl > interval '30 days' THEN
        RAISE EXCEPTION 'create_enrollment: ttl must be positive and at most 30 days';
    END IF;
    INSERT INTO electric_sync.enrollments (code_hash, role_name, claims, created_by, expires_at)
    VALUES (electric_sync._sha256_hex(v_code), r.rolname, claims, session_user, now() + ttl);
    RETURN v_code;
END
$$;

-- Revokes an unused code. False if the code is unknown, used or already revoked.
CREATE FUNCTION electric_sync.revoke_enrollment(code text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE electric_sync.enrollments SET revoked_at = now()
     WHERE code_hash = electric_sync._sha256_hex(code) AND used_at IS NULL AND revoked_at IS NULL;
    RETURN FOUND;
END
$$;

-- Revokes a device: its tokens and its refresh token stop working at once (the worker hears of
-- it through the devices_changed message, in commit order). False if unknown or already revoked.
CREATE FUNCTION electric_sync.revoke_device(device_id uuid, reason text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE electric_sync.devices d SET revoked_at = now(), revoked_reason = reason
     WHERE d.device_id = revoke_device.device_id AND d.revoked_at IS NULL;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM electric_sync._emit_message('devices_changed', 0, device_id::text);
    RETURN true;
END
$$;

-- POST /v1/enroll (the worker's pool connection): uses the code once, creates the device and
-- its refresh token. Errors carry SQLSTATE 28000 and a message the client may see.
CREATE FUNCTION electric_sync._enroll(code text, user_agent text, token_ttl_s int)
RETURNS json
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e electric_sync.enrollments;
    v_device uuid := gen_random_uuid();
    v_refresh text := replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', '');
BEGIN
    SELECT * INTO e FROM electric_sync.enrollments WHERE code_hash = electric_sync._sha256_hex(code) FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown enrollment code' USING ERRCODE = 'invalid_authorization_specification';
    ELSIF e.used_at IS NOT NULL THEN
        RAISE EXCEPTION 'this enrollment code has already been used' USING ERRCODE = 'invalid_authorization_specification';
    ELSIF e.revoked_at IS NOT NULL THEN
        RAISE EXCEPTION 'this enrollment code has been revoked' USING ERRCODE = 'invalid_authorization_specification';
    ELSIF e.expires_at <= now() THEN
        RAISE EXCEPTION 'this enrollment code has expired' USING ERRCODE = 'invalid_authorization_specification';
    END IF;
    UPDATE electric_sync.enrollments SET used_at = now(), device_id = v_device WHERE enrollment_id = e.enrollment_id;
    INSERT INTO electric_sync.devices (device_id, enrollment_id, role_name, claims, user_agent, refresh_hash,
                                       tokens_valid_until)
    VALUES (v_device, e.enrollment_id, e.role_name, e.claims, left(user_agent, 256),
            electric_sync._sha256_hex(v_refresh), now() + make_interval(secs => token_ttl_s));
    RETURN json_build_object('device_id', v_device, 'role', e.role_name, 'claims', e.claims,
                             'refresh_token', v_refresh);
END
$$;

-- POST /v1/enroll/refresh: a new refresh token for the current one (which stops working).
CREATE FUNCTION electric_sync._refresh_device(refresh_token text, token_ttl_s int)
RETURNS json
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d electric_sync.devices;
    v_refresh text := replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', '');
BEGIN
    SELECT * INTO d FROM electric_sync.devices WHERE refresh_hash = electric_sync._sha256_hex(refresh_token) FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown or already used refresh token' USING ERRCODE = 'invalid_authorization_specification';
    ELSIF d.revoked_at IS NOT NULL THEN
        RAISE EXCEPTION 'this device has been revoked' USING ERRCODE = 'invalid_authorization_specification';
    END IF;
    UPDATE electric_sync.devices
       SET refresh_hash = electric_sync._sha256_hex(v_refresh), refreshed_at = now(),
           tokens_valid_until = greatest(tokens_valid_until, now() + make_interval(secs => token_ttl_s))
     WHERE device_id = d.device_id;
    RETURN json_build_object('device_id', d.device_id, 'role', d.role_name, 'claims', d.claims,
                             'refresh_token', v_refresh);
END
$$;

-- What the worker loads (at start and after devices_changed): the signing key and the revoked
-- devices whose tokens have not all expired yet.
CREATE FUNCTION electric_sync._device_state()
RETURNS TABLE (secret text, revoked uuid[])
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT (SELECT k.secret FROM electric_sync.device_keys k WHERE k.id = 1),
           (SELECT coalesce(array_agg(d.device_id ORDER BY d.device_id), '{}')
              FROM electric_sync.devices d
             WHERE d.revoked_at IS NOT NULL AND d.tokens_valid_until > now() - interval '5 minutes')
$$;

REVOKE ALL ON TABLE electric_sync.device_keys, electric_sync.enrollments, electric_sync.devices FROM PUBLIC;
REVOKE ALL ON FUNCTION electric_sync.create_enrollment(text, jsonb, interval),
                       electric_sync.revoke_enrollment(text),
                       electric_sync.revoke_device(uuid, text),
                       electric_sync._enroll(text, text, int),
                       electric_sync._refresh_device(text, int),
                       electric_sync._device_state(),
                       electric_sync._sha256_hex(text)
    FROM PUBLIC;
