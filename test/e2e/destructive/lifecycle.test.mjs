// Worker lifecycle, run LAST (destructive): /v1/health, 404 for unknown paths, DROP/CREATE
// EXTENSION, kill -9 of the worker, and a fast shutdown with requests in flight.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { ELECTRIC_URL, ES_TEST_DIR, ES_PG_BIN, sqlOnce, closePool, waitFor, http, getShape, sleep, uniqueName } from '../lib.mjs'

after(closePool)

const HEALTH = `${ELECTRIC_URL}/v1/health`

async function health(timeout = 3_000) {
  try {
    const res = await http(HEALTH, {}, timeout)
    const text = await res.text()
    let body = null
    try {
      body = JSON.parse(text)
    } catch {}
    return { status: res.status, body, text, headers: res.headers }
  } catch (e) {
    return { status: 0, error: e }
  }
}

async function waitHealth(status, timeout, label) {
  let last
  await waitFor(
    async () => {
      last = await health()
      return last.status === status
    },
    { timeout, interval: 100, message: `${label}: health ${status} (last: ${last?.status} ${last?.text ?? last?.error?.message ?? ''})` },
  )
  return last
}

// Errors that mean "the server is (re)starting": retry those, report anything else at once.
function isConnectionError(e) {
  const code = String(e?.code || '')
  return /^(ECONN|EPIPE|ETIMEDOUT)/.test(code) || code.startsWith('08') || ['57P01', '57P02', '57P03'].includes(code) ||
    /Connection terminated|timeout expired|the database system is/i.test(String(e?.message))
}

/** SQL that tolerates the cluster restarting: retries the connection for up to `timeout` ms. */
async function sqlRetry(text, params = [], timeout = 30_000) {
  let lastErr
  const deadline = Date.now() + timeout
  while (Date.now() < deadline) {
    try {
      return await sqlOnce(text, params)
    } catch (e) {
      if (!isConnectionError(e)) throw e
      lastErr = e
      await sleep(200)
    }
  }
  throw lastErr
}

async function ensureExtension() {
  await sqlRetry('CREATE EXTENSION IF NOT EXISTS electric_sync')
  await sqlRetry('ALTER EXTENSION electric_sync UPDATE')
  await waitHealth(200, 30_000, 'ensure extension')
}

const DATA = ES_TEST_DIR ? `${ES_TEST_DIR}/data` : ''
const LOG = ES_TEST_DIR ? `${ES_TEST_DIR}/postgres.log` : ''
const clusterKnown = DATA && existsSync(`${DATA}/PG_VERSION`)

function pgctl(args) {
  // Postgres refuses to run as root: run pg_ctl as the postgres OS user.
  const cmd = `${ES_PG_BIN}/pg_ctl ${args}`
  if (process.getuid && process.getuid() === 0) {
    return execFileSync('su', ['postgres', '-s', '/bin/sh', '-c', cmd], { encoding: 'utf8', timeout: 90_000 })
  }
  return execFileSync('/bin/sh', ['-c', cmd], { encoding: 'utf8', timeout: 90_000 })
}

function clusterRunning() {
  try {
    pgctl(`-D '${DATA}' status`)
    return true
  } catch {
    return false
  }
}

async function ensureRunning() {
  if (clusterKnown && !clusterRunning()) {
    pgctl(`-D '${DATA}' -l '${LOG}' -w -t 60 start`)
  }
  await ensureExtension()
}

test('health: 200 {"status":"active"} with no-cache headers', { timeout: 30_000 }, async () => {
  const h = await waitHealth(200, 20_000, 'initial')
  assert.deepEqual(h.body, { status: 'active' })
  assert.equal(h.headers.get('cache-control'), 'no-cache, no-store, must-revalidate')
  assert.match(h.headers.get('content-type') || '', /application\/json/)
})

test('unknown path -> 404 with a JSON body', { timeout: 30_000 }, async () => {
  for (const path of ['/nope', '/v1/shapes', '/v2/shape', '/v1/health/extra']) {
    const res = await http(`${ELECTRIC_URL}${path}`)
    const text = await res.text()
    assert.equal(res.status, 404, `${path}: ${res.status} ${text}`)
    assert.match(res.headers.get('content-type') || '', /application\/json/, path)
    JSON.parse(text)
  }
})

test('DROP EXTENSION -> health 202 starting and slot dropped; CREATE EXTENSION -> 200 and slot back', { timeout: 60_000 }, async (t) => {
  t.after(() => ensureExtension())
  const st = await sqlRetry('SELECT slot_name FROM electric_sync.worker_status')
  const slot = st[0]?.slot_name || 'electric_sync'
  assert.equal((await sqlRetry('SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name = $1', [slot]))[0].n, 1, 'slot exists while active')

  await sqlRetry('DROP EXTENSION electric_sync')
  const h = await waitHealth(202, 10_000, 'after DROP EXTENSION')
  assert.deepEqual(h.body, { status: 'starting' })
  assert.equal(h.headers.get('cache-control'), 'no-cache, no-store, must-revalidate')
  await waitFor(async () => (await sqlRetry('SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name = $1', [slot]))[0].n === 0, {
    timeout: 10_000,
    message: `slot ${slot} to be dropped`,
  })
  // the shape API is not served while inactive, and never with a 5xx that hides the reason
  const r = await getShape({ table: 'whatever', offset: '-1' })
  assert.notEqual(r.status, 200)

  await sqlRetry('CREATE EXTENSION electric_sync')
  await waitHealth(200, 15_000, 'after CREATE EXTENSION')
  await waitFor(async () => (await sqlRetry('SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name = $1', [slot]))[0].n === 1, {
    timeout: 10_000,
    message: `slot ${slot} to be re-created`,
  })
})

