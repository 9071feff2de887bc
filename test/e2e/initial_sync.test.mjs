// Initial sync with @electric-sql/client: Shape rows equal the table, keys in Electric's format,
// empty tables, schema-qualified and quoted table names.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { setup, sql, qi, uniqueName, closePool, waitUpToDate, waitForShapeRows, changes, controls, TEST_TIMEOUT } from './lib.mjs'

after(closePool)

test('initial sync: Shape rows equal the table', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('init', 'id int PRIMARY KEY, title text NOT NULL, n int, done bool')
  await sql(`INSERT INTO ${table} SELECT g, 'row ' || g, g * 10, g % 2 = 0 FROM generate_series(1, 50) g`)
  await sql(`INSERT INTO ${table} VALUES (51, 'nulls', NULL, NULL)`)

  const shape = ctx.shape({ table })
  const rows = await Promise.race([
    shape.rows,
    new Promise((_, rej) => setTimeout(() => rej(new Error('shape.rows did not resolve in 20 s')), 20_000)),
  ])
  assert.equal(rows.length, 51)
  const r7 = rows.find((r) => r.id === 7)
  assert.deepEqual(r7, { id: 7, title: 'row 7', n: 70, done: false })
  assert.deepEqual(rows.find((r) => r.id === 51), { id: 51, title: 'nulls', n: null, done: null })
  await waitForShapeRows(shape, `SELECT * FROM ${table}`)
  assert.ok(shape.handle, 'the stream has a handle')
  assert.notEqual(shape.lastOffset, '-1')
})

test('initial sync: keys use Electric format "public"."t"/"id" and ops are inserts', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('keys', 'id text PRIMARY KEY, v int')
  await sql(`INSERT INTO ${table} VALUES ('1', 1), ('a/b', 2), ('x"y', 3)`)
  const stream = ctx.stream({ params: { table }, subscribe: false })
  const got = ctx.collect(stream)
  await waitUpToDate(stream)
  const ch = changes(got.messages)
  assert.equal(ch.length, 3)
  for (const m of ch) {
    assert.equal(m.headers.operation, 'insert')
    assert.deepEqual(m.headers.relation, ['public', table])
  }
  const keys = ch.map((m) => m.key).sort()
  assert.deepEqual(keys, [`"public"."${table}"/"1"`, `"public"."${table}"/"a//b"`, `"public"."${table}"/"x"y"`].sort())
  assert.equal(controls(got.messages, 'up-to-date').length >= 1, true)
})

test('initial sync: empty table becomes up to date with no rows', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('empty', 'id int PRIMARY KEY')
  const shape = ctx.shape({ table })
  await waitUpToDate(shape)
  assert.deepEqual(shape.currentRows, [])
})

test('initial sync: schema-qualified table and quoted mixed-case names', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const schema = uniqueName('sch')
  await sql(`CREATE SCHEMA ${qi(schema)}`)
  ctx.dropLater(`DROP SCHEMA IF EXISTS ${qi(schema)} CASCADE`)
  const name = 'Mixed Case ' + uniqueName('t').slice(4)
  await sql(`CREATE TABLE ${qi(schema)}.${qi(name)} ("Id" int PRIMARY KEY, "Some Col" text)`)
  await sql(`INSERT INTO ${qi(schema)}.${qi(name)} VALUES (1, 'a'), (2, 'b')`)

  const shape = ctx.shape({ table: `${qi(schema)}.${qi(name)}` })
  await waitForShapeRows(shape, `SELECT * FROM ${qi(schema)}.${qi(name)}`)
  const stream = ctx.stream({ params: { table: `${qi(schema)}.${qi(name)}` }, subscribe: false })
  const got = ctx.collect(stream)
  await waitUpToDate(stream)
  const ch = changes(got.messages)
  assert.deepEqual(ch[0].headers.relation, [schema, name])
  assert.ok(ch.some((m) => m.key === `"${schema}"."${name}"/"1"`), `keys: ${ch.map((m) => m.key).join(', ')}`)
})

test('initial sync: a plain unqualified name resolves to public', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('pub', 'id int PRIMARY KEY, v text')
  await sql(`INSERT INTO ${table} VALUES (1, 'x')`)
  const a = ctx.shape({ table: `public.${table}` })
  const b = ctx.shape({ table })
  await waitForShapeRows(a, `SELECT * FROM ${table}`)
  await waitForShapeRows(b, `SELECT * FROM ${table}`)
})
