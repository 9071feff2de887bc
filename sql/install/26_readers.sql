
-- ============================================================================================
-- Authorized shapes: who readers may be, and what invalidates their shapes
-- (docs/authorization.md).
-- ============================================================================================

-- The roles readers' tokens may name are the roles this role is a member of: an administrator
-- grants each one (GRANT app_user TO electric_sync_reader), as PostgREST's authenticator role
-- is granted the roles it may switch to. No login, no rights of its own; a cluster role, like
-- electric_sync_where.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'electric_sync_reader') THEN
        CREATE ROLE electric_sync_reader NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOINHERIT;
    END IF;
END
$$;

-- After CREATE / ALTER / DROP POLICY, GRANT / REVOKE and ALTER TABLE: authorized shapes whose
-- answer may have changed are invalidated (their readers get 409 and re-sync; the new shape is
-- compiled with the new policies and checked against the new grants). CREATE / ALTER POLICY and
-- ALTER TABLE name their table; GRANT, REVOKE and DROP POLICY do not, so they invalidate every
-- authorized shape of the database. CREATE [OR REPLACE] / ALTER FUNCTION invalidates every
-- authorized shape that has a compiled policy: the compilation inlined SQL functions and folded
-- immutable calls into constants, so any function may be in a compiled policy without being
-- named in it (the event cannot tell a new function from a replaced one).
CREATE FUNCTION electric_sync._on_authorization_change()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_all boolean;
    v_functions boolean;
    v_relids oid[];
BEGIN
    IF to_regclass('electric_sync.shapes') IS NULL
       OR NOT EXISTS (SELECT 1 FROM electric_sync.shapes WHERE status = 'active' AND read_role IS NOT NULL) THEN
        RETURN;
    END IF;
    SELECT coalesce(bool_or(c.classid IS NULL
                            OR c.classid NOT IN ('pg_catalog.pg_class'::regclass, 'pg_catalog.pg_policy'::regclass,
                                                 'pg_catalog.pg_proc'::regclass)),
                    true),
           coalesce(bool_or(c.classid = 'pg_catalog.pg_proc'::regclass), false),
           array_agg(CASE WHEN c.classid = 'pg_catalog.pg_class'::regclass THEN c.objid
                          WHEN c.classid = 'pg_catalog.pg_policy'::regclass
                          THEN (SELECT p.polrelid FROM pg_policy p WHERE p.oid = c.objid) END)
      INTO v_all, v_functions, v_relids
      FROM pg_event_trigger_ddl_commands() c;
    PERFORM electric_sync._invalidate_shape(s.shape_id,
                                            CASE WHEN v_functions AND s.policy_where IS NOT NULL
                                                 THEN 'function changed' ELSE 'authorization changed' END)
       FROM electric_sync.shapes s
      WHERE s.status = 'active' AND s.read_role IS NOT NULL
        AND (v_all OR s.relid = ANY (v_relids) OR (v_functions AND s.policy_where IS NOT NULL))
      ORDER BY s.shape_id;
END
$$;

CREATE EVENT TRIGGER electric_sync_authorization_change ON ddl_command_end
    WHEN TAG IN ('CREATE POLICY', 'ALTER POLICY', 'DROP POLICY', 'GRANT', 'REVOKE', 'ALTER TABLE',
                 'CREATE FUNCTION', 'ALTER FUNCTION')
    EXECUTE FUNCTION electric_sync._on_authorization_change();
REVOKE ALL ON FUNCTION electric_sync._on_authorization_change() FROM PUBLIC;

-- How a reader role reads, as far as the catalogs outside this database say: its attributes,
-- whether it is still a reader role (granted to electric_sync_reader), and every role it is a
-- member of or has the privileges of (policies apply TO roles and grants are inherited through
-- memberships). Role commands (GRANT role TO role, ALTER ROLE, DROP ROLE) are cluster-wide and
-- fire no event trigger, so each authorized shape keeps this state from its creation and
-- _check_reader_roles compares. NULL: no such role.
CREATE FUNCTION electric_sync._reader_role_state(role_name text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT md5(concat_ws('|', r.rolsuper, r.rolbypassrls, r.rolinherit,
                         pg_has_role('electric_sync_reader', r.oid, 'MEMBER'),
                         (SELECT string_agg(m.oid::text || CASE WHEN pg_has_role(r.oid, m.oid, 'USAGE') THEN 'u'
                                                                ELSE 'm' END, ',' ORDER BY m.oid)
                            FROM pg_roles m
                           WHERE m.oid <> r.oid AND pg_has_role(r.oid, m.oid, 'MEMBER'))))
      FROM pg_roles r
     WHERE r.rolname = role_name
$$;

-- Invalidates the authorized shapes whose role's state changed since they were made (the role
-- lost or gained a membership or an attribute, or was dropped); their readers get 409 and the
-- re-created shape is checked and compiled again. The worker's HTTP service calls it every 2 s.
-- Returns how many shapes it invalidated.
CREATE FUNCTION electric_sync._check_reader_roles()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_shape bigint;
    n integer := 0;
BEGIN
    FOR v_shape IN
        WITH roles AS (
            SELECT d.read_role, electric_sync._reader_role_state(d.read_role) AS state
              FROM (SELECT DISTINCT read_role FROM electric_sync.shapes
                     WHERE status = 'active' AND read_role IS NOT NULL) d)
        SELECT s.shape_id
          FROM electric_sync.shapes s JOIN roles r ON r.read_role = s.read_role
         WHERE s.status = 'active' AND s.read_role_state IS DISTINCT FROM r.state
         ORDER BY s.shape_id
    LOOP
        IF electric_sync._invalidate_shape(v_shape, 'reader role changed') THEN
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END
$$;
REVOKE ALL ON FUNCTION electric_sync._reader_role_state(text), electric_sync._check_reader_roles() FROM PUBLIC;
