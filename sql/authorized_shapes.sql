-- Authorized shapes (docs/authorization.md): create_shape(..., read_role, claims) checks the
-- reader's role and column grants, and compiles the role's row-level security policies with the
-- claims into the shape's predicate; policy and grant DDL invalidates authorized shapes.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS electric_sync;
RESET client_min_messages;
\set VERBOSITY default

CREATE ROLE regress_reader NOLOGIN;
CREATE ROLE regress_other NOLOGIN;
CREATE ROLE regress_bypass NOLOGIN BYPASSRLS;
CREATE ROLE regress_ungranted NOLOGIN;
GRANT regress_reader, regress_other, regress_bypass TO electric_sync_reader;

CREATE TABLE auth_notes (id int PRIMARY KEY, owner text NOT NULL, team text, body text, secret text);
GRANT SELECT (id, owner, team, body) ON auth_notes TO regress_reader, regress_other, regress_bypass;
ALTER TABLE auth_notes ENABLE ROW LEVEL SECURITY;
CREATE FUNCTION auth_sub() RETURNS text LANGUAGE sql STABLE
    AS $$ SELECT current_setting('request.jwt.claims', true)::jsonb ->> 'sub' $$;
CREATE POLICY own ON auth_notes FOR SELECT TO regress_reader
    USING (owner = current_setting('request.jwt.claims', true)::jsonb ->> 'sub');
CREATE POLICY team ON auth_notes FOR SELECT TO regress_reader
    USING (team = current_setting('request.jwt.claim.team', true));
CREATE POLICY not_archived ON auth_notes AS RESTRICTIVE FOR SELECT TO regress_reader
    USING (body IS DISTINCT FROM 'archived');
CREATE POLICY by_name ON auth_notes FOR ALL TO regress_other USING (owner = current_user OR owner = auth_sub());

CREATE FUNCTION shape_of(h text) RETURNS TABLE (read_role text, policy_where text, where_sql text)
    LANGUAGE sql AS $$ SELECT read_role, policy_where, where_sql FROM electric_sync.shapes WHERE handle = h $$;

-- Permissive policies OR'd, restrictive ones AND'd, the claims folded into constants.
SELECT electric_sync.create_shape('auth_notes', NULL, ARRAY['id', 'owner', 'body'], read_role => 'regress_reader',
       claims => '{"sub": "alice", "team": "red", "role": "regress_reader"}') AS h1 \gset
SELECT * FROM shape_of(:'h1');
-- Equal role and claims: one shape; another sub: another shape; a claim the token lacks is NULL.
SELECT electric_sync.create_shape('auth_notes', NULL, ARRAY['id', 'owner', 'body'], read_role => 'regress_reader',
       claims => '{"role": "regress_reader", "team": "red", "sub": "alice"}') = :'h1' AS same_reader_same_shape;
SELECT electric_sync.create_shape('auth_notes', NULL, ARRAY['id', 'owner', 'body'], read_role => 'regress_reader',
       claims => '{"sub": "bob"}') AS h2 \gset
SELECT :'h2' <> :'h1' AS other_sub_other_shape;
SELECT * FROM shape_of(:'h2');
-- With a where clause: both, and-ed, in what snapshots run.
SELECT electric_sync.create_shape('auth_notes', 'id > $1', ARRAY['id', 'owner'], params => ARRAY['1'],
       read_role => 'regress_reader', claims => '{"sub": "alice"}') AS h3 \gset
SELECT * FROM shape_of(:'h3');
-- current_user and an inlined SQL function; FOR ALL policies apply to reads.
SELECT electric_sync.create_shape('auth_notes', NULL, ARRAY['id', 'owner'], read_role => 'regress_other',
       claims => '{"sub": "carol"}') AS h4 \gset
SELECT * FROM shape_of(:'h4');
-- A role no policy names: no row (as Postgres itself answers it).
GRANT regress_ungranted TO electric_sync_reader;
GRANT SELECT ON auth_notes TO regress_ungranted;
SELECT * FROM shape_of(electric_sync.create_shape('auth_notes', read_role => 'regress_ungranted', claims => '{}'));
REVOKE regress_ungranted FROM electric_sync_reader;
REVOKE SELECT ON auth_notes FROM regress_ungranted;
-- Unrestricted shapes are unchanged.
SELECT * FROM shape_of(electric_sync.create_shape('auth_notes'));

-- Refused readers and reads: role, grants, policies that cannot be compiled.
SELECT electric_sync.create_shape('auth_notes', NULL, ARRAY['id'], read_role => 'regress_ungranted');
SELECT electric_sync.create_shape('auth_notes', NULL, ARRAY['id'], read_role => 'no_such_role');
SELECT electric_sync.create_shape('auth_notes', NULL, ARRAY['id'], read_role => current_user);
SELECT electric_sync.create_shape('auth_notes', NULL, ARRAY['id'], read_role => 'regress_bypass');
SELECT electric_sync.create_shape('auth_notes', read_role => 'regress_reader', claims => '{}');
SELECT electric_sync.create_shape('auth_notes', 'secret = $1', ARRAY['id'], params => ARRAY['x'],
       read_role => 'regress_reader', claims => '{}');
