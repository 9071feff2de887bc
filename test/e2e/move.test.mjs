// Rows moving into and out of a shape's where clause through updates.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { setup, sql, closePool, waitForShapeRows, waitUpToDate, waitForMessage, changes, TEST_TIMEOUT } from './lib.mjs'

after(closePool)

test('move in / move out: Shape follows updates crossing the where boundary', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('move', 'id int PRIMARY KEY, status text NOT NULL, title text, n int')
  await sql(`INSERT INTO ${table} SELECT g, CASE WHEN g <= 5 THEN 'active' ELSE 'inactive' END, 't' || g, g FROM generate_series(1, 10) g`)
  const q = `SELECT * FROM ${table} WHERE status = 'active'`
  const shape = ctx.shape({ table, where: `status = 'active'` })
  await waitForShapeRows(shape, q)

  await sql(`UPDATE ${table} SET status = 'active' WHERE id = 7`) // move in
  await waitForShapeRows(shape, q)
  await sql(`UPDATE ${table} SET status = 'inactive' WHERE id = 2`) // move out
  await waitForShapeRows(shape, q)
  await sql(`UPDATE ${table} SET title = 'still out' WHERE id = 8`) // stays out
  await sql(`UPDATE ${table} SET title = 'still in' WHERE id = 1`) // stays in
  await waitForShapeRows(shape, q)
  // out and back in within one transaction is the same as staying in with the new values
  await sql(`BEGIN; UPDATE ${table} SET status = 'x' WHERE id = 3; UPDATE ${table} SET status = 'active', n = 33 WHERE id = 3; COMMIT`)
  await waitForShapeRows(shape, q)
  assert.deepEqual(shape.currentRows.map((r) => r.id).sort((a, b) => a - b), [1, 3, 4, 5, 7])
})

test('move in is an insert with the full row; move out is a delete', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('move2', 'id int PRIMARY KEY, status text NOT NULL, title text, n int')
  await sql(`INSERT INTO ${table} VALUES (1, 'active', 'a', 1), (2, 'inactive', 'b', 2)`)
  const stream = ctx.stream({ params: { table, where: `status = 'active'` } })
  const got = ctx.collect(stream)
  await waitUpToDate(stream)
  const n0 = changes(got.messages).length

  await sql(`UPDATE ${table} SET status = 'active' WHERE id = 2`)
  const ins = await waitForMessage(got, (m) => m.headers?.operation && m.key.endsWith('/"2"'), { stream, message: 'the move-in' })
  assert.equal(ins.headers.operation, 'insert')
  assert.deepEqual(ins.value, { id: 2, status: 'active', title: 'b', n: 2 })

  // The mark is taken before the update: the move-out can arrive before sql() returns.
  const mark = got.messages.length
  await sql(`UPDATE ${table} SET status = 'gone' WHERE id = 1`)
  const del = await waitForMessage(got, (m, i) => got.messages.indexOf(m) >= mark && m.headers?.operation && m.key.endsWith('/"1"'), { stream, message: 'the move-out' })
  assert.equal(del.headers.operation, 'delete')
  assert.equal(changes(got.messages).length - n0, 2)
})

test('move with a parameterised numeric range', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('move3', 'id int PRIMARY KEY, score numeric NOT NULL')
  await sql(`INSERT INTO ${table} SELECT g, g * 1.5 FROM generate_series(1, 20) g`)
  const q = `SELECT * FROM ${table} WHERE score > $1 AND score <= $2`
  const shape = ctx.shape({ table, where: 'score > $1 AND score <= $2', params: ['10', '20.5'] })
  await waitForShapeRows(shape, q, ['10', '20.5'])
  await sql(`UPDATE ${table} SET score = score + 5`)
  await waitForShapeRows(shape, q, ['10', '20.5'])
  await sql(`UPDATE ${table} SET score = 15 WHERE id IN (1, 20)`)
  await waitForShapeRows(shape, q, ['10', '20.5'])
})
