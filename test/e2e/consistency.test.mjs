// Consistency guarantees the client relies on: snapshot + live stream without gap or duplicate
// while writers run, large transactions applied atomically, a second stream on the same shape in
// the same process, and same key bytes in snapshot and live paths.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { setup, sql, closePool, waitUpToDate, waitForShapeRows, changes, sleep, TEST_TIMEOUT } from './lib.mjs'

after(closePool)

/** What the stream said about one key, and around it (for failure messages). */
function describe(messages, key) {
  const out = []
  messages.forEach((m, i) => {
    if (m.key === key) out.push(`#${i} ${m.headers.operation} lsn=${m.headers.lsn ?? 'snapshot'} txids=${m.headers.txids ?? ''}`)
  })
  const snapEnd = messages.findIndex((m) => m.headers?.control === 'snapshot-end')
  if (snapEnd >= 0) out.push(`snapshot-end at #${snapEnd}: ${JSON.stringify(messages[snapEnd].headers)}`)
  const firstLive = messages.find((m) => m.headers?.lsn)
  if (firstLive) out.push(`first live: ${firstLive.key} ${firstLive.headers.operation} txids=${firstLive.headers.txids}`)
  out.push(`must-refetch: ${messages.filter((m) => m.headers?.control === 'must-refetch').length}`)
  const txs = []
  for (const m of messages) {
    if (!m.headers?.lsn) continue
    const tag = `${m.headers.txids}@${m.headers.lsn}`
    if (txs.at(-1)?.tag !== tag) txs.push({ tag, ops: [] })
    txs.at(-1).ops.push(`${m.headers.operation[0]}${m.key.split('/').pop()}`)
  }
  out.push(`live txns: ${txs.slice(0, 12).map((x) => `${x.tag}[${x.ops.join(' ')}]`).join(' ')}`)
  return out.join('; ')
}

/** Replays change messages into a map, failing on an insert of a present key or an update/delete of an absent one. */
function replay(messages, label) {
  const rows = new Map()
  for (const m of messages) {
    if (m.headers?.control === 'must-refetch') rows.clear()
    const op = m.headers?.operation
    if (!op) continue
    if (op === 'insert') {
      assert.ok(!rows.has(m.key), `${label}: duplicate insert of ${m.key} (${describe(messages, m.key)})`)
      rows.set(m.key, m.value)
    } else if (op === 'update') {
      assert.ok(rows.has(m.key), `${label}: update of absent ${m.key} (${describe(messages, m.key)})`)
      rows.set(m.key, { ...rows.get(m.key), ...m.value })
    } else if (op === 'delete') {
      assert.ok(rows.has(m.key), `${label}: delete of absent ${m.key} (${describe(messages, m.key)})`)
      rows.delete(m.key)
    }
  }
  return rows
}

test('consistency: shapes started while writers run have no gap and no duplicate', { timeout: 60_000 }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('cons', 'id int PRIMARY KEY, v int NOT NULL')
  await sql(`INSERT INTO ${table} SELECT g, 0 FROM generate_series(1, 200) g`)
  let stop = false
  let next = 1000
  const writer = (async () => {
    while (!stop) {
      const id = next++
      await sql(`BEGIN; INSERT INTO ${table} VALUES (${id}, 1); UPDATE ${table} SET v = v + 1 WHERE id = ${(id % 200) + 1}; DELETE FROM ${table} WHERE id = ${id - 5}; COMMIT`)
    }
  })()
  const streams = []
  try {
    for (let i = 0; i < 5; i++) {
      // the same shape each time: later streams join an existing shape mid-flight
      const s = ctx.stream({ params: { table } })
      streams.push({ s, got: ctx.collect(s) })
      await sleep(300)
    }
    const w = ctx.stream({ params: { table, where: 'v > 0' } })
    streams.push({ s: w, got: ctx.collect(w), where: 'v > 0' })
    await sleep(500)
  } finally {
    stop = true
    await writer
  }
  for (const [i, { s, got, where }] of streams.entries()) {
    await waitUpToDate(s)
    const expected = (await sql(`SELECT * FROM ${table}${where ? ` WHERE ${where}` : ''}`)).map((r) => `${r.id}:${r.v}`).sort()
    // let the stream catch up with the last commit
    const deadline = Date.now() + 20_000
    let actual
    for (;;) {
      const rows = replay(got.messages, `stream ${i}`)
      actual = [...rows.values()].map((r) => `${r.id}:${r.v}`).sort()
      if (JSON.stringify(actual) === JSON.stringify(expected) || Date.now() > deadline) break
      await sleep(50)
    }
    assert.deepEqual(actual, expected, `stream ${i}${where ? ` (${where})` : ''}`)
  }
})

