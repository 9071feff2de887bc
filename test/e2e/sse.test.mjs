// Live mode over Server-Sent Events (liveSse: true): the client uses SSE requests (not the
// long-poll fallback) and receives inserts, updates and deletes through them.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { setup, sql, closePool, waitUpToDate, waitForShapeRows, waitFor, recordingFetch, getShape, http, shapeUrl, TEST_TIMEOUT } from './lib.mjs'

after(closePool)

test('sse: live changes are delivered over an event stream', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('sse', 'id int PRIMARY KEY, title text')
  await sql(`INSERT INTO ${table} VALUES (1, 'a')`)
  const log = []
  const warnings = []
  const origWarn = console.warn
  console.warn = (...a) => {
    warnings.push(a.join(' '))
    origWarn(...a)
  }
  t.after(() => {
    console.warn = origWarn
  })
  const shape = ctx.shape({ table }, { liveSse: true, fetchClient: recordingFetch(log) })
  await waitForShapeRows(shape, `SELECT * FROM ${table}`)
  // wait until an SSE request is open
  await waitFor(() => log.some((e) => e.url.searchParams.get('live_sse') === 'true' && e.status === 200), {
    message: 'an SSE request to be answered with 200',
  })
  await sql(`INSERT INTO ${table} VALUES (2, 'b')`)
  await waitForShapeRows(shape, `SELECT * FROM ${table}`)
  await sql(`UPDATE ${table} SET title = 'aa' WHERE id = 1`)
  await sql(`DELETE FROM ${table} WHERE id = 2`)
  await sql(`INSERT INTO ${table} SELECT g, 'bulk' FROM generate_series(10, 60) g`)
  await waitForShapeRows(shape, `SELECT * FROM ${table}`)

  const sse = log.filter((e) => e.url.searchParams.get('live_sse') === 'true')
  assert.ok(sse.length >= 1)
  for (const e of sse) {
    assert.equal(e.url.searchParams.get('live'), 'true')
    if (e.status === 200) assert.match(e.contentType || '', /text\/event-stream/, `SSE response content-type: ${e.contentType}`)
  }
  const ok = sse.filter((e) => e.status === 200)
  assert.ok(ok.length >= 1, `SSE statuses: ${sse.map((e) => e.status)}`)
  for (const e of ok) {
    assert.ok(e.headers.get('electric-handle'), 'SSE response has electric-handle')
    assert.ok(e.headers.get('electric-offset'), 'SSE response has electric-offset')
    assert.ok(e.headers.get('electric-cursor') !== null, 'SSE response has electric-cursor')
  }
  // no long-poll live requests after SSE started = no fallback
  const firstSse = log.indexOf(sse[0])
  const longPolls = log.slice(firstSse).filter((e) => e.url.searchParams.get('live') === 'true' && e.url.searchParams.get('live_sse') !== 'true')
  assert.equal(longPolls.length, 0, `the client fell back to long polling: ${warnings.join(' | ')}`)
})

test('sse: raw event stream format (headers flushed, data: events, up-to-date ends a batch)', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('sseraw', 'id int PRIMARY KEY, title text')
  await sql(`INSERT INTO ${table} VALUES (1, 'a')`)
  // get to the end of the log
  let r = await getShape({ table, offset: '-1' })
  assert.equal(r.status, 200, r.text)
  let handle = r.headers.get('electric-handle')
  let offset = r.headers.get('electric-offset')
  for (let i = 0; i < 20; i++) {
    r = await getShape({ table, offset, handle })
    assert.equal(r.status, 200, r.text)
    offset = r.headers.get('electric-offset')
    if (r.body.at(-1)?.headers?.control === 'up-to-date') break
  }
  const ac = new AbortController()
  t.after(() => ac.abort())
  const timer = setTimeout(() => ac.abort(), 20_000)
  t.after(() => clearTimeout(timer))
  const t0 = Date.now()
  const res = await fetch(shapeUrl({ table, offset, handle, live: 'true', cursor: '', live_sse: 'true', experimental_live_sse: 'true' }), {
    headers: { accept: 'text/event-stream' },
    signal: ac.signal,
  })
  assert.ok(Date.now() - t0 < 2_000, 'SSE headers must be flushed immediately')
  assert.equal(res.status, 200)
  assert.match(res.headers.get('content-type'), /text\/event-stream/)
  assert.ok(res.headers.get('electric-handle'))
  assert.ok(res.headers.get('electric-offset'))
  assert.ok(res.headers.get('electric-cursor') !== null)
  const reader = res.body.getReader()
  const dec = new TextDecoder()
  let buf = ''
  const events = []
  const readUntil = async (pred) => {
    while (!pred()) {
      const { value, done } = await reader.read()
      if (done) throw new Error(`stream ended; got: ${buf}`)
      buf += dec.decode(value, { stream: true })
      let idx
      while ((idx = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, idx)
        buf = buf.slice(idx + 2)
        const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, '')).join('\n')
        if (data) events.push(JSON.parse(data))
      }
    }
  }
  await sql(`INSERT INTO ${table} VALUES (2, 'b')`)
  await readUntil(() => events.some((e) => e.headers?.control === 'up-to-date'))
  const ins = events.find((e) => e.headers?.operation === 'insert')
  assert.ok(ins, JSON.stringify(events))
  assert.deepEqual(ins.value, { id: '2', title: 'b' })
  const utd = events.find((e) => e.headers?.control === 'up-to-date')
  assert.match(utd.headers.global_last_seen_lsn, /^[0-9]+$/)
  ac.abort()
})

test('sse: live_sse without live=true is a 400', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('sse400', 'id int PRIMARY KEY')
  const r0 = await getShape({ table, offset: '-1' })
  assert.equal(r0.status, 200, r0.text)
  const r = await getShape({ table, offset: r0.headers.get('electric-offset'), handle: r0.headers.get('electric-handle'), live_sse: 'true' })
  assert.equal(r.status, 400, r.text)
  assert.ok(r.body?.errors?.live_sse, r.text)
  void http
})
