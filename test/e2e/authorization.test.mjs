// Authorized shapes (docs/authorization.md): electric_sync.read_auth = 'jwt'. The real
// @electric-sql/client passes a bearer token through its `headers` option; the shape is read as
// the token's role, with the role's column grants and row-level security policies (compiled
// with the token's claims) deciding what it gets, in the snapshot and live.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac, generateKeyPairSync, sign as cryptoSign } from 'node:crypto'
import { writeFileSync, rmSync } from 'node:fs'
import { setup, sql, closePool, getShape, shapeUrl, waitFor, waitForShapeRows, uniqueName, qi, TEST_TIMEOUT } from './lib.mjs'

const SECRET = process.env.ES_JWT_SECRET || 'electric-sync-test-secret'
const b64 = (x) => Buffer.from(x).toString('base64url')
const now = () => Math.floor(Date.now() / 1000)

function hs256(claims, secret = SECRET) {
  const h = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))
  const p = b64(JSON.stringify({ exp: now() + 600, ...claims }))
  return `${h}.${p}.${createHmac('sha256', secret).update(`${h}.${p}`).digest('base64url')}`
}

function signed(alg, key, claims, kid) {
  const h = b64(JSON.stringify({ alg, typ: 'JWT', ...(kid ? { kid } : {}) }))
  const p = b64(JSON.stringify({ exp: now() + 600, ...claims }))
  const opts = alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key
  return `${h}.${p}.${cryptoSign('sha256', Buffer.from(`${h}.${p}`), opts).toString('base64url')}`
}

const bearer = (token) => ({ headers: { authorization: `Bearer ${token}` } })

async function reload(setting, value) {
  await sql(value === undefined ? `ALTER SYSTEM RESET ${setting}` : `ALTER SYSTEM SET ${setting} = '${value}'`)
  await sql(`SELECT pg_reload_conf()`)
}

after(closePool)

before(async () => {
  await reload('electric_sync.read_auth', 'jwt')
  const probe = uniqueName('probe')
  await sql(`CREATE TABLE ${qi(probe)} (id int PRIMARY KEY)`)
  try {
    await waitFor(async () => (await getShape({ table: probe, offset: '-1' })).status === 401, { timeout: 10_000, message: 'jwt mode' })
  } finally {
    await sql(`DROP TABLE ${qi(probe)}`)
  }
})

after(async () => {
  await reload('electric_sync.read_auth')
  await reload('electric_sync.read_anon_role')
  await reload('electric_sync.jwt_public_key_file')
})

// A table of notes with an owner, a reader role granted to electric_sync_reader with SELECT on
// id, owner, body (not secret), and the PostgREST-style policy on the token's sub.
async function notes(ctx) {
  const table = await ctx.table('notes', 'id int PRIMARY KEY, owner text NOT NULL, body text, secret text')
  const role = uniqueName('reader')
  await sql(`CREATE ROLE ${qi(role)} NOLOGIN`)
  ctx.dropLater(`DROP OWNED BY ${qi(role)}; DROP ROLE IF EXISTS ${qi(role)}`)
  await sql(`GRANT ${qi(role)} TO electric_sync_reader`)
  await sql(`GRANT SELECT (id, owner, body) ON ${qi(table)} TO ${qi(role)}`)
  await sql(`ALTER TABLE ${qi(table)} ENABLE ROW LEVEL SECURITY`)
  await sql(`CREATE POLICY own ON ${qi(table)} FOR SELECT TO ${qi(role)}
               USING (owner = current_setting('request.jwt.claims', true)::jsonb ->> 'sub')`)
  await sql(`INSERT INTO ${qi(table)} VALUES (1, 'alice', 'a1', 's'), (2, 'bob', 'b1', 's'), (3, 'alice', 'a2', 's')`)
  return { table, role }
}

const COLS = 'id,owner,body'
const rowsOf = (table, owner) => [`SELECT id, owner, body FROM ${qi(table)} WHERE owner = $1`, [owner]]

