
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
-- authorized shape of the database.
CREATE FUNCTION electric_sync._on_authorization_change()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_all boolean;
    v_relids oid[];
BEGIN
    IF to_regclass('electric_sync.shapes') IS NULL
       OR NOT EXISTS (SELECT 1 FROM electric_sync.shapes WHERE status = 'active' AND read_role IS NOT NULL) THEN
        RETURN;
    END IF;
    SELECT coalesce(bool_or(c.classid IS NULL
                            OR c.classid NOT IN ('pg_catalog.pg_class'::regclass, 'pg_catalog.pg_policy'::regclass)),
                    true),
           array_agg(CASE WHEN c.classid = 'pg_catalog.pg_class'::regclass THEN c.objid
                          ELSE (SELECT p.polrelid FROM pg_policy p WHERE p.oid = c.objid) END)
      INTO v_all, v_relids
      FROM pg_event_trigger_ddl_commands() c;
    PERFORM electric_sync._invalidate_shape(s.shape_id, 'authorization changed')
       FROM electric_sync.shapes s
      WHERE s.status = 'active' AND s.read_role IS NOT NULL
        AND (v_all OR s.relid = ANY (v_relids))
      ORDER BY s.shape_id;
END
$$;

CREATE EVENT TRIGGER electric_sync_authorization_change ON ddl_command_end
    WHEN TAG IN ('CREATE POLICY', 'ALTER POLICY', 'DROP POLICY', 'GRANT', 'REVOKE', 'ALTER TABLE')
    EXECUTE FUNCTION electric_sync._on_authorization_change();
REVOKE ALL ON FUNCTION electric_sync._on_authorization_change() FROM PUBLIC;
