// Composite primary keys: key format (PK order, '/' doubled), live update/delete by composite
// key, and a PK-part change.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { setup, sql, closePool, waitUpToDate, waitForShapeRows, changes, TEST_TIMEOUT } from './lib.mjs'

after(closePool)

test('composite keys: key format follows PK order with "/" doubled', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  // PK order (lang, item_id) differs from column order
  const table = await ctx.table('ck', 'item_id int, lang text, title text, PRIMARY KEY (lang, item_id)')
  await sql(`INSERT INTO ${table} VALUES (7, 'en', 'seven'), (7, 'de', 'sieben'), (8, 'a/b', 'slash')`)
  const stream = ctx.stream({ params: { table }, subscribe: false })
  const got = ctx.collect(stream)
  await waitUpToDate(stream)
  const keys = changes(got.messages).map((m) => m.key).sort()
  assert.deepEqual(keys, [
    `"public"."${table}"/"a//b"/"8"`,
    `"public"."${table}"/"de"/"7"`,
    `"public"."${table}"/"en"/"7"`,
  ].sort())
})

test('composite keys: live insert, update, delete and key change', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('ck2', 'a int, b text, v text, PRIMARY KEY (a, b)')
  await sql(`INSERT INTO ${table} VALUES (1, 'x', 'one-x'), (1, 'y', 'one-y'), (2, 'x', 'two-x')`)
  const shape = ctx.shape({ table })
  const q = `SELECT * FROM ${table}`
  await waitForShapeRows(shape, q)
  await sql(`INSERT INTO ${table} VALUES (2, 'y', 'two-y')`)
  await sql(`UPDATE ${table} SET v = 'changed' WHERE a = 1 AND b = 'y'`)
  await sql(`DELETE FROM ${table} WHERE a = 1 AND b = 'x'`)
  await waitForShapeRows(shape, q)
  await sql(`UPDATE ${table} SET b = 'z' WHERE a = 2 AND b = 'x'`)
  await waitForShapeRows(shape, q)
  assert.equal(shape.currentRows.length, 3)
})

test('composite keys: a where on one key part', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('ck3', 'tenant int, id bigint, v text, PRIMARY KEY (tenant, id)')
  await sql(`INSERT INTO ${table} SELECT g % 3, g, 'v' || g FROM generate_series(1, 30) g`)
  const q = `SELECT * FROM ${table} WHERE tenant = 1`
  const shape = ctx.shape({ table, where: 'tenant = 1' })
  await waitForShapeRows(shape, q)
  await sql(`UPDATE ${table} SET v = 'x' WHERE tenant = 1 AND id = 4`)
  await sql(`DELETE FROM ${table} WHERE tenant = 1 AND id = 7`)
  await sql(`INSERT INTO ${table} VALUES (1, 1000, 'big'), (2, 1001, 'other')`)
  await waitForShapeRows(shape, q)
  assert.equal(typeof shape.currentRows[0].id, 'bigint')
})
