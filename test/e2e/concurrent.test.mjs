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
