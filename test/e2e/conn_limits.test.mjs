// HTTP transport limits (electric_sync.http_header_timeout, http_idle_timeout,
// http_max_connections): a slowloris request is answered 408 and closed after the header
// timeout; a connection that sends nothing is closed quietly; an idle keep-alive connection is
// closed after the idle timeout, but a long-poll waiting longer than it is not; above the cap new
// connections get 503 + retry-after + JSON and are closed, a live shape stream opened before the
// flood still gets its changes, and /v1/health answers again once the flood ends.
// The settings are changed with ALTER SYSTEM + pg_reload_conf() and reset at the end.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { setup, sql, closePool, waitFor, waitForShapeRows, http, ELECTRIC_URL, SHAPE_URL, sleep } from './lib.mjs'

const { hostname: HOST, port: PORT } = new URL(ELECTRIC_URL)

async function metrics() {
  const res = await http(`${ELECTRIC_URL}/v1/metrics`, {}, 5_000)
  if (res.status !== 200) return null
  return (await res.json()).http
}

/** ALTER SYSTEM SET each setting (or RESET for null), reload, and wait until the worker uses them. */
async function configure({ header, idle, max }) {
  const set = (name, v) => (v === null ? `ALTER SYSTEM RESET electric_sync.${name}` : `ALTER SYSTEM SET electric_sync.${name} = ${v}`)
  await sql(set('http_header_timeout', header))
  await sql(set('http_idle_timeout', idle))
  await sql(set('http_max_connections', max))
  await sql('SELECT pg_reload_conf()')
  const want = { header: header ?? 30000, idle: idle ?? 60000, max: max ?? 10000 }
  await waitFor(
    async () => {
      const m = await metrics().catch(() => null)
      // the cap in force is min(setting, descriptor budget)
      return m && m.header_timeout_ms === want.header && m.idle_timeout_ms === want.idle &&
        (want.max >= 10000 ? m.max_connections >= 32 : m.max_connections === want.max)
    },
    { timeout: 10_000, message: `settings ${JSON.stringify(want)} in force` },
  )
}

after(async () => {
  await configure({ header: null, idle: null, max: null }).catch(() => {})
  await closePool()
})

/** A raw TCP connection that records what it receives and when it closes. */
function rawConn() {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: HOST, port: Number(PORT) })
    const c = { socket: s, data: '', closedAt: null, openedAt: Date.now(), error: null }
    c.closed = new Promise((res) => s.on('close', () => { c.closedAt = Date.now(); res() }))
    s.setEncoding('latin1')
    s.on('data', (d) => { c.data += d })
    s.on('error', (e) => { c.error = e })
    s.once('connect', () => resolve(c))
    s.once('error', reject)
  })
}

const within = (p, ms) => Promise.race([p.then(() => true), sleep(ms).then(() => false)])

test('slowloris: headers trickled in get 408 + JSON and the connection is closed after the header timeout', { timeout: 30_000 }, async () => {
  await configure({ header: 1500, idle: 1000, max: null })
  const c = await rawConn()
  c.socket.write('GET /v1/health HTTP/1.1\r\nhost: x\r\n')
  const trickle = setInterval(() => { if (!c.socket.destroyed) c.socket.write(`x-slow-${Date.now()}: 1\r\n`) }, 200)
  try {
    assert.ok(await within(c.closed, 6_000), 'a trickling request was not cut off within 6 s (header timeout 1.5 s)')
  } finally {
    clearInterval(trickle)
    c.socket.destroy()
  }
  const took = c.closedAt - c.openedAt
  assert.ok(took >= 1_300, `closed after ${took} ms, before the header timeout`)
  assert.match(c.data, /^HTTP\/1\.1 408 /, `answer: ${JSON.stringify(c.data.slice(0, 200))}`)
  assert.match(c.data, /content-type: application\/json/i)
  assert.match(c.data, /connection: close/i)
  const body = JSON.parse(c.data.slice(c.data.indexOf('\r\n\r\n') + 4))
  assert.equal(typeof body.message, 'string')

  // a slow body counts as well: head complete, body never finished
  const b = await rawConn()
  b.socket.write('POST /v1/shape?table=x HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{')
  const trickle2 = setInterval(() => { if (!b.socket.destroyed) b.socket.write(' ') }, 200)
  try {
    assert.ok(await within(b.closed, 6_000), 'a trickling body was not cut off')
  } finally {
    clearInterval(trickle2)
    b.socket.destroy()
  }
  assert.match(b.data, /^HTTP\/1\.1 408 /)

  // a connection that never sends anything is closed quietly
  const q = await rawConn()
  try {
    assert.ok(await within(q.closed, 6_000), 'a silent connection was not closed')
  } finally {
    q.socket.destroy()
  }
  assert.equal(q.data, '')
  assert.ok(q.closedAt - q.openedAt >= 1_300)
})

