// Device enrollment and "who is connected" (docs/authorization.md, "Devices" and "Who is
// connected"). An administrator creates a one-time code in SQL; the device exchanges it at
// POST /v1/enroll for a device token and reads a shape with the real @electric-sql/client;
// revoke_device stops its tokens at once. electric_sync.clients shows it, and /v1/metrics counts it.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { setup, sql, closePool, getShape, http, waitFor, waitForShapeRows, uniqueName, qi, ELECTRIC_URL, TEST_TIMEOUT } from './lib.mjs'

const bearer = (token) => ({ headers: { authorization: `Bearer ${token}` } })

async function reload(setting, value) {
  await sql(value === undefined ? `ALTER SYSTEM RESET ${setting}` : `ALTER SYSTEM SET ${setting} = '${value}'`)
  await sql(`SELECT pg_reload_conf()`)
}

function post(path, body, headers = {}) {
  return http(`${ELECTRIC_URL}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
}

async function enroll(code, headers) {
  const res = await post('/v1/enroll', { code }, headers)
  return { status: res.status, body: await res.json() }
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
})

// A notes table, a reader role and the policy on the claims' sub.
async function notes(ctx) {
  const table = await ctx.table('dnotes', 'id int PRIMARY KEY, owner text NOT NULL, body text')
  const role = uniqueName('dreader')
  await sql(`CREATE ROLE ${qi(role)} NOLOGIN`)
  ctx.dropLater(`DROP OWNED BY ${qi(role)}; DROP ROLE IF EXISTS ${qi(role)}`)
  await sql(`GRANT ${qi(role)} TO electric_sync_reader`)
  await sql(`GRANT SELECT ON ${qi(table)} TO ${qi(role)}`)
  await sql(`ALTER TABLE ${qi(table)} ENABLE ROW LEVEL SECURITY`)
  await sql(`CREATE POLICY own ON ${qi(table)} FOR SELECT TO ${qi(role)}
               USING (owner = current_setting('request.jwt.claims', true)::jsonb ->> 'sub')`)
  await sql(`INSERT INTO ${qi(table)} VALUES (1, 'alice', 'a1'), (2, 'bob', 'b1')`)
  return { table, role }
}

test('devices: code -> token -> shape (snapshot and live) -> revoke -> 401; the code works once', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const { table, role } = await notes(ctx)
  const [{ code }] = await sql(`SELECT electric_sync.create_enrollment($1, '{"sub":"alice"}', '10 minutes') AS code`, [role])
  assert.match(code, /^[0-9a-f]{64}$/)

  const e = await enroll(code, { 'user-agent': 'devices-test/1.0' })
  assert.equal(e.status, 200, JSON.stringify(e.body))
  assert.match(e.body.device_id, /^[0-9a-f-]{36}$/)
  assert.equal(e.body.role, role)
  assert.equal(e.body.token_type, 'Bearer')
  assert.equal(e.body.expires_in, 3600)
  assert.ok(e.body.refresh_token.length >= 32)
  const claims = JSON.parse(Buffer.from(e.body.token.split('.')[1], 'base64url'))
  assert.equal(claims.sub, 'alice')
  assert.equal(claims.role, role)
  assert.equal(claims.es_device, e.body.device_id)

  // A second use of the code, and a made-up code, are refused.
  const again = await enroll(code)
  assert.equal(again.status, 401)
  assert.match(again.body.message, /already been used/)
  assert.equal((await enroll('0'.repeat(64))).status, 401)

  // The real client reads as the device: its rows only, snapshot and live.
  const shape = ctx.shape({ table }, bearer(e.body.token))
  await waitForShapeRows(shape, `SELECT * FROM ${qi(table)} WHERE owner = 'alice'`)
  await sql(`INSERT INTO ${qi(table)} VALUES (3, 'alice', 'a2'), (4, 'bob', 'b2')`)
  await waitForShapeRows(shape, `SELECT * FROM ${qi(table)} WHERE owner = 'alice'`)

  // A refresh gives a new token (same reader) and a new refresh token; the old one is spent.
  const r1 = await post('/v1/enroll/refresh', { refresh_token: e.body.refresh_token })
  const refreshed = await r1.json()
  assert.equal(r1.status, 200, JSON.stringify(refreshed))
  assert.equal(refreshed.device_id, e.body.device_id)
  assert.notEqual(refreshed.refresh_token, e.body.refresh_token)
  const r2 = await post('/v1/enroll/refresh', { refresh_token: e.body.refresh_token })
  assert.equal(r2.status, 401)
  const q = { table, offset: '-1' }
  assert.equal((await getShape(q, bearer(refreshed.token))).status, 200)

  // electric_sync.clients shows the device, its user agent and the shape it reads.
  const [shapeRow] = await sql(`SELECT handle FROM electric_sync.shapes WHERE table_name = $1 AND status = 'active' LIMIT 1`, [table])
  const client = await waitFor(async () => {
    const rows = await sql(`SELECT * FROM electric_sync.clients WHERE device_id = $1`, [e.body.device_id])
    return rows.length && rows[0].shapes?.some((s) => s.handle === shapeRow.handle) ? rows[0] : null
  }, { timeout: 10_000, message: 'the device in electric_sync.clients' })
  assert.equal(client.kind, 'reader')
  assert.equal(client.role_name, role)
  assert.equal(client.subject, 'alice')
  assert.match(client.user_agent, /node|devices-test/)
  assert.ok(['idle', 'syncing'].includes(client.status), client.status)
  assert.ok(client.requests >= 2)
  assert.ok(client.enrolled_at)

  // Revoke: every token of the device is refused at once, and the live stream gets no more rows.
  const [{ ok }] = await sql(`SELECT electric_sync.revoke_device($1, 'lost phone') AS ok`, [e.body.device_id])
  assert.equal(ok, true)
  await waitFor(async () => (await getShape(q, bearer(refreshed.token))).status === 401, { timeout: 5_000, message: 'revoked token refused' })
  const refused = await getShape(q, bearer(e.body.token))
  assert.equal(refused.status, 401)
  assert.match(refused.body.message, /revoked/)
  assert.equal((await post('/v1/enroll/refresh', { refresh_token: refreshed.refresh_token })).status, 401)
  await sql(`INSERT INTO ${qi(table)} VALUES (5, 'alice', 'after revoke')`)
  await new Promise((r) => setTimeout(r, 1500))
  assert.ok(!shape.currentRows.some((r) => r.id === 5), 'a revoked device received a row')
  const [after] = await sql(`SELECT status, revoked_at FROM electric_sync.clients WHERE device_id = $1`, [e.body.device_id])
  assert.equal(after.status, 'revoked')
  assert.equal((await sql(`SELECT electric_sync.revoke_device($1)`, [e.body.device_id]))[0].revoke_device, false)
})

test('devices: expired and revoked codes, bad bodies, other modes; create_enrollment checks the role and claims', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const { role } = await notes(ctx)
  // Expired.
  const [{ code: old }] = await sql(`SELECT electric_sync.create_enrollment($1, '{}', '1 second') AS code`, [role])
  await new Promise((r) => setTimeout(r, 1100))
  const ex = await enroll(old)
  assert.equal(ex.status, 401)
  assert.match(ex.body.message, /expired/)
  // Revoked before use.
  const [{ code }] = await sql(`SELECT electric_sync.create_enrollment($1) AS code`, [role])
  assert.equal((await sql(`SELECT electric_sync.revoke_enrollment($1) AS ok`, [code]))[0].ok, true)
  const rv = await enroll(code)
  assert.equal(rv.status, 401)
  assert.match(rv.body.message, /revoked/)
  // Bodies.
  for (const body of ['', 'not json', '[]', '{"code": 5}', JSON.stringify({ code: 'x'.repeat(200) }), '{}']) {
    const res = await post('/v1/enroll', body)
    assert.equal(res.status, 400, body)
    assert.match((await res.json()).message, /code/)
  }
  assert.equal((await post('/v1/enroll', 'x'.repeat(5000))).status, 413)
  // Garbage (a fixed-seed generator): every answer is a 4xx with a JSON body, never 5xx.
  let seed = 0x0e0011
  const rnd = (n) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n)
  const pieces = ['{', '}', '[', ']', '"code"', '"refresh_token"', ':', ',', '"', '\\u0000', 'null', '1e999', '"\\ud800"', 'x', ' ']
  for (let i = 0; i < 150; i++) {
    let body = ''
    for (let j = rnd(40); j > 0; j--) body += pieces[rnd(pieces.length)]
    const path = i % 2 ? '/v1/enroll' : '/v1/enroll/refresh'
    const res = await post(path, body)
    assert.ok(res.status >= 400 && res.status < 500, `${path} ${JSON.stringify(body)}: ${res.status}`)
    assert.equal(typeof (await res.json()).message, 'string')
  }
  assert.equal((await http(`${ELECTRIC_URL}/v1/enroll`)).status, 405)
  const pre = await http(`${ELECTRIC_URL}/v1/enroll`, { method: 'OPTIONS', headers: { origin: 'http://app.example', 'access-control-request-method': 'POST' } })
  assert.equal(pre.status, 204)
  assert.match(pre.headers.get('access-control-allow-methods'), /POST/)

  // create_enrollment: the role must be a reader role, not a superuser; server-set claims refused.
  await assert.rejects(sql(`SELECT electric_sync.create_enrollment('postgres')`), /superuser/)
  const plain = uniqueName('plain')
  await sql(`CREATE ROLE ${qi(plain)} NOLOGIN`)
  ctx.dropLater(`DROP ROLE IF EXISTS ${qi(plain)}`)
  await assert.rejects(sql(`SELECT electric_sync.create_enrollment($1)`, [plain]), /not a reader role/)
  await assert.rejects(sql(`SELECT electric_sync.create_enrollment($1, '{"role":"postgres"}')`, [role]), /set by the server/)
  await assert.rejects(sql(`SELECT electric_sync.create_enrollment($1, '[]')`, [role]), /JSON object/)
  await assert.rejects(sql(`SELECT electric_sync.create_enrollment($1, '{}', '-1 minute')`, [role]), /ttl/)
  await assert.rejects(sql(`SELECT electric_sync.create_enrollment('no_such_role_x')`), /does not exist/)
  // Only the code's hash is stored.
  const rows = await sql(`SELECT count(*)::int AS n FROM electric_sync.enrollments WHERE code_hash = $1`, [code])
  assert.equal(rows[0].n, 0)

  // In secret mode the endpoint says what it needs (and does not spend the code).
  const [{ code: c2 }] = await sql(`SELECT electric_sync.create_enrollment($1) AS code`, [role])
  await reload('electric_sync.read_auth', 'secret')
  try {
    await waitFor(async () => (await post('/v1/enroll', { code: 'probe' })).status === 403, { timeout: 5_000, message: '403 in secret mode' })
    const res = await post('/v1/enroll', { code: c2 })
    assert.equal(res.status, 403)
    assert.match((await res.json()).message, /read_auth = 'jwt'/)
  } finally {
    await reload('electric_sync.read_auth', 'jwt')
  }
  await waitFor(async () => (await enroll(c2)).status === 200, { timeout: 5_000, message: 'the code still works' })
})

test('clients: oversync sources with push and pull positions; /v1/metrics counts clients', { timeout: TEST_TIMEOUT }, async (t) => {
  const { createHmac } = await import('node:crypto')
  const secret = process.env.ES_JWT_SECRET || 'electric-sync-test-secret'
  const b64 = (x) => Buffer.from(x).toString('base64url')
  const user = uniqueName('cu')
  const h = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))
  const p = b64(JSON.stringify({ sub: user, exp: Math.floor(Date.now() / 1000) + 600 }))
  const token = `${h}.${p}.${createHmac('sha256', secret).update(`${h}.${p}`).digest('base64url')}`
  const source = 'src-' + user
  const res = await http(`${ELECTRIC_URL}/sync/pull?after_bundle_seq=0&max_bundles=10`, {
    headers: { authorization: `Bearer ${token}`, 'oversync-source-id': source, 'user-agent': 'oversqlite-test' },
  })
  // The pull may be refused (the scope is not initialized): what counts is that the source is seen.
  await res.text()
  const row = await waitFor(async () => (await sql(`SELECT * FROM electric_sync.clients WHERE user_id = $1`, [user]))[0], {
    timeout: 10_000, message: 'the oversync source in electric_sync.clients',
  })
  assert.equal(row.kind, 'oversync')
  assert.equal(row.source_id, source)
  assert.equal(row.user_agent, 'oversqlite-test')
  assert.equal(row.client_id, `oversync:${user}/${source}`)
  assert.equal(row.last_status, res.status)

  const m = await http(`${ELECTRIC_URL}/v1/metrics`)
  const metrics = await m.json()
  assert.equal(m.status, 200)
  assert.ok(metrics.clients.oversync_sources >= 1, JSON.stringify(metrics.clients))
  assert.ok(metrics.clients.readers >= 1)
  // PUBLIC cannot read the view.
  const nobody = uniqueName('nobody')
  await sql(`CREATE ROLE ${qi(nobody)} NOLOGIN`)
  t.after(() => sql(`DROP ROLE IF EXISTS ${qi(nobody)}`))
  await assert.rejects(sql(`SET ROLE ${qi(nobody)}; SELECT * FROM electric_sync.clients`), /permission denied/)
  await sql('RESET ROLE')
})
