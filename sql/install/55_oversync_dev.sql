
-- ============================================================================================
-- oversync, development helpers: mint a bearer token for the write path (docs/oversync.md,
-- "Quickstart"). Superuser only: they read the configured JWT secret.
-- ============================================================================================

-- HS256 compact JWS of a claims object, signed with `secret` (HMAC-SHA256, RFC 2104, built on
-- the core sha256()). The header is {"alg":"HS256","typ":"JWT"}.
CREATE FUNCTION electric_sync._os_jwt_hs256(claims jsonb, secret text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k     bytea := convert_to(secret, 'UTF8');
    ipad  bytea;
    opad  bytea;
    input text;
    i     int;
BEGIN
    IF length(k) = 0 THEN
        RAISE EXCEPTION 'the JWT secret is empty';
    END IF;
    IF length(k) > 64 THEN
        k := sha256(k);
    END IF;
    k := k || decode(repeat('00', 64 - length(k)), 'hex');
    ipad := k;
    opad := k;
    FOR i IN 0..63 LOOP
        ipad := set_byte(ipad, i, get_byte(k, i) # 54);   -- 0x36
        opad := set_byte(opad, i, get_byte(k, i) # 92);   -- 0x5c
    END LOOP;
    input := translate(encode(convert_to('{"alg":"HS256","typ":"JWT"}', 'UTF8'), 'base64'), E'+/=\n', '-_')
             || '.' ||
             translate(encode(convert_to(claims::text, 'UTF8'), 'base64'), E'+/=\n', '-_');
    RETURN input || '.' ||
           translate(encode(sha256(opad || sha256(ipad || convert_to(input, 'UTF8'))), 'base64'), E'+/=\n', '-_');
END
$$;

-- A token for user `sub` (claims sub and exp = now + ttl), signed with the secret the worker
-- uses: the content of electric_sync.jwt_secret_file (trailing whitespace dropped, as the
-- worker does) when that is set, else electric_sync.jwt_secret. For development and tests;
-- production tokens come from the application's own identity provider.
CREATE FUNCTION electric_sync.oversync_dev_token(sub text, ttl interval DEFAULT '1 hour')
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_file   text := coalesce(current_setting('electric_sync.jwt_secret_file', true), '');
    v_secret text;
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'oversync_dev_token needs a superuser (it reads the JWT secret)';
    END IF;
    IF sub IS NULL OR sub = '' THEN
        RAISE EXCEPTION 'sub must be a non-empty user id';
    END IF;
    IF ttl IS NULL OR ttl <= interval '0' THEN
        RAISE EXCEPTION 'ttl must be positive';
    END IF;
    IF v_file <> '' THEN
        v_secret := rtrim(pg_read_file(v_file), E' \t\r\n');
    ELSE
        v_secret := coalesce(current_setting('electric_sync.jwt_secret', true), '');
    END IF;
    IF v_secret = '' THEN
        RAISE EXCEPTION 'no JWT secret is configured'
            USING HINT = 'Set electric_sync.jwt_secret_file to a file holding the secret, then reload.';
    END IF;
    RETURN electric_sync._os_jwt_hs256(
        jsonb_build_object('sub', sub, 'exp', floor(extract(epoch FROM now() + ttl))::bigint),
        v_secret);
END
$$;

REVOKE ALL ON FUNCTION electric_sync._os_jwt_hs256(jsonb, text),
                       electric_sync.oversync_dev_token(text, interval)
    FROM PUBLIC;