test('consistency: a 1,000-row transaction is applied atomically by Shape', { timeout: 60_000 }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('atomic', 'id int PRIMARY KEY, payload text NOT NULL')
  await sql(`INSERT INTO ${table} SELECT g, 'p' FROM generate_series(1, 10) g`)
  const shape = ctx.shape({ table })
  await waitForShapeRows(shape, `SELECT * FROM ${table}`)
  const seen = []
  shape.subscribe(({ rows }) => seen.push(rows.length))
  await sql(`INSERT INTO ${table} SELECT g, repeat('y', 40) FROM generate_series(11, 1010) g`)
  await waitForShapeRows(shape, `SELECT * FROM ${table}`, [], { timeout: 30_000 })
  await sql(`BEGIN; DELETE FROM ${table} WHERE id > 10; UPDATE ${table} SET payload = 'q'; COMMIT`)
  await waitForShapeRows(shape, `SELECT * FROM ${table}`, [], { timeout: 30_000 })
  for (const n of seen) assert.ok(n === 10 || n === 1010, `a subscriber saw a partial transaction: ${n} rows (all: ${seen})`)
})

test('consistency: a second stream on the same shape in the same process reaches up-to-date', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('second', 'id int PRIMARY KEY, v text')
  await sql(`INSERT INTO ${table} VALUES (1, 'a')`)
  const first = ctx.shape({ table })
  await waitForShapeRows(first, `SELECT * FROM ${table}`)
  await sql(`INSERT INTO ${table} VALUES (2, 'b')`)
  await waitForShapeRows(first, `SELECT * FROM ${table}`)
  // the client remembers the cursor of the first stream (replay mode); the second must still
  // get its up-to-date (servers must not send electric-cursor on non-live responses)
  const second = ctx.shape({ table })
  await waitForShapeRows(second, `SELECT * FROM ${table}`, [], { timeout: 15_000 })
  await sql(`INSERT INTO ${table} VALUES (3, 'c')`)
  await waitForShapeRows(second, `SELECT * FROM ${table}`)
  await waitForShapeRows(first, `SELECT * FROM ${table}`)
})

test('consistency: snapshot and live keys are identical for awkward key values', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('awk', 'k text PRIMARY KEY, v int')
  const keys = ['a/b', '//', 'quote"s', 'sp ace', 'ünï', "'", '\\back', '_', '']
  for (const [i, k] of keys.entries()) await sql(`INSERT INTO ${table} VALUES ($1, $2)`, [k, i])
  const shape = ctx.shape({ table })
  await waitForShapeRows(shape, `SELECT * FROM ${table}`)
  await sql(`UPDATE ${table} SET v = v + 100`)
  await waitForShapeRows(shape, `SELECT * FROM ${table}`)
  await sql(`DELETE FROM ${table} WHERE v % 2 = 0`)
  await waitForShapeRows(shape, `SELECT * FROM ${table}`)
})

test('consistency: unchanged TOASTed values survive updates (default and full replica)', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('toast', 'id int PRIMARY KEY, big text, n int')
  // ~40 kB of incompressible text: stored out of line
  await sql(`INSERT INTO ${table} SELECT g, (SELECT string_agg(md5(g::text || i::text), '') FROM generate_series(1, 1250) i), 0 FROM generate_series(1, 3) g`)
  const a = ctx.shape({ table })
  const b = ctx.shape({ table, replica: 'full' })
  const full = ctx.collect(b.stream)
  await waitForShapeRows(a, `SELECT * FROM ${table}`)
  await waitForShapeRows(b, `SELECT * FROM ${table}`)
  await sql(`UPDATE ${table} SET n = n + 1`)
  await waitForShapeRows(a, `SELECT * FROM ${table}`)
  await waitForShapeRows(b, `SELECT * FROM ${table}`)
  const upd = changes(full.messages).filter((m) => m.headers.operation === 'update')
  assert.equal(upd.length, 3)
  for (const m of upd) {
    assert.equal(typeof m.value.big, 'string', 'replica full: the unchanged TOASTed value is in value')
    assert.equal(m.value.big.length, 40_000)
    assert.deepEqual(Object.keys(m.old_value), ['n'])
  }
  await sql(`DELETE FROM ${table} WHERE id = 1`)
  await waitForShapeRows(b, `SELECT * FROM ${table}`)
})
