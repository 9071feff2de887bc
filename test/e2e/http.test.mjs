// Raw HTTP checks of /v1/shape with fetch: required headers, cache-control per request kind,
// etag + 304, CORS + OPTIONS preflight, parameter validation, HEAD, 409 on an unknown handle,
// long-poll timeout, unknown params ignored.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { setup, sql, closePool, getShape, syncRaw, http, shapeUrl, SHAPE_URL, ELECTRIC_URL, TEST_TIMEOUT } from './lib.mjs'

after(closePool)

const EXPOSE = ['electric-cursor', 'electric-handle', 'electric-has-data', 'electric-offset', 'electric-schema', 'electric-up-to-date']

async function smallTable(ctx, prefix = 'http') {
  const table = await ctx.table(prefix, 'id int PRIMARY KEY, title text')
  await sql(`INSERT INTO ${table} VALUES (1, 'a'), (2, 'b')`)
  return table
}

test('http: offset=-1 response has the required headers and week-long cache-control', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await smallTable(ctx)
  const r = await getShape({ table, offset: '-1' })
  assert.equal(r.status, 200, r.text)
  assert.match(r.headers.get('content-type'), /application\/json/)
  assert.ok(r.headers.get('electric-handle'), 'electric-handle')
  assert.match(r.headers.get('electric-offset') || '', /^(-1|[0-9]+_([0-9]+|inf))$/, 'electric-offset format')
  assert.ok(r.headers.get('electric-schema'), 'electric-schema')
  JSON.parse(r.headers.get('electric-schema'))
  assert.equal(r.headers.get('electric-cursor'), null, 'no cursor on non-live responses')
  assert.equal(r.headers.get('cache-control'), 'public, max-age=604800, s-maxage=3600, stale-while-revalidate=2629746')
  assert.ok(Array.isArray(r.body))
  assert.equal(r.body.filter((m) => m.headers?.operation === 'insert').length, 2)
})

test('http: offset=-1 is never marked up-to-date (it is cached for a week)', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await smallTable(ctx)
  const r = await getShape({ table, offset: '-1' })
  assert.equal(r.status, 200, r.text)
  assert.notEqual(r.body.at(-1)?.headers?.control, 'up-to-date', r.text)
  assert.equal(r.headers.get('electric-up-to-date'), null)
})

test('http: a non-live follow-up has the schema, up-to-date and non-live cache-control', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await smallTable(ctx)
  const { responses, offset, handle } = await syncRaw({ table })
  const last = responses.at(-1)
  assert.ok(responses.length >= 2)
  assert.ok(last.headers.get('electric-schema'))
  assert.equal(last.headers.get('electric-up-to-date') !== null, true, 'electric-up-to-date header with the up-to-date message')
  assert.match(last.headers.get('cache-control') || '', /^public, max-age=\d+, stale-while-revalidate=\d+$/)
  const utd = last.body.at(-1)
  assert.match(utd.headers.global_last_seen_lsn, /^[0-9]+$/)
  // requesting the final offset again (non-live) is an empty up-to-date
  const again = await getShape({ table, offset, handle })
  assert.equal(again.status, 200, again.text)
  assert.equal(again.body.at(-1)?.headers?.control, 'up-to-date')
  assert.equal(again.body.filter((m) => m.headers?.operation).length, 0)
  assert.equal(again.headers.get('electric-offset'), offset)
})

test('http: etag and 304 on If-None-Match', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await smallTable(ctx)
  const r = await getShape({ table, offset: '-1' })
  assert.equal(r.status, 200, r.text)
  const etag = r.headers.get('etag')
  assert.ok(etag, 'etag present')
  assert.match(etag, /^"[^"]+"$/, 'etag is a quoted string')
  const r2 = await getShape({ table, offset: '-1' }, { headers: { 'if-none-match': etag } })
  assert.equal(r2.status, 304, r2.text)
  assert.equal(r2.text, '')
  assert.equal(r2.headers.get('electric-handle'), r.headers.get('electric-handle'))
  const r3 = await getShape({ table, offset: '-1' }, { headers: { 'if-none-match': `"other", ${etag}` } })
  assert.equal(r3.status, 304, 'a list containing the etag also matches')
  const r4 = await getShape({ table, offset: '-1' }, { headers: { 'if-none-match': '"nope"' } })
  assert.equal(r4.status, 200)
})