test('keep-alive: an idle connection is closed after the idle timeout; a long-poll longer than it is not', { timeout: 30_000 }, async (t) => {
  await configure({ header: 1500, idle: 1000, max: null })
  const c = await rawConn()
  c.socket.write('GET /v1/health HTTP/1.1\r\nhost: x\r\n\r\n')
  await waitFor(() => c.data.includes('{"status":"active"}'), { timeout: 5_000, message: 'the health answer' })
  const answered = Date.now()
  try {
    assert.ok(await within(c.closed, 5_000), 'an idle keep-alive connection stayed open (idle timeout 1 s)')
  } finally {
    c.socket.destroy()
  }
  const idle = c.closedAt - answered
  assert.ok(idle >= 800, `closed ${idle} ms after the answer, before the idle timeout`)
  assert.equal(c.data.match(/HTTP\/1\.1/g).length, 1, 'nothing is sent on an idle close')

  // A live long-poll (long_poll_timeout 4 s in the test cluster) outlives both timeouts, then a
  // second request on the same connection works.
  const ctx = setup(t)
  const table = await ctx.table('cl', 'id int PRIMARY KEY')
  const first = await http(`${SHAPE_URL}?table=${table}&offset=-1`)
  assert.equal(first.status, 200)
  await first.text()
  const handle = first.headers.get('electric-handle')
  const offset = first.headers.get('electric-offset')
  const l = await rawConn()
  const req = `GET /v1/shape?table=${table}&offset=${offset}&handle=${handle}&live=true HTTP/1.1\r\nhost: x\r\n\r\n`
  const t0 = Date.now()
  l.socket.write(req)
  try {
    await waitFor(() => /\r\n\r\n\[/.test(l.data) || l.closedAt, { timeout: 10_000, message: 'the long-poll answer' })
    assert.equal(l.closedAt, null, `the long-poll connection was closed after ${Date.now() - t0} ms: ${JSON.stringify(l.data.slice(0, 200))}`)
    assert.match(l.data, /^HTTP\/1\.1 200 /)
    assert.ok(Date.now() - t0 >= 3_000, 'the long-poll was answered early')
    assert.match(l.data, /up-to-date/)
  } finally {
    l.socket.destroy()
  }
})

test('connection cap: 503 + retry-after over it, live delivery of an open stream continues, health answers after the flood', { timeout: 60_000 }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('cl', 'id int PRIMARY KEY, v text')
  await sql(`INSERT INTO ${table} VALUES (1, 'a')`)
  await configure({ header: 20000, idle: 20000, max: 40 })
  // an unrelated shape, live before the flood (its keep-alive connection is already held)
  const shape = ctx.shape({ table })
  await waitForShapeRows(shape, `SELECT * FROM ${table}`)

  const flood = []
  t.after(() => { for (const c of flood) c.socket.destroy() })
  const probe = async () => {
    const c = await rawConn()
    flood.push(c)
    c.socket.write('GET /v1/health HTTP/1.1\r\nhost: x\r\n\r\n')
    await waitFor(() => c.data.includes('\r\n\r\n{') || c.closedAt, { timeout: 5_000, message: 'an answer' })
    await within(c.closed, 1_000)
    return c
  }
  // fill up to the cap with silent connections, then some more
  for (let i = 0; i < 60; i++) flood.push(await rawConn())
  let rejected
  await waitFor(async () => {
    const c = await probe()
    if (c.data.startsWith('HTTP/1.1 503')) rejected = c
    return rejected
  }, { timeout: 10_000, message: 'a 503 once the cap is reached' })
  assert.match(rejected.data, /retry-after: \d+/i)
  assert.match(rejected.data, /content-type: application\/json/i)
  const body = JSON.parse(rejected.data.slice(rejected.data.indexOf('\r\n\r\n') + 4))
  assert.equal(typeof body.message, 'string')
  assert.ok(rejected.closedAt, 'a rejected connection is closed')
  for (let i = 0; i < 5; i++) assert.match((await probe()).data, /^HTTP\/1\.1 503 /, 'still over the cap')

  // during the flood: the open stream still gets live changes
  await sql(`INSERT INTO ${table} VALUES (2, 'b')`)
  await waitForShapeRows(shape, `SELECT * FROM ${table}`, [], { timeout: 15_000 })

  // the flood ends: health answers again (the server never stopped accepting)
  for (const c of flood) c.socket.destroy()
  await waitFor(async () => (await http(`${ELECTRIC_URL}/v1/health`, {}, 2_000).catch(() => ({ status: 0 }))).status === 200,
    { timeout: 10_000, message: '/v1/health 200 after the flood' })
  const m = await metrics()
  assert.ok(m.rejected_connections >= 6, `rejected_connections ${m.rejected_connections}`)
})

test('framing: an empty chunked body whose last chunk arrives in pieces is answered (it aborted the worker)', { timeout: 30_000 }, async () => {
  const pidOf = async () => (await sql('SELECT pid FROM electric_sync.worker_status'))[0].pid
  const pid = await pidOf()
  const c = await rawConn()
  c.socket.setNoDelay(true)
  try {
    c.socket.write('POST /v1/health HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n0\r\n')
    await sleep(150)
    c.socket.write('\r')
    await sleep(150)
    c.socket.write('\n')
    await waitFor(() => c.data.includes('\r\n\r\n{') || c.closedAt, { timeout: 5_000, message: 'an answer' })
    assert.match(c.data, /^HTTP\/1\.1 200 /, `answer: ${JSON.stringify(c.data.slice(0, 120))}`)
  } finally {
    c.socket.destroy()
  }
  assert.equal((await http(`${ELECTRIC_URL}/v1/health`)).status, 200)
  assert.equal(await pidOf(), pid, 'the worker restarted')
})
