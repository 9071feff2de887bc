// Resuming a stream from a saved offset and handle: only later changes are delivered; a stale
// handle leads to a must-refetch and a full resync.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { Shape, setup, sql, closePool, waitUpToDate, waitForMessage, waitForShapeRows, changes, controls, TEST_TIMEOUT } from './lib.mjs'

after(closePool)

test('resume: a new ShapeStream with offset + handle gets only the changes after it', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('resume', 'id int PRIMARY KEY, title text')
  await sql(`INSERT INTO ${table} SELECT g, 't' || g FROM generate_series(1, 20) g`)

  const first = ctx.stream({ params: { table } })
  const got1 = ctx.collect(first)
  await waitUpToDate(first)
  await sql(`INSERT INTO ${table} VALUES (21, 'before stop')`)
  await waitForMessage(got1, (m) => m.value?.id === 21, { stream: first, message: 'row 21 on the first stream' })
  await waitUpToDate(first)
  const offset = first.lastOffset
  const handle = first.shapeHandle
  assert.ok(handle)
  assert.notEqual(offset, '-1')
  ctx.abortAll()

  // changes while "offline"
  await sql(`INSERT INTO ${table} VALUES (22, 'new')`)
  await sql(`UPDATE ${table} SET title = 'changed' WHERE id = 5`)
  await sql(`DELETE FROM ${table} WHERE id = 6`)

  const second = ctx.stream({ params: { table }, offset, handle })
  const got2 = ctx.collect(second)
  await waitForMessage(got2, (m) => m.headers?.operation === 'delete', { stream: second, message: 'the delete' })
  await waitUpToDate(second)
  assert.equal(controls(got2.messages, 'must-refetch').length, 0, 'no must-refetch on a valid resume')
  const ch = changes(got2.messages)
  assert.deepEqual(
    ch.map((m) => [m.headers.operation, m.value.id]),
    [['insert', 22], ['update', 5], ['delete', 6]],
  )
  assert.equal(second.shapeHandle, handle)
})

test('resume: the saved offset from the initial snapshot (before any change) also works', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('resume0', 'id int PRIMARY KEY, title text')
  await sql(`INSERT INTO ${table} VALUES (1, 'a')`)
  const first = ctx.stream({ params: { table }, subscribe: false })
  ctx.collect(first)
  await waitUpToDate(first)
  const { lastOffset: offset, shapeHandle: handle } = first
  await sql(`INSERT INTO ${table} VALUES (2, 'b')`)
  const second = ctx.stream({ params: { table }, offset, handle })
  const got = ctx.collect(second)
  await waitForMessage(got, (m) => m.value?.id === 2, { stream: second, message: 'row 2' })
  assert.deepEqual(changes(got.messages).map((m) => m.value.id), [2])
})

test('resume: an unknown handle gives must-refetch and a full resync', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('resumebad', 'id int PRIMARY KEY, title text')
  await sql(`INSERT INTO ${table} VALUES (1, 'a'), (2, 'b')`)
  const first = ctx.stream({ params: { table }, subscribe: false })
  ctx.collect(first)
  await waitUpToDate(first)
  const offset = first.lastOffset
  const stream = ctx.stream({ params: { table }, offset, handle: 'no-such-handle-123' })
  const shape = new Shape(stream)
  const got = ctx.collect(stream)
  await waitForShapeRows(shape, `SELECT * FROM ${table}`)
  assert.ok(controls(got.messages, 'must-refetch').length >= 1, 'a must-refetch was delivered')
  assert.notEqual(stream.shapeHandle, 'no-such-handle-123')
})