test('http: CORS headers on responses and OPTIONS preflight 204', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await smallTable(ctx)
  const origin = 'http://example.test:8080'
  const r = await getShape({ table, offset: '-1' }, { headers: { origin } })
  assert.equal(r.status, 200)
  assert.equal(r.headers.get('access-control-allow-origin'), '*')
  const exposed = (r.headers.get('access-control-expose-headers') || '').toLowerCase().split(/\s*,\s*/)
  for (const h of EXPOSE) assert.ok(exposed.includes(h), `${h} exposed: ${exposed}`)

  const pre = await http(shapeUrl({ table, offset: '-1' }), {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'if-none-match, x-custom' },
  })
  assert.equal(pre.status, 204, await pre.text())
  assert.equal(pre.headers.get('access-control-allow-origin'), '*')
  assert.equal(pre.headers.get('access-control-max-age'), '86400')
  const methods = (pre.headers.get('access-control-allow-methods') || '').toUpperCase()
  for (const m of ['GET', 'POST', 'HEAD', 'DELETE', 'OPTIONS']) assert.ok(methods.includes(m), `allow-methods ${methods} has ${m}`)
  const ah = (pre.headers.get('access-control-allow-headers') || '').toLowerCase()
  assert.ok(ah.includes('if-none-match'), `allow-headers: ${ah}`)
  assert.ok(!ah.includes('x-custom'), `allow-headers must be filtered: ${ah}`)

  const errResp = await getShape({ table: 'nope_' + table, offset: '-1' }, { headers: { origin } })
  assert.equal(errResp.status, 400)
  assert.ok(errResp.headers.get('access-control-allow-origin'), 'CORS headers on errors too')
})

test('http: the write path, enrollment and authorized shapes answer CORS preflights without authentication', { timeout: TEST_TIMEOUT }, async (t) => {
  const origin = 'http://example.test:8080'
  const ask = 'authorization, content-type, oversync-source-id'
  for (const path of ['/sync/push-sessions', '/sync/pull?after_bundle_seq=0', '/sync/connect', '/v1/enroll', '/v1/shape?table=x']) {
    const pre = await http(`${ELECTRIC_URL}${path}`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': ask },
    })
    assert.equal(pre.status, 204, `${path}: ${await pre.text()}`)
    assert.equal(pre.headers.get('access-control-allow-origin'), '*', path)
    const ah = (pre.headers.get('access-control-allow-headers') || '').toLowerCase()
    for (const h of ['authorization', 'content-type', 'oversync-source-id']) assert.ok(ah.includes(h), `${path} allow-headers ${ah} has ${h}`)
    assert.ok((pre.headers.get('access-control-allow-methods') || '').includes('POST'), path)
    assert.match(pre.headers.get('vary') || '', /access-control-request-headers/i, path)
  }
  // Answers to a browser carry "*", never the echoed Origin (which would need Vary: Origin in
  // every shared cache).
  const denied = await http(`${ELECTRIC_URL}/sync/pull?after_bundle_seq=0`, { headers: { origin } })
  assert.equal(denied.status, 401)
  assert.equal(denied.headers.get('access-control-allow-origin'), '*')
})

test('http: live=true with offset=-1 is a 400', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await smallTable(ctx)
  const r = await getShape({ table, offset: '-1', live: 'true' })
  assert.equal(r.status, 400, r.text)
  assert.ok(r.body?.errors?.live, r.text)
  const r2 = await getShape({ table, offset: 'now', live: 'true' })
  assert.equal(r2.status, 400, r2.text)
})

test('http: a real offset without handle is a 400; bad offsets are 400', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await smallTable(ctx)
  const r = await getShape({ table, offset: '0_0' })
  assert.equal(r.status, 400, r.text)
  assert.ok(r.body?.errors?.handle, r.text)
  const h = (await getShape({ table, offset: '-1' })).headers.get('electric-handle')
  for (const bad of ['abc', '1_', '_1', '1-2', '-2', '1_2_3', 'x_inf', '']) {
    const b = await getShape({ table, offset: bad, handle: h })
    assert.equal(b.status, 400, `offset=${bad}: ${b.status} ${b.text}`)
    assert.ok(b.body?.errors?.offset, `offset=${bad}: ${b.text}`)
  }
})

