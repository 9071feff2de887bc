// log=changes_only: no initial snapshot, only later changes; subset snapshots loaded on demand
// with stream.requestSnapshot (injected into the stream) and stream.fetchSnapshot (returned),
// over GET and POST; offset=now.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { setup, sql, closePool, waitUpToDate, waitForMessage, waitForShapeRows, waitFor, normRows, changes, getShape, http, shapeUrl, TEST_TIMEOUT } from './lib.mjs'

after(closePool)

async function table(ctx, prefix) {
  const t = await ctx.table(prefix, 'id int PRIMARY KEY, priority text NOT NULL, title text')
  await sql(`INSERT INTO ${t} SELECT g, CASE WHEN g % 4 = 0 THEN 'high' ELSE 'low' END, 't' || g FROM generate_series(1, 40) g`)
  return t
}

test('changes_only: no snapshot rows, later changes arrive', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const tbl = await table(ctx, 'co')
  const stream = ctx.stream({ params: { table: tbl }, log: 'changes_only' })
  const got = ctx.collect(stream)
  await waitUpToDate(stream)
  assert.equal(changes(got.messages).length, 0, 'no snapshot in changes_only mode')
  await sql(`INSERT INTO ${tbl} VALUES (100, 'high', 'new')`)
  const m = await waitForMessage(got, (x) => x.headers?.operation === 'insert', { stream, message: 'the insert' })
  assert.deepEqual(m.value, { id: 100, priority: 'high', title: 'new' })
})

test('changes_only: log mode is part of the shape identity', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const tbl = await table(ctx, 'co_id')
  const a = await getShape({ table: tbl, offset: '-1', log: 'full' })
  const b = await getShape({ table: tbl, offset: '-1', log: 'changes_only' })
  assert.equal(a.status, 200, a.text)
  assert.equal(b.status, 200, b.text)
  assert.notEqual(a.headers.get('electric-handle'), b.headers.get('electric-handle'))
  assert.ok(!b.body.some((m) => m.headers?.operation), `changes_only offset=-1 returned rows: ${b.text.slice(0, 200)}`)
})

test('changes_only: Shape.requestSnapshot loads a subset, then live changes apply', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const tbl = await table(ctx, 'co_req')
  const shape = ctx.shape({ table: tbl }, { log: 'changes_only' })
  await waitUpToDate(shape)
  assert.deepEqual(shape.currentRows, [])

  await shape.requestSnapshot({ where: `priority = 'high'`, orderBy: 'id', limit: 100 })
  await waitForShapeRows(shape, `SELECT * FROM ${tbl} WHERE priority = 'high'`)

  // live changes: updates/deletes to loaded rows apply, inserts appear
  await sql(`UPDATE ${tbl} SET title = 'changed' WHERE id = 4`)
  await sql(`DELETE FROM ${tbl} WHERE id = 8`)
  await sql(`INSERT INTO ${tbl} VALUES (200, 'high', 'n')`)
  await waitForShapeRows(shape, `SELECT * FROM ${tbl} WHERE priority = 'high'`)
})

test('changes_only: stream.requestSnapshot with params, limit and order (GET and POST)', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const tbl = await table(ctx, 'co_req2')
  for (const method of ['GET', 'POST']) {
    const stream = ctx.stream({ params: { table: tbl }, log: 'changes_only', subsetMethod: method })
    const got = ctx.collect(stream)
    await waitUpToDate(stream)
    const { metadata, data } = await stream.requestSnapshot({ where: 'priority = $1', params: { 1: 'low' }, orderBy: 'id DESC', limit: 5 })
    assert.deepEqual(data.map((m) => m.value.id), [39, 38, 37, 35, 34], `${method}: data`)
    assert.match(String(metadata.database_lsn), /^[0-9]+$/, `${method}: database_lsn`)
    assert.equal(typeof metadata.snapshot_mark, 'number')
    assert.ok('xmin' in metadata && 'xmax' in metadata && Array.isArray(metadata.xip_list), `${method}: metadata ${JSON.stringify(metadata)}`)
    // injected into the stream for subscribers
    await waitFor(() => changes(got.messages).filter((m) => m.value.priority === 'low').length >= 5, { message: `${method}: injected rows` })
    for (const m of data) assert.equal(m.headers.operation, 'insert')
  }
})