SELECT electric_sync.create_shape('auth_notes', NULL, ARRAY['id'], read_role => 'regress_reader', claims => '[1]');
-- Subset snapshots of an authorized reader: their where may only use the role's columns.
SELECT electric_sync._where_sql('auth_notes', 'id = $1', ARRAY['1'], 'regress_reader');
SELECT electric_sync._where_sql('auth_notes', 'secret = $1', ARRAY['x'], 'regress_reader');
SELECT electric_sync._where_sql('auth_notes', 'secret = $1', ARRAY['x']);
CREATE TABLE auth_members (name text PRIMARY KEY);
CREATE POLICY via_members ON auth_notes FOR SELECT TO regress_reader USING (owner IN (SELECT name FROM auth_members));
SELECT electric_sync.create_shape('auth_notes', NULL, ARRAY['id'], read_role => 'regress_reader', claims => '{}');
DROP POLICY via_members ON auth_notes;
CREATE POLICY lucky ON auth_notes FOR SELECT TO regress_reader USING (random() < 0.5);
SELECT electric_sync.create_shape('auth_notes', NULL, ARRAY['id'], read_role => 'regress_reader', claims => '{}');
DROP POLICY lucky ON auth_notes;

-- Policy and grant DDL invalidates authorized shapes (and only those).
SELECT electric_sync.create_shape('auth_notes', NULL, ARRAY['id', 'owner', 'body'], read_role => 'regress_reader',
       claims => '{"sub": "alice", "team": "red", "role": "regress_reader"}') AS h1 \gset
ALTER POLICY own ON auth_notes USING (owner = current_setting('request.jwt.claim.sub', true));
SELECT status, invalid_reason FROM electric_sync.shapes WHERE handle = :'h1';
SELECT * FROM shape_of(electric_sync.create_shape('auth_notes', NULL, ARRAY['id', 'owner', 'body'],
       read_role => 'regress_reader', claims => '{"sub": "alice", "team": "red"}'));
GRANT SELECT (body) ON auth_notes TO regress_other;
SELECT count(*) FILTER (WHERE read_role IS NOT NULL) AS authorized_active,
       count(*) FILTER (WHERE read_role IS NULL) AS unrestricted_active
  FROM electric_sync.shapes WHERE status = 'active' AND relid = 'auth_notes'::regclass;

-- Replacing a function (it may be inlined in a compiled policy) invalidates the authorized
-- shapes with a compiled policy, and only those.
SELECT electric_sync.create_shape('auth_notes', NULL, ARRAY['id', 'owner'], read_role => 'regress_other',
       claims => '{"sub": "bob"}') AS h_fn \gset
SELECT policy_where FROM electric_sync.shapes WHERE handle = :'h_fn';
CREATE OR REPLACE FUNCTION auth_sub() RETURNS text LANGUAGE sql STABLE
    AS $$ SELECT current_setting('request.jwt.claims', true)::jsonb ->> 'user' $$;
SELECT status, invalid_reason FROM electric_sync.shapes WHERE handle = :'h_fn';
SELECT policy_where FROM shape_of(electric_sync.create_shape('auth_notes', NULL, ARRAY['id', 'owner'],
       read_role => 'regress_other', claims => '{"sub": "bob", "user": "robert"}'));

-- Role memberships and attributes fire no event trigger: _check_reader_roles (called every 2 s
-- by the worker's HTTP service) compares each authorized shape's role with its state at creation.
CREATE ROLE regress_team NOLOGIN;
SELECT electric_sync.create_shape('auth_notes', NULL, ARRAY['id', 'owner'], read_role => 'regress_reader',
       claims => '{"sub": "carol"}') AS h_role \gset
SELECT electric_sync._check_reader_roles() AS unchanged_invalidates;
GRANT regress_team TO regress_reader;          -- a new membership: policies TO regress_team now apply
SELECT electric_sync._check_reader_roles() AS after_grant;
SELECT status, invalid_reason FROM electric_sync.shapes WHERE handle = :'h_role';
SELECT electric_sync.create_shape('auth_notes', NULL, ARRAY['id', 'owner'], read_role => 'regress_reader',
       claims => '{"sub": "carol"}') AS h_role \gset
REVOKE regress_reader FROM electric_sync_reader;  -- no longer a reader role
SELECT electric_sync._check_reader_roles() AS after_revoke;
SELECT electric_sync.create_shape('auth_notes', NULL, ARRAY['id', 'owner'], read_role => 'regress_reader',
       claims => '{"sub": "carol"}');
GRANT regress_reader TO electric_sync_reader;
SELECT electric_sync.create_shape('auth_notes', NULL, ARRAY['id', 'owner'], read_role => 'regress_reader',
       claims => '{"sub": "carol"}') AS h_role \gset
ALTER ROLE regress_reader BYPASSRLS;
SELECT electric_sync._check_reader_roles() AS after_bypassrls;
SELECT status, invalid_reason FROM electric_sync.shapes WHERE handle = :'h_role';
ALTER ROLE regress_reader NOBYPASSRLS;
-- Unrestricted shapes are not touched.
SELECT count(*) AS unrestricted_active FROM electric_sync.shapes
 WHERE status = 'active' AND read_role IS NULL AND relid = 'auth_notes'::regclass;
REVOKE regress_team FROM regress_reader;
DROP ROLE regress_team;

DROP TABLE auth_notes, auth_members;
DROP FUNCTION shape_of(text), auth_sub();
DROP ROLE regress_reader, regress_other, regress_bypass, regress_ungranted;