test('an older extension version: the worker waits (202, last_error says ALTER EXTENSION UPDATE), then serves after the update', { timeout: 60_000 }, async (t) => {
  t.after(() => ensureExtension())
  await sqlRetry('DROP EXTENSION electric_sync')
  await waitHealth(202, 10_000, 'after DROP EXTENSION')
  await sqlRetry("CREATE EXTENSION electric_sync VERSION '0.1.0'")
  await waitFor(async () => /ALTER EXTENSION electric_sync UPDATE/.test((await sqlRetry('SELECT last_error FROM electric_sync.worker_status'))[0]?.last_error ?? ''), {
    timeout: 10_000,
    message: 'worker_status.last_error asking for ALTER EXTENSION electric_sync UPDATE',
  })
  const h = await health()
  assert.equal(h.status, 202, 'not serving with the old SQL objects')
  await sqlRetry('ALTER EXTENSION electric_sync UPDATE')
  await waitHealth(200, 15_000, 'after ALTER EXTENSION UPDATE')
  const [{ extversion }] = await sqlRetry("SELECT extversion FROM pg_extension WHERE extname = 'electric_sync'")
  assert.notEqual(extversion, '0.1.0')
})

test('shapes work again after DROP/CREATE EXTENSION', { timeout: 60_000 }, async (t) => {
  await ensureExtension()
  const table = uniqueName('life')
  await sqlRetry(`CREATE TABLE ${table} (id int PRIMARY KEY)`)
  t.after(() => sqlRetry(`DROP TABLE IF EXISTS ${table}`))
  await sqlRetry(`INSERT INTO ${table} VALUES (1)`)
  // a fresh table right after the worker came back: its row is served, not a 409 or a stale body
  const r = await getShape({ table, offset: '-1' })
  assert.equal(r.status, 200, r.text)
  assert.deepEqual(r.body.filter((m) => m.value).map((m) => m.value), [{ id: '1' }], r.text)
})

test('kill -9 of the worker: cluster recovers, health 200 within 30 s with a new pid', { timeout: 90_000 }, async (t) => {
  t.after(() => ensureRunning())
  await ensureExtension()
  const before = (await sqlRetry('SELECT pid FROM electric_sync.worker_status'))[0]?.pid
  assert.ok(before, 'worker pid known')
  process.kill(Number(before), 'SIGKILL')
  // it must go down (or at least change pid) and come back
  const t0 = Date.now()
  let after
  await waitFor(
    async () => {
      const h = await health(2_000)
      if (h.status !== 200) return false
      const rows = await sqlOnce('SELECT pid FROM electric_sync.worker_status').catch(() => [])
      after = rows[0]?.pid
      return after && Number(after) !== Number(before)
    },
    { timeout: 30_000, interval: 200, message: 'health 200 with a new worker pid' },
  )
  assert.ok(Date.now() - t0 < 30_000)
  assert.notEqual(Number(after), Number(before))
})

test('pg_ctl stop -m fast with ~50 requests in flight takes < 2 s; restart brings health back', { timeout: 120_000, skip: !clusterKnown && 'ES_TEST_DIR not set' }, async (t) => {
  t.after(() => ensureRunning())
  await ensureExtension()
  const table = uniqueName('stop')
  await sqlRetry(`CREATE TABLE ${table} (id int PRIMARY KEY)`)
  await sqlRetry(`INSERT INTO ${table} VALUES (1)`)

  // Prefer live long-polls (held requests); fall back to repeated health requests.
  let live = null
  try {
    let r = await getShape({ table, offset: '-1' })
    if (r.status === 200) {
      const handle = r.headers.get('electric-handle')
      let offset = r.headers.get('electric-offset')
      for (let i = 0; i < 10; i++) {
        r = await getShape({ table, offset, handle })
        if (r.status !== 200) break
        offset = r.headers.get('electric-offset')
        if (r.body.at(-1)?.headers?.control === 'up-to-date') {
          live = { handle, offset }
          break
        }
      }
    }
  } catch {}

  const ac = new AbortController()
  t.after(() => ac.abort())
  let stop = false
  const inflight = []
  if (live) {
    const u = new URL(`${ELECTRIC_URL}/v1/shape`)
    Object.entries({ table, offset: live.offset, handle: live.handle, live: 'true', cursor: '' }).forEach(([k, v]) => u.searchParams.set(k, v))
    for (let i = 0; i < 50; i++) {
      u.searchParams.set('cache-buster', String(i))
      inflight.push(fetch(u.toString(), { signal: ac.signal }).then((r) => r.text()).catch(() => {}))
    }
  } else {
    for (let i = 0; i < 50; i++) {
      inflight.push(
        (async () => {
          while (!stop) await fetch(HEALTH, { signal: ac.signal }).then((r) => r.text()).catch(() => sleep(10))
        })(),
      )
    }
  }
  await sleep(500)

  const t0 = process.hrtime.bigint()
  pgctl(`-D '${DATA}' -m fast -w -t 60 stop`)
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  stop = true
  ac.abort()
  await Promise.race([Promise.allSettled(inflight), sleep(5_000)])

  // start again, whatever the measurement
  pgctl(`-D '${DATA}' -l '${LOG}' -w -t 60 start`)
  await waitHealth(200, 60_000, 'after restart')
  await sqlRetry(`DROP TABLE IF EXISTS ${table}`)
  assert.ok(ms < 2_000, `pg_ctl stop -m fast took ${ms.toFixed(0)} ms with ${live ? '50 live long-polls' : '50 health loops'} in flight`)
  t.diagnostic(`pg_ctl stop -m fast took ${ms.toFixed(0)} ms (${live ? 'live long-polls' : 'health loops'})`)
})
