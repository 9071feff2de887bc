// Shapes filtered by a where clause, with literal values and with positional params
// (array form and object form), including live changes that respect the filter.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { setup, sql, closePool, waitForShapeRows, TEST_TIMEOUT } from './lib.mjs'

after(closePool)

async function makeTable(ctx) {
  const table = await ctx.table('where', 'id int PRIMARY KEY, status text NOT NULL, priority int NOT NULL, title text')
  await sql(`INSERT INTO ${table} SELECT g, CASE WHEN g % 3 = 0 THEN 'done' ELSE 'open' END, g % 5, 'title ' || g FROM generate_series(1, 30) g`)
  return table
}

test('where: literal filter', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await makeTable(ctx)
  const shape = ctx.shape({ table, where: `status = 'open' AND priority >= 2` })
  await waitForShapeRows(shape, `SELECT * FROM ${table} WHERE status = 'open' AND priority >= 2`)
  assert.ok(shape.currentRows.length > 0)
  // live: a matching insert appears, a non-matching one does not
  await sql(`INSERT INTO ${table} VALUES (100, 'open', 4, 'new'), (101, 'done', 4, 'other')`)
  await waitForShapeRows(shape, `SELECT * FROM ${table} WHERE status = 'open' AND priority >= 2`)
  assert.ok(shape.currentRows.some((r) => r.id === 100))
  assert.ok(!shape.currentRows.some((r) => r.id === 101))
})

test('where: positional params (array form)', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await makeTable(ctx)
  const shape = ctx.shape({ table, where: 'status = $1 AND priority = $2', params: ['open', '1'] })
  await waitForShapeRows(shape, `SELECT * FROM ${table} WHERE status = $1 AND priority = $2`, ['open', 1])
  assert.ok(shape.currentRows.length > 0)
  await sql(`INSERT INTO ${table} VALUES (200, 'open', 1, 'p'), (201, 'open', 2, 'q')`)
  await waitForShapeRows(shape, `SELECT * FROM ${table} WHERE status = $1 AND priority = $2`, ['open', 1])
})

test('where: positional params (object form) with a value needing quoting', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await makeTable(ctx)
  await sql(`INSERT INTO ${table} VALUES (300, 'it''s "odd"; --', 0, 'x')`)
  const shape = ctx.shape({ table, where: 'status = $1 OR id = $2', params: { 1: `it's "odd"; --`, 2: '5' } })
  await waitForShapeRows(shape, `SELECT * FROM ${table} WHERE status = $1 OR id = $2`, [`it's "odd"; --`, 5])
  assert.deepEqual(shape.currentRows.map((r) => r.id).sort((a, b) => a - b), [5, 300])
})

test('where: IN list, LIKE, IS NULL and NOT', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await makeTable(ctx)
  await sql(`UPDATE ${table} SET title = NULL WHERE id IN (2, 4)`)
  const cases = [
    `id IN (1, 2, 3, 29)`,
    `title LIKE 'title 1%'`,
    `title IS NULL`,
    `NOT (status = 'open') AND id > 10`,
  ]
  const shapes = cases.map((where) => [where, ctx.shape({ table, where })])
  for (const [where, shape] of shapes) {
    await waitForShapeRows(shape, `SELECT * FROM ${table} WHERE ${where}`)
  }
})
