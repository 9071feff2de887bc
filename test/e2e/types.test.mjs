// Every common type round-tripped through the client's parser (snapshot and live paths give the
// same values), NULLs, and the electric-schema header that drives the parser.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { setup, sql, qi, uniqueName, closePool, waitUpToDate, waitForMessage, getShape, changes, TEST_TIMEOUT } from './lib.mjs'

after(closePool)

async function typesTable(ctx) {
  const en = uniqueName('mood')
  const dm = uniqueName('dom')
  await sql(`CREATE TYPE ${qi(en)} AS ENUM ('sad', 'ok', 'happy')`)
  ctx.dropLater(`DROP TYPE IF EXISTS ${qi(en)}`)
  await sql(`CREATE DOMAIN ${qi(dm)} AS text CHECK (VALUE <> '')`)
  ctx.dropLater(`DROP DOMAIN IF EXISTS ${qi(dm)}`)
  const table = await ctx.table(
    'types',
    `id int PRIMARY KEY,
     i2 int2, i4 int4, i8 int8, num numeric, num2 numeric(10,2), f4 float4, f8 float8,
     t text, vc varchar(10), ch char(5), b bool, b2 bool, j jsonb, js json,
     ia int[], ta text[], i2d int[][], u uuid, ts timestamptz, tsn timestamp, d date, tm time,
     iv interval, by bytea, en ${qi(en)}, dm ${qi(dm)}`,
  )
  return { table, en, dm }
}

const INSERT_VALUES = `
  12, -123456, 9007199254740993, 12345.678900, 3.1, 1.5, 3.14159,
  E'hello "world" / \\\\ \\u00fc \\u2713\\nnext line', 'abc', 'ab', true, false,
  '{"a": 1, "b": [1, 2], "c": {"d": "x"}, "e": null}', '{"z": 1,  "a": 2}',
  '{1,NULL,3}', ARRAY['a', 'b c', 'with,comma', 'q"uote', NULL, 'NULL'], '{{1,2},{3,4}}',
  'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '2024-01-02 04:04:05.678+01', '2024-01-02 03:04:05',
  '2024-02-29', '13:14:15', '1 year 2 months 3 days 4 hours 5 minutes 6 seconds',
  '\\xdeadbeef', 'happy', 'dom'`

function expectedRow(id) {
  return {
    id,
    i2: 12,
    i4: -123456,
    i8: 9007199254740993n,
    num: '12345.678900',
    num2: '3.10',
    f4: 1.5,
    f8: 3.14159,
    t: 'hello "world" / \\ ü ✓\nnext line',
    vc: 'abc',
    ch: 'ab   ',
    b: true,
    b2: false,
    j: { a: 1, b: [1, 2], c: { d: 'x' }, e: null },
    js: { z: 1, a: 2 },
    ia: [1, null, 3],
    ta: ['a', 'b c', 'with,comma', 'q"uote', null, 'NULL'],
    i2d: [[1, 2], [3, 4]],
    u: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    ts: '2024-01-02 03:04:05.678+00',
    tsn: '2024-01-02 03:04:05',
    d: '2024-02-29',
    tm: '13:14:15',
    iv: 'P1Y2M3DT4H5M6S',
    by: '\\xdeadbeef',
    en: 'happy',
    dm: 'dom',
  }
}

const NULL_COLS = Object.keys(expectedRow(0)).filter((k) => k !== 'id')
const nullRow = (id) => Object.fromEntries([['id', id], ...NULL_COLS.map((k) => [k, null])])

function assertRow(actual, expected, label) {
  for (const k of Object.keys(expected)) {
    assert.deepStrictEqual(actual[k], expected[k], `${label}: column ${k}: got ${typeof actual[k] === 'bigint' ? actual[k] + 'n' : JSON.stringify(actual[k])}`)
  }
  assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort(), `${label}: columns`)
}

test('types: snapshot values are parsed to the expected JS values', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const { table } = await typesTable(ctx)
  await sql(`INSERT INTO ${table} VALUES (1, ${INSERT_VALUES})`)
  await sql(`INSERT INTO ${table} (id) VALUES (2)`)
  const stream = ctx.stream({ params: { table }, subscribe: false })
  const got = ctx.collect(stream)
  await waitUpToDate(stream)
  const rows = changes(got.messages).map((m) => m.value)
  assert.equal(rows.length, 2)
  assertRow(rows.find((r) => r.id === 1), expectedRow(1), 'snapshot row')
  assertRow(rows.find((r) => r.id === 2), nullRow(2), 'snapshot NULL row')
})