test('authorization: two users of one policy see only their rows, in the snapshot and live; a row whose owner changes moves', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const { table, role } = await notes(ctx)
  const alice = ctx.shape({ table, columns: COLS }, bearer(hs256({ sub: 'alice', role })))
  const bob = ctx.shape({ table, columns: COLS }, bearer(hs256({ sub: 'bob', role })))
  await waitForShapeRows(alice, ...rowsOf(table, 'alice'))
  await waitForShapeRows(bob, ...rowsOf(table, 'bob'))
  assert.equal(alice.currentRows.length, 2)
  assert.equal(bob.currentRows.length, 1)

  await sql(`INSERT INTO ${qi(table)} VALUES (4, 'bob', 'b2', 's'), (5, 'carol', 'c1', 's')`)
  await sql(`UPDATE ${qi(table)} SET owner = 'bob' WHERE id = 1`)
  await waitForShapeRows(alice, ...rowsOf(table, 'alice'))
  await waitForShapeRows(bob, ...rowsOf(table, 'bob'))
  assert.deepEqual(alice.currentRows.map((r) => Number(r.id)).sort(), [3])
  assert.deepEqual(bob.currentRows.map((r) => Number(r.id)).sort(), [1, 2, 4])

  // Readers with equal role and claims that matter share one shape; other claims do not split it.
  const a1 = await getShape({ table, columns: COLS, offset: '-1' }, bearer(hs256({ sub: 'alice', role, iat: now() })))
  const a2 = await getShape({ table, columns: COLS, offset: '-1' }, bearer(hs256({ sub: 'alice', role, exp: now() + 900 })))
  const b1 = await getShape({ table, columns: COLS, offset: '-1' }, bearer(hs256({ sub: 'bob', role })))
  assert.equal(a1.status, 200)
  assert.equal(a1.headers.get('electric-handle'), a2.headers.get('electric-handle'))
  assert.notEqual(a1.headers.get('electric-handle'), b1.headers.get('electric-handle'))
  // Another reader's handle is not a way into their shape: the server answers with yours.
  const steal = await getShape({ table, columns: COLS, offset: '0_0', handle: a1.headers.get('electric-handle') },
    bearer(hs256({ sub: 'bob', role })))
  assert.equal(steal.status, 409)
  assert.equal(steal.headers.get('electric-handle'), b1.headers.get('electric-handle'))
  // What an authorized reader gets is private to them.
  assert.match(a1.headers.get('cache-control'), /^private/)
  assert.doesNotMatch(a1.headers.get('cache-control'), /s-maxage/)
  assert.match(a1.headers.get('vary') || '', /authorization/i)
  // SSE streams too
  const ac = new AbortController()
  t.after(() => ac.abort())
  const sse = await fetch(shapeUrl({ table, columns: COLS, offset: a1.headers.get('electric-offset'),
    handle: a1.headers.get('electric-handle'), live: 'true', live_sse: 'true' }),
  { ...bearer(hs256({ sub: 'alice', role })), signal: ac.signal })
  assert.equal(sse.status, 200)
  assert.match(sse.headers.get('cache-control'), /^private/)
  assert.match(sse.headers.get('vary') || '', /authorization/i)
  ac.abort()
})

test('authorization: columns and where columns without a grant are 403; superusers and ungranted roles are refused', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const { table, role } = await notes(ctx)
  const tok = bearer(hs256({ sub: 'alice', role }))
  const all = await getShape({ table, offset: '-1' }, tok)
  assert.equal(all.status, 403, all.text)
  assert.match(all.body.errors.columns[0], /cannot select column secret/)
  const where = await getShape({ table, columns: COLS, where: "secret = 's'", offset: '-1' }, tok)
  assert.equal(where.status, 403, where.text)
  assert.match(where.body.errors.where[0], /cannot select column secret/)
  // Subset snapshots: their where and order_by are held to the same grants.
  const first = await getShape({ table, columns: COLS, offset: '-1' }, tok)
  assert.equal(first.status, 200, first.text)
  const base = { table, columns: COLS, offset: first.headers.get('electric-offset'), handle: first.headers.get('electric-handle') }
  const okSub = await getShape({ ...base, subset__where: 'id > 0', subset__order_by: 'id', subset__limit: '10' }, tok)
  assert.equal(okSub.status, 200, okSub.text)
  const subWhere = await getShape({ ...base, subset__where: "secret = 's'", subset__order_by: 'id', subset__limit: '10' }, tok)
  assert.ok(subWhere.status === 400 || subWhere.status === 403, subWhere.text)
  assert.match(subWhere.text, /cannot select column secret/)
  const subOrder = await getShape({ ...base, subset__where: 'id > 0', subset__order_by: 'secret', subset__limit: '10' }, tok)
  assert.equal(subOrder.status, 400, subOrder.text)
  const su = await getShape({ table, columns: COLS, offset: '-1' }, bearer(hs256({ sub: 'x', role: 'postgres' })))
  assert.equal(su.status, 403, su.text)
  assert.match(su.body.errors.role[0], /superuser/)
  const other = uniqueName('notgranted')
  await sql(`CREATE ROLE ${qi(other)} NOLOGIN`)
  ctx.dropLater(`DROP ROLE IF EXISTS ${qi(other)}`)
  const ng = await getShape({ table, columns: COLS, offset: '-1' }, bearer(hs256({ sub: 'x', role: other })))
  assert.equal(ng.status, 403, ng.text)
  assert.match(ng.body.errors.role[0], /electric_sync_reader/)
})

