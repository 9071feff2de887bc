// must-refetch (409) handling: after DELETE /v1/shape, TRUNCATE and ALTER TABLE the client is
// told to refetch, gets a new handle, and its Shape ends equal to the table again.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { setup, sql, closePool, http, shapeUrl, waitUpToDate, waitForMessage, waitForShapeRows, controls, TEST_TIMEOUT } from './lib.mjs'

after(closePool)

async function liveShape(ctx, table, params = {}) {
  const shape = ctx.shape({ table, ...params })
  const got = ctx.collect(shape.stream)
  await waitForShapeRows(shape, `SELECT * FROM ${table}`)
  return { shape, got }
}

test('must-refetch after DELETE /v1/shape', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('mrdel', 'id int PRIMARY KEY, title text')
  await sql(`INSERT INTO ${table} VALUES (1, 'a'), (2, 'b')`)
  const { shape, got } = await liveShape(ctx, table)
  const oldHandle = shape.handle

  const res = await http(shapeUrl({ table, handle: oldHandle }), { method: 'DELETE' })
  const body = await res.text()
  assert.equal(res.status, 202, `DELETE /v1/shape -> ${res.status} ${body}`)

  await sql(`INSERT INTO ${table} VALUES (3, 'c')`)
  await waitForMessage(got, (m) => m.headers?.control === 'must-refetch', { stream: shape.stream, message: 'must-refetch' })
  await waitForShapeRows(shape, `SELECT * FROM ${table}`)
  assert.notEqual(shape.handle, oldHandle, 'a new handle after the shape was deleted')

  // and the new shape is live
  await sql(`UPDATE ${table} SET title = 'aa' WHERE id = 1`)
  await waitForShapeRows(shape, `SELECT * FROM ${table}`)
})

test('DELETE /v1/shape of an unknown shape is 404 and the old handle then answers 409', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('mrdel2', 'id int PRIMARY KEY')
  await sql(`INSERT INTO ${table} VALUES (1)`)
  const stream = ctx.stream({ params: { table }, subscribe: false })
  ctx.collect(stream)
  await waitUpToDate(stream)
  const handle = stream.shapeHandle
  const offset = stream.lastOffset

  let res = await http(shapeUrl({ table, handle }), { method: 'DELETE' })
  assert.equal(res.status, 202, await res.text())
  res = await http(shapeUrl({ table, handle }), { method: 'DELETE' })
  assert.equal(res.status, 404, `second DELETE: ${await res.clone().text()}`)
  assert.match(res.headers.get('content-type') || '', /application\/json/)
  await res.json()

  res = await http(shapeUrl({ table, handle, offset }))
  const text = await res.text()
  assert.equal(res.status, 409, `GET with the deleted handle: ${res.status} ${text}`)
  assert.deepEqual(JSON.parse(text), [{ headers: { control: 'must-refetch' } }])
  const newHandle = res.headers.get('electric-handle')
  if (newHandle) assert.notEqual(newHandle, handle, 'handles are never reused')
})

test('must-refetch after TRUNCATE', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('mrtrunc', 'id int PRIMARY KEY, title text')
  await sql(`INSERT INTO ${table} SELECT g, 't' || g FROM generate_series(1, 10) g`)
  const { shape, got } = await liveShape(ctx, table)
  const oldHandle = shape.handle

  await sql(`TRUNCATE ${table}`)
  await sql(`INSERT INTO ${table} VALUES (100, 'after truncate'), (101, 'x')`)
  await waitForMessage(got, (m) => m.headers?.control === 'must-refetch', { stream: shape.stream, message: 'must-refetch' })
  await waitForShapeRows(shape, `SELECT * FROM ${table}`)
  assert.notEqual(shape.handle, oldHandle)
  assert.deepEqual(shape.currentRows.map((r) => r.id).sort(), [100, 101])
})

test('must-refetch after TRUNCATE with where and columns', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('mrtrunc2', 'id int PRIMARY KEY, title text, n int')
  await sql(`INSERT INTO ${table} SELECT g, 't' || g, g FROM generate_series(1, 10) g`)
  const shape = ctx.shape({ table, where: 'n > 3', columns: ['id', 'n'] })
  const got = ctx.collect(shape.stream)
  const q = `SELECT id, n FROM ${table} WHERE n > 3`
  await waitForShapeRows(shape, q)
  await sql(`BEGIN; TRUNCATE ${table}; INSERT INTO ${table} VALUES (1, 'a', 10), (2, 'b', 1); COMMIT`)
  await waitForMessage(got, (m) => m.headers?.control === 'must-refetch', { stream: shape.stream, message: 'must-refetch' })
  await waitForShapeRows(shape, q)
})

test('must-refetch after ALTER TABLE ADD COLUMN: the Shape gets the new column', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('mralter', 'id int PRIMARY KEY, title text')
  await sql(`INSERT INTO ${table} VALUES (1, 'a'), (2, 'b')`)
  const { shape, got } = await liveShape(ctx, table)
  const oldHandle = shape.handle

  await sql(`ALTER TABLE ${table} ADD COLUMN extra int DEFAULT 7`)
  await sql(`INSERT INTO ${table} VALUES (3, 'c', 8)`)
  await waitForShapeRows(shape, `SELECT * FROM ${table}`)
  assert.equal(shape.currentRows.find((r) => r.id === 1).extra, 7)
  assert.ok(controls(got.messages, 'must-refetch').length >= 1, 'a must-refetch was delivered')
  assert.notEqual(shape.handle, oldHandle)
})

test('must-refetch after ALTER TABLE DROP COLUMN and RENAME COLUMN', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('mralter2', 'id int PRIMARY KEY, title text, gone int')
  await sql(`INSERT INTO ${table} VALUES (1, 'a', 1), (2, 'b', 2)`)
  const { shape } = await liveShape(ctx, table)
  await sql(`ALTER TABLE ${table} DROP COLUMN gone`)
  await sql(`UPDATE ${table} SET title = 'aa' WHERE id = 1`)
  await waitForShapeRows(shape, `SELECT * FROM ${table}`)
  await sql(`ALTER TABLE ${table} RENAME COLUMN title TO name`)
  await sql(`UPDATE ${table} SET name = 'bb' WHERE id = 2`)
  await waitForShapeRows(shape, `SELECT * FROM ${table}`)
})