test('http: a handle is ignored with offset=-1', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await smallTable(ctx)
  const a = await getShape({ table, offset: '-1' })
  const b = await getShape({ table, offset: '-1', handle: 'garbage-handle' })
  assert.equal(b.status, 200, b.text)
  assert.equal(b.headers.get('electric-handle'), a.headers.get('electric-handle'))
})

test('http: HEAD returns the GET headers without a body', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await smallTable(ctx)
  const g = await getShape({ table, offset: '-1' })
  const h = await http(shapeUrl({ table, offset: '-1' }), { method: 'HEAD' })
  assert.equal(h.status, 200)
  assert.equal(await h.text(), '')
  assert.equal(h.headers.get('electric-handle'), g.headers.get('electric-handle'))
  assert.equal(h.headers.get('electric-offset'), g.headers.get('electric-offset'))
  assert.ok(h.headers.get('electric-schema'))
})

test('http: unknown handle with a real offset -> 409 must-refetch with the current handle', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await smallTable(ctx)
  const a = await getShape({ table, offset: '-1' })
  const r = await getShape({ table, offset: a.headers.get('electric-offset'), handle: 'unknown-handle-1' })
  assert.equal(r.status, 409, r.text)
  assert.deepEqual(r.body, [{ headers: { control: 'must-refetch' } }])
  assert.match(r.headers.get('content-type') || '', /application\/json/)
  assert.equal(r.headers.get('electric-handle'), a.headers.get('electric-handle'))
  assert.equal(r.headers.get('electric-offset'), null)
  assert.match(r.headers.get('cache-control') || '', /must-revalidate/)
})

test('http: live long-poll returns up-to-date with a cursor after the timeout', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await smallTable(ctx)
  const { offset, handle } = await syncRaw({ table })
  const t0 = Date.now()
  const r = await getShape({ table, offset, handle, live: 'true', cursor: '' }, {}, 15_000)
  const held = Date.now() - t0
  assert.equal(r.status, 200, r.text)
  assert.ok(held >= 2_000, `long-poll held only ${held} ms (long_poll_timeout is 4 s)`)
  assert.ok(held < 12_000, `long-poll held ${held} ms`)
  assert.deepEqual(r.body.map((m) => m.headers.control), ['up-to-date'])
  assert.equal(r.headers.get('electric-offset'), offset)
  const cursor = r.headers.get('electric-cursor')
  assert.match(cursor || '', /^[0-9]+$/, `electric-cursor: ${cursor}`)
  assert.ok(r.headers.get('electric-handle'))
  assert.equal(r.headers.get('electric-schema'), null, 'no schema on live responses')
  assert.match(r.headers.get('cache-control') || '', /^public, max-age=5, stale-while-revalidate=5$/)
  // an echoed cursor gets a strictly larger one back
  const r2 = await getShape({ table, offset, handle, live: 'true', cursor }, {}, 15_000)
  assert.equal(r2.status, 200)
  assert.ok(BigInt(r2.headers.get('electric-cursor')) > BigInt(cursor), 'cursor increases when echoed')
})

test('http: a live request answers as soon as a change commits', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await smallTable(ctx)
  const { offset, handle } = await syncRaw({ table })
  const p = getShape({ table, offset, handle, live: 'true', cursor: '' }, {}, 15_000)
  await new Promise((r) => setTimeout(r, 300))
  const t0 = Date.now()
  await sql(`INSERT INTO ${table} VALUES (3, 'c')`)
  const r = await p
  const took = Date.now() - t0
  assert.equal(r.status, 200, r.text)
  assert.ok(took < 3_000, `took ${took} ms after the commit`)
  const ins = r.body.filter((m) => m.headers?.operation === 'insert')
  assert.deepEqual(ins.map((m) => m.value), [{ id: '3', title: 'c' }])
  assert.equal(r.body.at(-1).headers.control, 'up-to-date')
  assert.ok(r.headers.get('electric-cursor'))
  assert.notEqual(r.headers.get('electric-offset'), offset)
})

test('http: unknown query params are ignored; log=full accepted', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await smallTable(ctx)
  const a = await getShape({ table, offset: '-1' })
  const b = await getShape({ table, offset: '-1', log: 'full', source_id: 'x', 'cache-buster': '123-abc', expired_handle: 'old', foo: 'bar' })
  assert.equal(b.status, 200, b.text)
  assert.equal(b.headers.get('electric-handle'), a.headers.get('electric-handle'))
})

