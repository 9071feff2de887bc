// @electric-sql/pglite-sync: syncShapeToTable mirrors a shape into an in-process PGlite database,
// which must end equal to the source rows after inserts, updates and deletes.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { PGlite } from '@electric-sql/pglite'
import { electricSync } from '@electric-sql/pglite-sync'
import { setup, sql, closePool, normRows, waitFor, SHAPE_URL, describeError } from './lib.mjs'

after(closePool)

// PGlite boots a WASM Postgres: allow for a slow, shared machine.
const PGLITE_TIMEOUT = 120_000

async function waitLocalEqual(pgl, local, remoteQuery, errors, label) {
  let lastLocal, lastRemote
  try {
    await waitFor(
      async () => {
        if (errors.length) throw Object.assign(new Error(`sync failed: ${describeError(errors[0])}`), { fatal: true })
        lastLocal = normRows((await pgl.query(`SELECT * FROM ${local}`)).rows)
        lastRemote = normRows(await sql(remoteQuery))
        return JSON.stringify(lastLocal) === JSON.stringify(lastRemote)
      },
      { timeout: 30_000, interval: 100, message: `${label}: PGlite table to equal the source` },
    )
  } catch (e) {
    if (!e.fatal && lastLocal) assert.deepEqual(lastLocal, lastRemote, e.message)
    throw e
  }
}

test('pglite-sync: syncShapeToTable keeps a PGlite table equal to the source', { timeout: PGLITE_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('pgl', 'id int PRIMARY KEY, title text NOT NULL, done bool, n bigint, meta jsonb')
  await sql(`INSERT INTO ${table} SELECT g, 'todo ' || g, g % 2 = 0, g * 1000000000000, jsonb_build_object('g', g) FROM generate_series(1, 100) g`)

  const pgl = await PGlite.create({ extensions: { electric: electricSync() } })
  t.after(() => pgl.close().catch(() => {}))
  await pgl.exec(`CREATE TABLE todo (id int PRIMARY KEY, title text NOT NULL, done bool, n bigint, meta jsonb)`)

  const errors = []
  let initial = false
  const sub = await pgl.electric.syncShapeToTable({
    shape: { url: SHAPE_URL, params: { table }, backoffOptions: { initialDelay: 100, maxDelay: 1000, multiplier: 1.5, maxRetries: 10 } },
    table: 'todo',
    primaryKey: ['id'],
    shapeKey: null,
    onInitialSync: () => {
      initial = true
    },
    onError: (e) => errors.push(e),
  })
  t.after(() => sub.unsubscribe())

  await waitLocalEqual(pgl, 'todo', `SELECT * FROM ${table}`, errors, 'initial sync')
  await waitFor(() => initial && sub.isUpToDate, { timeout: 30_000, message: 'onInitialSync and isUpToDate' })

  await sql(`INSERT INTO ${table} VALUES (101, 'new', false, 1, '{"x": [1]}')`)
  await sql(`UPDATE ${table} SET title = 'changed', done = NOT done WHERE id % 10 = 0`)
  await sql(`DELETE FROM ${table} WHERE id BETWEEN 50 AND 60`)
  await sql(`BEGIN; INSERT INTO ${table} VALUES (102, 'tx', NULL, NULL, NULL); UPDATE ${table} SET meta = NULL WHERE id = 1; DELETE FROM ${table} WHERE id = 2; COMMIT`)
  await waitLocalEqual(pgl, 'todo', `SELECT * FROM ${table}`, errors, 'after live changes')
})

test('pglite-sync: a where-filtered shape with column mapping', { timeout: PGLITE_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('pgl2', 'id int PRIMARY KEY, status text NOT NULL, title text')
  await sql(`INSERT INTO ${table} SELECT g, CASE WHEN g % 2 = 0 THEN 'open' ELSE 'closed' END, 't' || g FROM generate_series(1, 20) g`)
  const pgl = await PGlite.create({ extensions: { electric: electricSync() } })
  t.after(() => pgl.close().catch(() => {}))
  await pgl.exec(`CREATE TABLE open_items (item_id int PRIMARY KEY, label text)`)
  const errors = []
  const sub = await pgl.electric.syncShapeToTable({
    shape: { url: SHAPE_URL, params: { table, where: `status = 'open'`, columns: ['id', 'title'] } },
    table: 'open_items',
    primaryKey: ['item_id'],
    mapColumns: { item_id: 'id', label: 'title' },
    shapeKey: null,
    onError: (e) => errors.push(e),
  })
  t.after(() => sub.unsubscribe())
  const remote = `SELECT id AS item_id, title AS label FROM ${table} WHERE status = 'open'`
  await waitLocalEqual(pgl, 'open_items', remote, errors, 'initial sync')
  await sql(`UPDATE ${table} SET status = 'open' WHERE id = 1`)
  await sql(`UPDATE ${table} SET status = 'closed' WHERE id = 2`)
  await sql(`UPDATE ${table} SET title = 'x' WHERE id = 4`)
  await waitLocalEqual(pgl, 'open_items', remote, errors, 'after moves')
})
