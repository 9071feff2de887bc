// replica=full: updates carry the full new row and old_value (previous values of the changed
// columns); deletes carry the full old row. Compared with replica=default.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { setup, sql, closePool, waitUpToDate, waitForMessage, waitForShapeRows, changes, ShapeStream, TEST_TIMEOUT } from './lib.mjs'

after(closePool)

test('replica full: update has full value and old_value; delete has the full old row', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('full', 'id int PRIMARY KEY, title text, n int, flag bool')
  await sql(`INSERT INTO ${table} VALUES (1, 'a', 10, true), (2, 'b', 20, false)`)
  const stream = ctx.stream({ params: { table, replica: ShapeStream.Replica.FULL } })
  const got = ctx.collect(stream)
  await waitUpToDate(stream)

  await sql(`UPDATE ${table} SET title = 'A', n = 11 WHERE id = 1`)
  const upd = await waitForMessage(got, (m) => m.headers?.operation === 'update', { stream, message: 'the update' })
  assert.deepEqual(upd.value, { id: 1, title: 'A', n: 11, flag: true })
  assert.deepEqual(upd.old_value, { title: 'a', n: 10 })

  await sql(`DELETE FROM ${table} WHERE id = 2`)
  const del = await waitForMessage(got, (m) => m.headers?.operation === 'delete', { stream, message: 'the delete' })
  assert.deepEqual(del.value, { id: 2, title: 'b', n: 20, flag: false })

  await sql(`INSERT INTO ${table} VALUES (3, 'c', NULL, NULL)`)
  const ins = await waitForMessage(got, (m) => m.headers?.operation === 'insert' && m.value.id === 3, { stream, message: 'the insert' })
  assert.deepEqual(ins.value, { id: 3, title: 'c', n: null, flag: null })
  assert.equal(ins.old_value, undefined)
})

test('replica full: update to NULL and from NULL shows in old_value', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('full2', 'id int PRIMARY KEY, a text, b text')
  await sql(`INSERT INTO ${table} VALUES (1, 'x', NULL)`)
  const stream = ctx.stream({ params: { table, replica: 'full' } })
  const got = ctx.collect(stream)
  await waitUpToDate(stream)
  await sql(`UPDATE ${table} SET a = NULL, b = 'y' WHERE id = 1`)
  const upd = await waitForMessage(got, (m) => m.headers?.operation === 'update', { stream, message: 'the update' })
  assert.deepEqual(upd.value, { id: 1, a: null, b: 'y' })
  assert.deepEqual(upd.old_value, { a: 'x', b: null })
})

test('replica default: update carries PK + changed columns only, no old_value', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('deflt', 'id int PRIMARY KEY, title text, n int')
  await sql(`INSERT INTO ${table} VALUES (1, 'a', 10)`)
  const stream = ctx.stream({ params: { table } })
  const got = ctx.collect(stream)
  await waitUpToDate(stream)
  await sql(`UPDATE ${table} SET n = 11 WHERE id = 1`)
  const upd = await waitForMessage(got, (m) => m.headers?.operation === 'update', { stream, message: 'the update' })
  assert.deepEqual(upd.value, { id: 1, n: 11 })
  assert.equal(upd.old_value, undefined)
  await sql(`DELETE FROM ${table} WHERE id = 1`)
  const del = await waitForMessage(got, (m) => m.headers?.operation === 'delete', { stream, message: 'the delete' })
  assert.deepEqual(del.value, { id: 1 })
})

test('replica full and default shapes on one table are separate and both consistent', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('both', 'id int PRIMARY KEY, title text')
  await sql(`INSERT INTO ${table} VALUES (1, 'a')`)
  const a = ctx.shape({ table, replica: 'full' })
  const b = ctx.shape({ table })
  await waitForShapeRows(a, `SELECT * FROM ${table}`)
  await waitForShapeRows(b, `SELECT * FROM ${table}`)
  assert.notEqual(a.handle, b.handle, 'replica is part of the shape identity')
  await sql(`UPDATE ${table} SET title = 'b'`)
  await waitForShapeRows(a, `SELECT * FROM ${table}`)
  await waitForShapeRows(b, `SELECT * FROM ${table}`)
})