test('changes_only: fetchSnapshot returns a subset without injecting it', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const tbl = await table(ctx, 'co_fetch')
  const stream = ctx.stream({ params: { table: tbl }, log: 'changes_only' })
  const got = ctx.collect(stream)
  await waitUpToDate(stream)
  for (const method of ['GET', 'POST']) {
    const res = await stream.fetchSnapshot({ where: `priority = 'high' AND id > $1`, params: { 1: '20' }, orderBy: 'id', limit: 3, offset: 1, method })
    assert.deepEqual(res.data.map((m) => m.value), [
      { id: 28, priority: 'high', title: 't28' },
      { id: 32, priority: 'high', title: 't32' },
      { id: 36, priority: 'high', title: 't36' },
    ], `${method}`)
    assert.match(String(res.metadata.database_lsn), /^[0-9]+$/)
  }
  assert.equal(changes(got.messages).length, 0, 'fetchSnapshot must not inject rows')
})

test('full mode: fetchSnapshot works and equals SQL', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const tbl = await table(ctx, 'full_fetch')
  const stream = ctx.stream({ params: { table: tbl, where: 'id <= 30' } })
  ctx.collect(stream)
  await waitUpToDate(stream)
  const res = await stream.fetchSnapshot({ where: `priority = 'high'`, orderBy: 'id' })
  const exp = normRows(await sql(`SELECT * FROM ${tbl} WHERE id <= 30 AND priority = 'high'`))
  assert.deepEqual(normRows(res.data.map((m) => m.value)), exp, 'subset where is ANDed with the shape where')
})

test('subset: raw GET/POST response format, and limit without order_by is a 400', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const tbl = await table(ctx, 'co_raw')
  const r0 = await getShape({ table: tbl, offset: '-1', log: 'changes_only' })
  assert.equal(r0.status, 200, r0.text)
  const handle = r0.headers.get('electric-handle')
  const offset = r0.headers.get('electric-offset')
  const base = { table: tbl, log: 'changes_only', offset, handle }

  const g = await getShape({ ...base, subset__where: 'id < $1', subset__params: JSON.stringify({ 1: '4' }), subset__order_by: 'id', subset__limit: '2' })
  assert.equal(g.status, 200, g.text)
  assert.equal(g.headers.get('electric-snapshot'), 'true')
  assert.ok(g.headers.get('electric-handle') && g.headers.get('electric-offset') && g.headers.get('electric-schema'))
  assert.ok(!Array.isArray(g.body) && g.body.metadata && Array.isArray(g.body.data), g.text)
  assert.deepEqual(g.body.data.map((m) => m.value.id), ['1', '2'])
  for (const m of g.body.data) assert.equal(typeof m.headers.snapshot_mark, 'number')

  const p = await http(shapeUrl(base), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ where: 'id < $1', params: { 1: '4' }, order_by: 'id', limit: 2 }),
  })
  const pt = await p.text()
  assert.equal(p.status, 200, pt)
  assert.deepEqual(JSON.parse(pt).data.map((m) => m.value.id), ['1', '2'])

  const bad = await getShape({ ...base, subset__where: 'id < 4', subset__limit: '2' })
  assert.equal(bad.status, 400, bad.text)
  assert.ok(bad.body?.errors, bad.text)

  const badBody = await http(shapeUrl(base), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[1,2]' })
  assert.equal(badBody.status, 400, await badBody.text())
  const badJson = await http(shapeUrl(base), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' })
  assert.equal(badJson.status, 400, await badJson.text())
})

test('offset=now: immediate up-to-date with the current log end and no data', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const tbl = await table(ctx, 'now')
  const r = await getShape({ table: tbl, offset: 'now' })
  assert.equal(r.status, 200, r.text)
  assert.ok(r.headers.get('electric-handle'))
  assert.ok(r.headers.get('electric-offset'))
  assert.ok(!r.body.some((m) => m.headers?.operation), r.text)
  assert.equal(r.body.at(-1)?.headers?.control, 'up-to-date', r.text)

  // the client starting at offset=now only sees later changes
  const stream = ctx.stream({ params: { table: tbl }, offset: 'now' })
  const got = ctx.collect(stream)
  await waitUpToDate(stream)
  await sql(`INSERT INTO ${tbl} VALUES (500, 'low', 'later')`)
  await waitForMessage(got, (m) => m.value?.id === 500, { stream, message: 'the later insert' })
  assert.deepEqual(changes(got.messages).map((m) => m.value.id), [500])
})
