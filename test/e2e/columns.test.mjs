// Column selection: only the selected columns are synced (quoted identifiers included), and
// updates that touch only non-selected columns do not disturb the shape.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { setup, sql, closePool, waitForShapeRows, waitUpToDate, changes, TEST_TIMEOUT } from './lib.mjs'

after(closePool)

test('columns: only selected columns are synced, live too', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('cols', 'id int PRIMARY KEY, title text, secret text, "Mixed Col" int')
  await sql(`INSERT INTO ${table} SELECT g, 't' || g, 's' || g, g FROM generate_series(1, 10) g`)
  const shape = ctx.shape({ table, columns: ['id', 'title', 'Mixed Col'] })
  await waitForShapeRows(shape, `SELECT id, title, "Mixed Col" FROM ${table}`)
  for (const r of shape.currentRows) assert.deepEqual(Object.keys(r).sort(), ['Mixed Col', 'id', 'title'])

  await sql(`INSERT INTO ${table} VALUES (11, 't11', 's11', 11)`)
  await sql(`UPDATE ${table} SET title = 'changed', "Mixed Col" = 99 WHERE id = 1`)
  await sql(`DELETE FROM ${table} WHERE id = 2`)
  await waitForShapeRows(shape, `SELECT id, title, "Mixed Col" FROM ${table}`)
  for (const r of shape.currentRows) assert.ok(!('secret' in r), 'secret column leaked')
})

test('columns: updates of non-selected columns only produce no visible change', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('cols2', 'id int PRIMARY KEY, title text, secret text')
  await sql(`INSERT INTO ${table} VALUES (1, 'a', 'x'), (2, 'b', 'y')`)
  const stream = ctx.stream({ params: { table, columns: ['id', 'title'] } })
  const got = ctx.collect(stream)
  await waitUpToDate(stream)
  const before = changes(got.messages).length
  await sql(`UPDATE ${table} SET secret = 'z' WHERE id = 1`)
  await sql(`UPDATE ${table} SET title = 'bb' WHERE id = 2`)
  // wait for the visible change, then check no message leaked the secret
  const deadline = Date.now() + 15_000
  while (!changes(got.messages).some((m) => m.value.title === 'bb')) {
    if (stream.error) throw stream.error
    if (Date.now() > deadline) assert.fail('update of title not received')
    await new Promise((r) => setTimeout(r, 25))
  }
  const after = changes(got.messages).slice(before)
  for (const m of after) assert.ok(!('secret' in m.value), `secret leaked: ${JSON.stringify(m)}`)
  assert.ok(!after.some((m) => m.key.endsWith('/"1"')), `update of a non-selected column produced: ${JSON.stringify(after)}`)
})

test('columns: unquoted and quoted column names in the raw param', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('cols3', 'id int PRIMARY KEY, title text, other int')
  await sql(`INSERT INTO ${table} VALUES (1, 'a', 1)`)
  // the client always quotes; the server must also accept an unquoted list (lower-cased)
  const res = await fetch(`${(await import('./lib.mjs')).SHAPE_URL}?table=${table}&offset=-1&columns=id,TITLE`, { signal: AbortSignal.timeout(10_000) })
  assert.equal(res.status, 200, await res.clone().text())
  const body = await res.json()
  const rows = body.filter((m) => m.value).map((m) => m.value)
  assert.deepEqual(rows, [{ id: '1', title: 'a' }])
})