test('authorization: missing, expired, forged and unsigned tokens are 401; the anonymous role is used without a token', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const { table, role } = await notes(ctx)
  const q = { table, columns: COLS, offset: '-1' }
  const none = await getShape(q)
  assert.equal(none.status, 401)
  assert.equal(none.headers.get('www-authenticate'), 'Bearer')
  assert.match(none.body.message, /bearer token is required/)
  const expired = await getShape(q, bearer(hs256({ sub: 'alice', role, exp: now() - 120 })))
  assert.equal(expired.status, 401)
  assert.match(expired.body.message, /expired/)
  const notYet = await getShape(q, bearer(hs256({ sub: 'alice', role, nbf: now() + 600 })))
  assert.equal(notYet.status, 401)
  const forged = await getShape(q, bearer(hs256({ sub: 'alice', role }, 'not-the-secret')))
  assert.equal(forged.status, 401)
  assert.match(forged.body.message, /signature/)
  const unsigned = `${b64(JSON.stringify({ alg: 'none' }))}.${b64(JSON.stringify({ sub: 'alice', role }))}.`
  assert.equal((await getShape(q, bearer(unsigned))).status, 401)
  assert.equal((await getShape(q, { headers: { authorization: 'Basic abc' } })).status, 401)

  // The anonymous role: reads without a token, under its own policy (here: no rows).
  await reload('electric_sync.read_anon_role', role)
  await waitFor(async () => (await getShape(q)).status === 200, { timeout: 10_000, message: 'the anonymous role' })
  const anon = await getShape(q)
  assert.deepEqual(anon.body.filter((m) => m.value), [])
  await reload('electric_sync.read_anon_role')
})

test('authorization: a policy change invalidates the shape (409), and the new policy applies', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const { table, role } = await notes(ctx)
  const tok = bearer(hs256({ sub: 'alice', role }))
  const first = await getShape({ table, columns: COLS, offset: '-1' }, tok)
  assert.equal(first.status, 200)
  const handle = first.headers.get('electric-handle')
  const offset = first.headers.get('electric-offset')
  await sql(`ALTER POLICY own ON ${qi(table)} USING (owner = current_setting('request.jwt.claims', true)::jsonb ->> 'sub' OR owner = 'bob')`)
  // The worker invalidates the shape when it decodes the change (right after the commit).
  await waitFor(async () => (await getShape({ table, columns: COLS, offset, handle }, tok)).status === 409,
    { timeout: 10_000, message: '409 after ALTER POLICY' })
  const fresh = await getShape({ table, columns: COLS, offset: '-1' }, tok)
  assert.equal(fresh.status, 200)
  assert.deepEqual(fresh.body.filter((m) => m.value).map((m) => Number(m.value.id)).sort(), [1, 2, 3])
  // REVOKE: the shape is invalidated, and resolving it again for this reader is refused.
  await sql(`REVOKE SELECT ON ${qi(table)} FROM ${qi(role)}`)
  const at = { table, columns: COLS, offset: fresh.headers.get('electric-offset'), handle: fresh.headers.get('electric-handle') }
  await waitFor(async () => (await getShape(at, tok)).status === 403, { timeout: 10_000, message: '403 after REVOKE' })
  assert.equal((await getShape({ table, columns: COLS, offset: '-1' }, tok)).status, 403)
})

