// 100 concurrent ShapeStreams (10 shapes x 10 streams each) reach up to date, then each sees
// exactly the live changes of its own shape.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { setup, sql, closePool, waitFor, waitForShapeRows, describeError, normRows, TEST_TIMEOUT } from './lib.mjs'

after(closePool)

test('100 concurrent streams stay consistent', { timeout: 90_000 }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('conc', 'id int PRIMARY KEY, grp int NOT NULL, v text')
  await sql(`INSERT INTO ${table} SELECT g, g % 10, 'v' || g FROM generate_series(1, 200) g`)
  const shapes = []
  for (let i = 0; i < 100; i++) {
    const grp = i % 10
    shapes.push({ grp, shape: ctx.shape({ table, where: 'grp = $1', params: [String(grp)] }) })
  }
  const expectedFor = async () => {
    const rows = await sql(`SELECT * FROM ${table}`)
    const by = new Map()
    for (let g = 0; g < 10; g++) by.set(g, JSON.stringify(normRows(rows.filter((r) => r.grp === g))))
    return by
  }
  const allEqual = async (label) => {
    let bad = []
    await waitFor(
      async () => {
        const exp = await expectedFor()
        bad = []
        for (const { grp, shape } of shapes) {
          if (shape.stream.error) throw Object.assign(new Error(`stream failed: ${describeError(shape.stream.error)}`), { fatal: true })
          if (!shape.isUpToDate || JSON.stringify(normRows(shape.currentRows)) !== exp.get(grp)) bad.push(grp)
        }
        return bad.length === 0
      },
      { timeout: 40_000, interval: 100, message: `${label}: all 100 shapes to equal their SQL rows (${bad.length} not yet)` },
    )
  }
  await allEqual('initial sync')
  // handles: one per distinct shape
  const handles = new Map()
  for (const { grp, shape } of shapes) {
    if (!handles.has(grp)) handles.set(grp, shape.handle)
    assert.equal(shape.handle, handles.get(grp), 'same definition, same handle')
  }
  assert.equal(new Set(handles.values()).size, 10)

  await sql(`INSERT INTO ${table} SELECT g, g % 10, 'new' || g FROM generate_series(201, 230) g`)
  await sql(`UPDATE ${table} SET v = 'upd' WHERE id % 7 = 0`)
  await sql(`DELETE FROM ${table} WHERE id % 11 = 0`)
  await sql(`UPDATE ${table} SET grp = (grp + 1) % 10 WHERE id % 13 = 0`)
  await allEqual('after live changes')
})

test('concurrent create_shape of the same definitions: one shape each, same handle for all, no error', { timeout: 60_000 }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('concreate', 'id int PRIMARY KEY, grp int NOT NULL')
  const { connect } = await import('./lib_crash.mjs')
  const clients = await Promise.all([0, 1, 2, 3, 4, 5].map(() => connect()))
  t.after(() => Promise.all(clients.map((c) => c.end().catch(() => {}))))
  // Six sessions create the same 60 definitions at the same moments. Two creations of one
  // definition in the same microsecond computed the same handle and one failed on shapes.handle
  // (seen once in CI as a 400 to a client re-syncing after a rotation); creations of one
  // definition now take turns (advisory lock). This stress does not force that microsecond, it
  // checks the outcome: one shape and one handle per definition, no error.
  const handles = await Promise.all(
    clients.map(async (c) => {
      const out = []
      for (let g = 0; g < 60; g++) {
        const r = await c.query(`SELECT electric_sync.create_shape($1, 'grp = $1', NULL, 'default', ARRAY[$2::text]) AS h`, [table, String(g)])
        out.push(r.rows[0].h)
      }
      return out
    }),
  )
  for (let g = 0; g < 60; g++) {
    const set = new Set(handles.map((h) => h[g]))
    assert.equal(set.size, 1, `definition ${g}: handles ${[...set].join(', ')}`)
  }
  const [{ n }] = await sql(`SELECT count(*)::int AS n FROM electric_sync.shapes WHERE table_name = $1 AND status = 'active'`, [table])
  assert.equal(n, 60)
})
