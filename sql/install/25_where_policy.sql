
-- ============================================================================================
-- What a shape's where clause may run, and as whom (docs/security.md).
-- ============================================================================================

-- Every where clause is analyzed, folded and evaluated as this role, in a security-restricted
-- operation: not a superuser, no login, no rights of its own beyond reading data (snapshots
-- read the shape's table as it; pg_read_all_data and BYPASSRLS keep what they return equal to
-- what the worker streams). Roles belong to the cluster: one role serves every database, and
-- it stays after DROP EXTENSION.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'electric_sync_where') THEN
        CREATE ROLE electric_sync_where NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION INHERIT BYPASSRLS;
    END IF;
END
$$;
GRANT pg_read_all_data TO electric_sync_where;

-- Functions other than the built-in ones that where clauses may call, kept by a superuser.
-- fn is a pg_proc oid (not regprocedure: reg* columns would block pg_upgrade).
CREATE TABLE electric_sync.where_functions (
    fn        oid PRIMARY KEY,
    signature text NOT NULL,            -- fn::regprocedure when it was allowed
    added_at  timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON electric_sync.where_functions FROM PUBLIC;

-- Allows one function in where clauses. It must be an immutable plain function, not SECURITY
-- DEFINER; it runs as electric_sync_where, which needs EXECUTE on it (PUBLIC has it by default).
CREATE FUNCTION electric_sync.allow_where_function(fn regprocedure)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p record;
BEGIN
    SELECT prosecdef, provolatile, prokind INTO p FROM pg_proc WHERE oid = fn;
    IF p.prokind <> 'f' THEN
        RAISE EXCEPTION 'function % is not a plain function', fn
              USING ERRCODE = 'wrong_object_type', HINT = 'Aggregates, window functions and procedures cannot be used in a where clause.';
    END IF;
    IF p.prosecdef THEN
        RAISE EXCEPTION 'function % is SECURITY DEFINER', fn
              USING ERRCODE = 'insufficient_privilege', HINT = 'Where clauses never run code with another role''s rights.';
    END IF;
    IF p.provolatile <> 'i' THEN
        RAISE EXCEPTION 'function % is not IMMUTABLE', fn
              USING ERRCODE = 'invalid_parameter_value', HINT = 'Each change is matched once, so a where clause may only call immutable functions.';
    END IF;
    INSERT INTO electric_sync.where_functions (fn, signature) VALUES ($1, $1::text)
        ON CONFLICT ON CONSTRAINT where_functions_pkey DO NOTHING;
END
$$;

-- Allows every immutable, non-SECURITY DEFINER plain function of an installed extension
-- (for example citext or PostGIS operators). Returns how many were added.
CREATE FUNCTION electric_sync.allow_where_functions_of_extension(ext name)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = ext) THEN
        RAISE EXCEPTION 'extension "%" is not installed', ext USING ERRCODE = 'undefined_object';
    END IF;
    INSERT INTO electric_sync.where_functions (fn, signature)
    SELECT p.oid, p.oid::regprocedure::text
      FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
     WHERE d.classid = 'pg_proc'::regclass AND d.refclassid = 'pg_extension'::regclass
       AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = ext) AND d.deptype = 'e'
       AND p.prokind = 'f' AND p.provolatile = 'i' AND NOT p.prosecdef
    ON CONFLICT ON CONSTRAINT where_functions_pkey DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- Takes a function off the list. Active shapes whose where clause may call it (by name) are
-- invalidated, so their clients re-sync under the new rule. Returns false if it was not listed.
CREATE FUNCTION electric_sync.disallow_where_function(fn regprocedure)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_name text := (SELECT proname FROM pg_proc WHERE oid = fn);
BEGIN
    DELETE FROM electric_sync.where_functions w WHERE w.fn = $1;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM electric_sync._invalidate_shape(s.shape_id, 'where function disallowed')
       FROM electric_sync.shapes s
      WHERE s.status = 'active' AND strpos(s.where_clause, v_name) > 0
      ORDER BY s.shape_id;
    RETURN true;
END
$$;

-- The where clause as snapshot and subset queries run it (see es_where_sql).
CREATE FUNCTION electric_sync._where_sql(tbl regclass, where_clause text, params text[] DEFAULT NULL,
                                        read_role text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'es_where_sql' LANGUAGE C VOLATILE;

REVOKE ALL ON FUNCTION electric_sync.allow_where_function(regprocedure),
                       electric_sync.allow_where_functions_of_extension(name),
                       electric_sync.disallow_where_function(regprocedure),
                       electric_sync._where_sql(regclass, text, text[], text)
    FROM PUBLIC;

-- A where clause evaluated on one row, as electric_sync_where, security-restricted: how
-- snapshot and subset queries filter rows when the clause calls allow-listed functions.
CREATE FUNCTION electric_sync._where_check(tbl regclass, where_clause text, params text[], r record)
RETURNS boolean
AS 'MODULE_PATHNAME', 'es_where_check' LANGUAGE C STABLE COST 1000;
REVOKE ALL ON FUNCTION electric_sync._where_check(regclass, text, text[], record) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION electric_sync._where_check(regclass, text, text[], record) TO electric_sync_where;