test('authorization: revoking the role from electric_sync_reader, or replacing a policy function, invalidates the shape', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const { table, role } = await notes(ctx)
  const tok = bearer(hs256({ sub: 'alice', role }))
  const first = await getShape({ table, columns: COLS, offset: '-1' }, tok)
  assert.equal(first.status, 200)
  // Role commands fire no event trigger: the worker compares the role every 2 s.
  await sql(`REVOKE ${qi(role)} FROM electric_sync_reader`)
  const at = { table, columns: COLS, offset: first.headers.get('electric-offset'), handle: first.headers.get('electric-handle') }
  await waitFor(async () => (await getShape(at, tok)).status === 403, { timeout: 10_000, message: '403 after REVOKE role' })
  assert.equal((await getShape({ table, columns: COLS, offset: '-1' }, tok)).status, 403)
  await sql(`GRANT ${qi(role)} TO electric_sync_reader`)

  // A policy through an SQL function (inlined when the policy is compiled): replacing the
  // function changes what the reader gets.
  const fn = uniqueName('who')
  await sql(`CREATE FUNCTION ${qi(fn)}() RETURNS text LANGUAGE sql STABLE
               AS $$ SELECT current_setting('request.jwt.claims', true)::jsonb ->> 'sub' $$`)
  ctx.dropLater(`DROP FUNCTION IF EXISTS ${qi(fn)}() CASCADE`)
  await sql(`ALTER POLICY own ON ${qi(table)} USING (owner = ${qi(fn)}())`)
  const before = await getShape({ table, columns: COLS, offset: '-1' }, tok)
  assert.equal(before.status, 200)
  assert.deepEqual(before.body.filter((m) => m.value).map((m) => Number(m.value.id)).sort(), [1, 3])
  await sql(`CREATE OR REPLACE FUNCTION ${qi(fn)}() RETURNS text LANGUAGE sql STABLE AS $$ SELECT 'bob'::text $$`)
  const at2 = { table, columns: COLS, offset: before.headers.get('electric-offset'), handle: before.headers.get('electric-handle') }
  await waitFor(async () => (await getShape(at2, tok)).status === 409, { timeout: 10_000, message: '409 after CREATE OR REPLACE FUNCTION' })
  const after = await getShape({ table, columns: COLS, offset: '-1' }, tok)
  assert.equal(after.status, 200)
  assert.deepEqual(after.body.filter((m) => m.value).map((m) => Number(m.value.id)).sort(), [2])
})

test('authorization: a policy that reads another table is refused with its name', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const { table, role } = await notes(ctx)
  const other = await ctx.table('members', 'owner text PRIMARY KEY')
  await sql(`CREATE POLICY via_members ON ${qi(table)} FOR SELECT TO ${qi(role)} USING (owner IN (SELECT owner FROM ${qi(other)}))`)
  const r = await getShape({ table, columns: COLS, offset: '-1' }, bearer(hs256({ sub: 'alice', role })))
  assert.equal(r.status, 403, r.text)
  assert.match(r.body.errors.policy[0], /policy "via_members".*subqueries/)
})

test('authorization: RS256 (PEM) and ES256 (JWKS) tokens verified with electric_sync.jwt_public_key_file', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const { table, role } = await notes(ctx)
  const q = { table, columns: COLS, offset: '-1' }
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const file = `/tmp/${uniqueName('pubkey')}`
  t.after(() => rmSync(file, { force: true }))

  writeFileSync(file, rsa.publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644 })
  await reload('electric_sync.jwt_public_key_file', file)
  const rs = signed('RS256', rsa.privateKey, { sub: 'alice', role })
  await waitFor(async () => (await getShape(q, bearer(rs))).status === 200, { timeout: 10_000, message: 'the RSA key' })
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 })
  assert.equal((await getShape(q, bearer(signed('RS256', other.privateKey, { sub: 'alice', role })))).status, 401)
  // HS256 still works alongside
  assert.equal((await getShape(q, bearer(hs256({ sub: 'alice', role })))).status, 200)

  const jwk = { ...ec.publicKey.export({ format: 'jwk' }), kid: 'k1', use: 'sig' }
  writeFileSync(file, JSON.stringify({ keys: [jwk] }), { mode: 0o644 })
  await sql(`SELECT pg_reload_conf()`)
  const es = signed('ES256', ec.privateKey, { sub: 'alice', role }, 'k1')
  await waitFor(async () => (await getShape(q, bearer(es))).status === 200, { timeout: 10_000, message: 'the JWKS key' })
  const body = (await getShape(q, bearer(es))).body
  assert.deepEqual(body.filter((m) => m.value).map((m) => Number(m.value.id)).sort(), [1, 3])
  assert.equal((await getShape(q, bearer(rs))).status, 401)  // the RSA key is gone
  await reload('electric_sync.jwt_public_key_file')
})