test('types: live inserts and full-replica updates give the same values as the snapshot', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const { table } = await typesTable(ctx)
  const stream = ctx.stream({ params: { table, replica: 'full' } })
  const got = ctx.collect(stream)
  await waitUpToDate(stream)
  await sql(`INSERT INTO ${table} VALUES (3, ${INSERT_VALUES})`)
  await sql(`INSERT INTO ${table} (id) VALUES (4)`)
  const ins3 = await waitForMessage(got, (m) => m.headers?.operation === 'insert' && m.value.id === 3, { stream, message: 'insert 3' })
  const ins4 = await waitForMessage(got, (m) => m.headers?.operation === 'insert' && m.value.id === 4, { stream, message: 'insert 4' })
  assertRow(ins3.value, expectedRow(3), 'live insert')
  assertRow(ins4.value, nullRow(4), 'live NULL insert')

  // NULL -> values, values -> NULL
  await sql(`UPDATE ${table} SET (${NULL_COLS.join(', ')}) = (SELECT ${NULL_COLS.join(', ')} FROM ${table} WHERE id = 3) WHERE id = 4`)
  const upd4 = await waitForMessage(got, (m) => m.headers?.operation === 'update' && m.value.id === 4, { stream, message: 'update 4' })
  assertRow(upd4.value, expectedRow(4), 'live update value')
  assertRow(upd4.old_value, Object.fromEntries(NULL_COLS.map((k) => [k, null])), 'live update old_value')
  await sql(`DELETE FROM ${table} WHERE id = 3`)
  const del3 = await waitForMessage(got, (m) => m.headers?.operation === 'delete' && m.value.id === 3, { stream, message: 'delete 3' })
  assertRow(del3.value, expectedRow(3), 'live delete (replica full)')
})

test('types: wire values are Postgres text output strings', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const { table } = await typesTable(ctx)
  await sql(`INSERT INTO ${table} VALUES (1, ${INSERT_VALUES})`)
  const r = await getShape({ table, offset: '-1' })
  assert.equal(r.status, 200, r.text)
  const v = r.body.find((m) => m.value)?.value
  assert.ok(v, `no row in ${r.text}`)
  assert.equal(v.id, '1')
  assert.equal(v.i8, '9007199254740993')
  assert.equal(v.b, 't')
  assert.equal(v.ia, '{1,NULL,3}')
  assert.equal(v.ta, '{a,"b c","with,comma","q\\"uote",NULL,"NULL"}')
  assert.equal(v.ch, 'ab   ')
  assert.equal(v.ts, '2024-01-02 03:04:05.678+00')
  assert.equal(v.iv, 'P1Y2M3DT4H5M6S')
  assert.equal(v.by, '\\xdeadbeef')
  assert.equal(typeof v.j, 'string')
  assert.deepEqual(JSON.parse(v.j), { a: 1, b: [1, 2], c: { d: 'x' }, e: null })
})

test('types: electric-schema describes types, dims, pk_index, not_null, lengths', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const { table, en, dm } = await typesTable(ctx)
  const r = await getShape({ table, offset: '-1' })
  assert.equal(r.status, 200, r.text)
  const schema = JSON.parse(r.headers.get('electric-schema'))
  assert.deepEqual(schema.id, { type: 'int4', pk_index: 0, not_null: true })
  assert.equal(schema.i2.type, 'int2')
  assert.equal(schema.i8.type, 'int8')
  assert.equal(schema.f8.type, 'float8')
  assert.equal(schema.b.type, 'bool')
  assert.equal(schema.j.type, 'jsonb')
  assert.equal(schema.t.type, 'text')
  assert.equal(schema.u.type, 'uuid')
  assert.equal(schema.ts.type, 'timestamptz')
  assert.equal(schema.en.type, en)
  assert.deepEqual(schema.ia, { type: 'int4', dims: 1 })
  assert.deepEqual(schema.ta, { type: 'text', dims: 1 })
  assert.equal(schema.i2d.dims, 2)
  assert.equal(schema.vc.type, 'varchar')
  assert.equal(schema.vc.max_length, 10)
  assert.equal(schema.ch.type, 'bpchar')
  assert.equal(schema.ch.length, 5)
  assert.equal(schema.num2.precision, 10)
  assert.equal(schema.num2.scale, 2)
  for (const k of NULL_COLS) assert.ok(!schema[k].not_null, `${k} is nullable`)
  assert.ok(!('pk_index' in schema.i4))
  void dm
})

test('types: NOT NULL columns are flagged and parse fine', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('nn', 'id bigint PRIMARY KEY, name text NOT NULL, tags text[] NOT NULL, score float8 NOT NULL')
  await sql(`INSERT INTO ${table} VALUES (1, 'a', '{}', 0.1), (2, '', '{x}', -2.5e-10)`)
  const stream = ctx.stream({ params: { table }, subscribe: false })
  const got = ctx.collect(stream)
  await waitUpToDate(stream)
  const rows = changes(got.messages).map((m) => m.value).sort((a, b) => Number(a.id - b.id))
  assert.deepStrictEqual(rows, [
    { id: 1n, name: 'a', tags: [], score: 0.1 },
    { id: 2n, name: '', tags: ['x'], score: -2.5e-10 },
  ])
})