test('http: same definition -> same handle; params are part of it', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await smallTable(ctx)
  const a = await getShape({ table, offset: '-1', where: 'id = $1', 'params[1]': '1' })
  const b = await getShape({ table, offset: '-1', where: 'id = $1', 'params[1]': '1' })
  const c = await getShape({ table, offset: '-1', where: 'id = $1', 'params[1]': '2' })
  assert.equal(a.status, 200, a.text)
  assert.equal(a.headers.get('electric-handle'), b.headers.get('electric-handle'))
  assert.notEqual(a.headers.get('electric-handle'), c.headers.get('electric-handle'))
  assert.deepEqual(a.body.filter((m) => m.value).map((m) => m.value.id), ['1'])
  assert.deepEqual(c.body.filter((m) => m.value).map((m) => m.value.id), ['2'])
})

test('http: DELETE /v1/shape and POST answer with cache-control no-cache; electric-server header', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await smallTable(ctx)
  const a = await getShape({ table, offset: '-1' })
  assert.match(a.headers.get('electric-server') || '', /.+/, 'electric-server header')
  const d = await http(shapeUrl({ table, handle: a.headers.get('electric-handle') }), { method: 'DELETE' })
  assert.equal(d.status, 202, await d.text())
  assert.equal(d.headers.get('cache-control'), 'no-cache')
  void SHAPE_URL
})

test('http: any <int>_<int> offset is accepted and serves the entries strictly after it', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await smallTable(ctx)
  const { offset, handle } = await syncRaw({ table })
  const p = getShape({ table, offset, handle, live: 'true', cursor: '' }, {}, 15_000)
  await new Promise((r) => setTimeout(r, 200))
  await sql(`INSERT INTO ${table} VALUES (10, 'x'), (11, 'y')`)
  const r = await p
  assert.equal(r.status, 200, r.text)
  const ins = r.body.filter((m) => m.headers?.operation === 'insert')
  assert.equal(ins.length, 2, r.text)
  const lsn = BigInt(ins[0].headers.lsn)
  // just before the transaction: both rows
  const before = await getShape({ table, offset: `${lsn - 1n}_0`, handle })
  assert.equal(before.status, 200, before.text)
  assert.deepEqual(before.body.filter((m) => m.value).map((m) => m.value.id), ['10', '11'])
  // at the transaction's commit lsn, after the first op: only the second row
  const endOf = r.headers.get('electric-offset')
  assert.match(endOf, /^[0-9]+_[0-9]+$/)
  const firstOp = `${lsn}_${ins[0].headers.op_position}`
  const mid = await getShape({ table, offset: firstOp, handle })
  assert.equal(mid.status, 200, mid.text)
  assert.deepEqual(mid.body.filter((m) => m.value).map((m) => m.value.id), ['11'], `offset ${firstOp}: ${mid.text}`)
  // at the end: nothing, up-to-date
  const end = await getShape({ table, offset: endOf, handle })
  assert.equal(end.status, 200)
  assert.equal(end.body.filter((m) => m.value).length, 0)
})

test('http: an offset beyond the end of the shape is a 400 out of bounds', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await smallTable(ctx)
  const { offset, handle } = await syncRaw({ table })
  const [tx] = offset.split('_')
  const far = `${BigInt(tx === '0' ? '1' : tx) + 10n ** 12n}_0`
  const t0 = Date.now()
  const r = await getShape({ table, offset: far, handle }, {}, 15_000)
  assert.equal(r.status, 400, `offset=${far}: ${r.status} ${r.text}`)
  assert.ok(r.body?.errors?.offset, r.text)
  assert.ok(Date.now() - t0 < 10_000)
})

test('http: non-live responses never carry electric-cursor; live ones always do', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await smallTable(ctx)
  const { responses, offset, handle } = await syncRaw({ table })
  for (const r of responses) assert.equal(r.headers.get('electric-cursor'), null, 'cursor on a non-live response')
  const p = getShape({ table, offset, handle, live: 'true', cursor: '' }, {}, 15_000)
  await new Promise((r) => setTimeout(r, 200))
  await sql(`INSERT INTO ${table} VALUES (5, 'e')`)
  const live = await p
  assert.equal(live.status, 200)
  assert.match(live.headers.get('electric-cursor') || '', /^[0-9]+$/)
})
