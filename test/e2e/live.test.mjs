// Live changes through long-polling: insert, update, delete, multi-statement transactions,
// primary-key changes, and the shape of the change messages (lsn, txids, op_position, last).
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { setup, sql, tx, closePool, waitForShapeRows, waitUpToDate, waitForMessage, changes, controls, TEST_TIMEOUT } from './lib.mjs'

after(closePool)

test('live: insert, update, delete reach the Shape', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('live', 'id int PRIMARY KEY, title text, n int')
  await sql(`INSERT INTO ${table} VALUES (1, 'one', 1), (2, 'two', 2)`)
  const shape = ctx.shape({ table })
  await waitForShapeRows(shape, `SELECT * FROM ${table}`)

  await sql(`INSERT INTO ${table} VALUES (3, 'three', 3)`)
  await waitForShapeRows(shape, `SELECT * FROM ${table}`)
  await sql(`UPDATE ${table} SET title = 'ONE', n = NULL WHERE id = 1`)
  await waitForShapeRows(shape, `SELECT * FROM ${table}`)
  await sql(`DELETE FROM ${table} WHERE id = 2`)
  await waitForShapeRows(shape, `SELECT * FROM ${table}`)
  assert.deepEqual(shape.currentRows.map((r) => r.id).sort(), [1, 3])
})

test('live: change messages carry operation, relation, lsn, txids, op_position and last', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('livemsg', 'id int PRIMARY KEY, title text')
  await sql(`INSERT INTO ${table} VALUES (1, 'one')`)
  const stream = ctx.stream({ params: { table } })
  const got = ctx.collect(stream)
  await waitUpToDate(stream)
  const n0 = got.messages.length

  await tx(async (c) => {
    await c.query(`INSERT INTO ${table} VALUES (2, 'two')`)
    await c.query(`UPDATE ${table} SET title = 'uno' WHERE id = 1`)
    await c.query(`DELETE FROM ${table} WHERE id = 2`)
  })
  const xid = Number((await sql(`SELECT xmin::text::bigint AS x FROM ${table} WHERE id = 1`))[0].x)
  const del = await waitForMessage(got, (m) => m.headers?.operation === 'delete', { stream, message: 'the delete' })
  await waitForMessage(got, (m, i) => m.headers?.control === 'up-to-date' && got.messages.indexOf(m) > got.messages.indexOf(del), { stream, message: 'up-to-date after the txn' })

  const live = changes(got.messages.slice(n0))
  assert.deepEqual(live.map((m) => m.headers.operation), ['insert', 'update', 'delete'])
  const [ins, upd, dl] = live
  assert.equal(ins.key, `"public"."${table}"/"2"`)
  assert.deepEqual(ins.value, { id: 2, title: 'two' })
  // replica=default: update carries the PK and the changed columns; delete carries the PK
  assert.deepEqual(upd.value, { id: 1, title: 'uno' })
  assert.equal(upd.old_value, undefined)
  assert.equal(dl.key, `"public"."${table}"/"2"`)
  assert.equal(dl.value.id, 2)
  for (const m of live) {
    assert.deepEqual(m.headers.relation, ['public', table])
    assert.equal(typeof m.headers.lsn, 'string', 'lsn is a decimal string')
    assert.match(m.headers.lsn, /^[0-9]+$/)
    assert.ok(Array.isArray(m.headers.txids), 'txids is an array')
    assert.deepEqual(m.headers.txids, [xid])
    assert.equal(typeof m.headers.op_position, 'number')
  }
  assert.equal(new Set(live.map((m) => m.headers.lsn)).size, 1, 'one transaction = one commit lsn')
  assert.equal(dl.headers.last, true, 'last op of the txn is marked last')
  assert.ok(!ins.headers.last && !upd.headers.last, 'only the last op is marked last')
  const ops = live.map((m) => m.headers.op_position)
  assert.ok(ops[0] < ops[1] && ops[1] < ops[2], `op_position increases: ${ops}`)
  const utd = controls(got.messages.slice(n0), 'up-to-date').at(-1)
  assert.match(utd.headers.global_last_seen_lsn, /^[0-9]+$/, 'global_last_seen_lsn is a decimal string')
  assert.ok(BigInt(utd.headers.global_last_seen_lsn) >= BigInt(dl.headers.lsn))
})

test('live: a transaction is delivered atomically and in commit order', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('livetx', 'id int PRIMARY KEY, v int NOT NULL')
  const stream = ctx.stream({ params: { table } })
  const got = ctx.collect(stream)
  await waitUpToDate(stream)
  // 10 transactions of 20 inserts each
  for (let k = 0; k < 10; k++) {
    await sql(`INSERT INTO ${table} SELECT g, ${k} FROM generate_series(${k * 20 + 1}, ${k * 20 + 20}) g`)
  }
  await waitForMessage(got, () => changes(got.messages).length >= 200, { stream, message: '200 inserts' })
  await waitUpToDate(stream)
  const ins = changes(got.messages)
  assert.equal(ins.length, 200)
  assert.deepEqual(ins.map((m) => m.value.id), Array.from({ length: 200 }, (_, i) => i + 1), 'commit order')
  // every up-to-date sits on a transaction boundary (after a multiple of 20 changes)
  let seen = 0
  for (const m of got.messages) {
    if (m.headers?.operation) seen++
    if (m.headers?.control === 'up-to-date') assert.equal(seen % 20, 0, `up-to-date inside a transaction after ${seen} changes`)
  }
})

test('live: a primary-key change is seen as delete of the old key and insert of the new one', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('livepk', 'id int PRIMARY KEY, title text')
  await sql(`INSERT INTO ${table} VALUES (1, 'a'), (2, 'b')`)
  const shape = ctx.shape({ table })
  await waitForShapeRows(shape, `SELECT * FROM ${table}`)
  await sql(`UPDATE ${table} SET id = 10 WHERE id = 1`)
  await waitForShapeRows(shape, `SELECT * FROM ${table}`)
  assert.deepEqual(shape.currentRows.map((r) => r.id).sort((a, b) => a - b), [2, 10])
})

test('live: a table without a primary key syncs (all columns form the key)', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('nopk', 'a int, b text')
  await sql(`INSERT INTO ${table} VALUES (1, 'x'), (2, NULL)`)
  const shape = ctx.shape({ table })
  await waitForShapeRows(shape, `SELECT * FROM ${table}`)
  await sql(`INSERT INTO ${table} VALUES (3, 'z')`)
  await sql(`DELETE FROM ${table} WHERE a = 1`)
  await waitForShapeRows(shape, `SELECT * FROM ${table}`)
})

test('live: a long-poll with no change answers up-to-date after the timeout and stays live', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('idle', 'id int PRIMARY KEY')
  const shape = ctx.shape({ table })
  await waitUpToDate(shape)
  // the cluster's long_poll_timeout is 4 s: stay idle across two of them
  await new Promise((r) => setTimeout(r, 9_000))
  assert.ok(!shape.stream.error, `stream error: ${shape.stream.error}`)
  await sql(`INSERT INTO ${table} VALUES (1)`)
  await waitForShapeRows(shape, `SELECT * FROM ${table}`)
})
