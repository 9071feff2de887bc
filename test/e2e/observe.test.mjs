// Observability and bounded logs: electric_sync.shapes_view statistics, GET /v1/metrics, log
// rotation (a shape whose log passes electric_sync.max_shape_log_size is invalidated; its
// clients get 409 must-refetch and end equal to the table again), the routing index
// (`col = $1` shapes only receive their own rows).
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { setup, sql, closePool, waitFor, waitForShapeRows, http, ELECTRIC_URL, TEST_TIMEOUT } from './lib.mjs'

after(closePool)

test('observe: shapes_view shows rows, log entries, last offset and waiting clients', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('obs', 'id int PRIMARY KEY, v text')
  await sql(`INSERT INTO ${table} SELECT g, 'x' FROM generate_series(1, 5) g`)
  const shape = ctx.shape({ table })
  await waitForShapeRows(shape, `SELECT * FROM ${table}`)
  await sql(`INSERT INTO ${table} VALUES (6, 'y')`)
  await waitForShapeRows(shape, `SELECT * FROM ${table}`)
  const name = table.replace(/"/g, '')
  // statistics are refreshed every 5 s by the HTTP side
  await waitFor(async () => {
    const r = await sql(`SELECT row_count, log_entries, last_offset, waiting_clients FROM electric_sync.shapes_view
                          WHERE table_name = $1 AND status = 'active'`, [name.split('.').pop()])
    return r.length === 1 && Number(r[0].row_count) === 5 && Number(r[0].log_entries) >= 1 &&
      /^[0-9]+_[0-9]+$/.test(r[0].last_offset) && r[0].waiting_clients >= 1
  }, { timeout: 15_000, message: 'shapes_view statistics for the shape' })
})

test('observe: GET /v1/metrics reports worker progress, lag and the HTTP side', { timeout: TEST_TIMEOUT }, async () => {
  const res = await http(`${ELECTRIC_URL}/v1/metrics`)
  assert.equal(res.status, 200)
  assert.equal(res.headers.get('cache-control'), 'no-store')
  const m = await res.json()
  assert.equal(m.status.state, 'active')
  assert.equal(typeof m.status.lag_bytes, 'number')
  assert.ok(m.status.confirmed_lsn, 'confirmed_lsn')
  assert.equal(typeof m.http.connections, 'number')
  assert.equal(typeof m.http.waiting_requests, 'number')
  assert.ok(m.shapes && typeof m.shapes === 'object')
})

test('observe: a shape whose log passes max_shape_log_size is rotated; its client re-syncs', { timeout: 60_000 }, async (t) => {
  const ctx = setup(t)
  t.after(async () => {
    await sql(`ALTER SYSTEM RESET electric_sync.max_shape_log_size`)
    await sql(`SELECT pg_reload_conf()`)
  })
  await sql(`ALTER SYSTEM SET electric_sync.max_shape_log_size = '16kB'`)
  await sql(`SELECT pg_reload_conf()`)
  await new Promise((r) => setTimeout(r, 1500)) // the worker re-reads its configuration
  const table = await ctx.table('rot', 'id int PRIMARY KEY, v text')
  await sql(`INSERT INTO ${table} VALUES (0, 'start')`)
  const stream = ctx.stream({ params: { table } })
  const got = ctx.collect(stream)
  const shape = ctx.shape({ table })
  await waitForShapeRows(shape, `SELECT * FROM ${table}`)
  const h0 = (await sql(`SELECT handle FROM electric_sync.shapes WHERE table_name = $1 AND status = 'active'`, [table.replace(/"/g, '').split('.').pop()]))[0].handle
  // ~200 bytes per entry, 200 transactions: well past 16 kB
  for (let i = 1; i <= 200; i++) await sql(`INSERT INTO ${table} VALUES ($1, repeat('r', 100))`, [i])
  await waitFor(async () => (await sql(`SELECT count(*)::int AS n FROM electric_sync.shapes WHERE handle = $1 AND status = 'invalidated' AND invalid_reason = 'rotated'`, [h0]))[0].n === 1,
    { timeout: 20_000, message: 'the shape to be rotated' })
  await waitFor(() => got.messages.some((m) => m.headers?.control === 'must-refetch'), { timeout: 20_000, message: 'a must-refetch on the stream' })
  await waitForShapeRows(shape, `SELECT * FROM ${table}`, [], { timeout: 30_000 })
})

test('observe: routing index — `id = $1` shapes receive only their own row', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('idx', 'id int PRIMARY KEY, v int')
  await sql(`INSERT INTO ${table} SELECT g, 0 FROM generate_series(1, 20) g`)
  const shapes = []
  for (const id of [3, 7, 11]) shapes.push([id, ctx.shape({ table, where: 'id = $1', params: [String(id)] })])
  const any = ctx.shape({ table, where: 'id IN (7, 8)' })
  for (const [id, s] of shapes) await waitForShapeRows(s, `SELECT * FROM ${table} WHERE id = $1`, [id])
  await sql(`UPDATE ${table} SET v = v + 1`)
  await sql(`UPDATE ${table} SET v = v + 1 WHERE id IN (7, 8, 12)`)
  for (const [id, s] of shapes) await waitForShapeRows(s, `SELECT * FROM ${table} WHERE id = $1`, [id])
  await waitForShapeRows(any, `SELECT * FROM ${table} WHERE id IN (7, 8)`)
})
