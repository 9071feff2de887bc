// /v1/health tells the truth: while the worker's DB pool cannot connect (here: the database
// refuses new connections and the pool's connections were terminated), it answers
// 503 {"status":"degraded","reason":...} + retry-after instead of 200 "active" — the pool-backed
// routes (snapshots, /v1/metrics, the write path) answer 503 meanwhile. Back to 200 once the
// pool connects again. Electric's own states (200 active, 202 starting) are unchanged.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import pg from 'pg'
import { closePool, waitFor, http, sql, ELECTRIC_URL, DATABASE_URL } from './lib.mjs'

after(closePool)

async function health() {
  try {
    const res = await http(`${ELECTRIC_URL}/v1/health`, {}, 3_000)
    return { status: res.status, headers: res.headers, body: await res.json() }
  } catch (e) {
    return { status: 0, body: null }
  }
}

test('health: degraded (503 + reason) while the DB pool cannot connect, active again after', { timeout: 60_000 }, async (t) => {
  // The worker's database refuses new connections during the test: one connection to another
  // database (a database cannot disallow connections to itself) does the switching.
  const db = new URL(DATABASE_URL).pathname.slice(1) || 'postgres'
  const u = new URL(DATABASE_URL)
  u.pathname = '/template1'
  const admin = new pg.Client({ connectionString: u.toString(), statement_timeout: 20_000 })
  admin.on('error', () => {})
  await admin.connect()
  const q = (s) => admin.query(s)
  t.after(async () => {
    await q(`ALTER DATABASE "${db}" WITH ALLOW_CONNECTIONS true`).catch(() => {})
    await admin.end().catch(() => {})
    await waitFor(async () => (await health()).status === 200, { timeout: 20_000, message: 'health 200 after the test' }).catch(() => {})
  })

  const before = await health()
  assert.equal(before.status, 200)
  assert.deepEqual(before.body, { status: 'active' })

  await q(`ALTER DATABASE "${db}" WITH ALLOW_CONNECTIONS false`)
  await q(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'electric_sync http' AND pid <> pg_backend_pid()`)

  // the pool-backed routes fail...
  await waitFor(async () => (await http(`${ELECTRIC_URL}/v1/metrics`, {}, 5_000)).status === 503, { timeout: 15_000, message: '/v1/metrics 503' })
  // ...and health says so
  const bad = await waitFor(async () => {
    const h = await health()
    return h.status === 503 && h
  }, { timeout: 15_000, message: '/v1/health 503 degraded' })
  assert.equal(bad.body.status, 'degraded')
  assert.equal(typeof bad.body.reason, 'string')
  assert.ok(bad.body.reason.length > 0)
  assert.match(bad.headers.get('content-type') || '', /application\/json/)
  assert.match(bad.headers.get('retry-after') || '', /^\d+$/)
  assert.match(bad.headers.get('cache-control') || '', /no-store/)

  await q(`ALTER DATABASE "${db}" WITH ALLOW_CONNECTIONS true`)
  const good = await waitFor(async () => {
    const h = await health()
    return h.status === 200 && h
  }, { timeout: 15_000, message: '/v1/health 200 again' })
  assert.deepEqual(good.body, { status: 'active' })
  assert.equal((await http(`${ELECTRIC_URL}/v1/metrics`, {}, 5_000)).status, 200)
})

test('health: pool connections the server closed while idle are replaced before a request uses them', { timeout: 60_000 }, async (t) => {
  // Warm every pool connection, then terminate them all while they sit idle: the next requests
  // on pool-backed routes must not fail (each closed connection used to fail one request, 503).
  await Promise.all(Array.from({ length: 16 }, () => http(`${ELECTRIC_URL}/v1/metrics`, {}, 5_000)))
  for (let round = 0; round < 3; round++) {
    const killed = await sql(`SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity
                                WHERE application_name = 'electric_sync http'`)
    assert.ok(Number(killed[0].n) >= 1, 'pool connections to terminate')
    await new Promise((r) => setTimeout(r, 300))
    const statuses = await Promise.all(Array.from({ length: 16 }, async () => (await http(`${ELECTRIC_URL}/v1/metrics`, {}, 5_000)).status))
    assert.deepEqual(statuses.filter((s) => s !== 200), [], `round ${round}: ${statuses.join(',')}`)
  }
})
