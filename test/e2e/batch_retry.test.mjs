// A routing batch that fails (here: injected just before its commit) rolls back, and the worker
// decodes the same changes again from its slot: clients get every change exactly once, with no
// 409 and no worker restart. This exercises the persistent decoding context's error path
// (src/decode/slot_reader.cpp: the context is freed and reopened, the slot released and re-acquired).
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { setup, sql, closePool, waitFor, waitUpToDate, isChangeMessage, TEST_TIMEOUT } from './lib.mjs'

after(closePool)

/** Applies change messages to a map; fails on an insert of a present key or an update/delete of an absent one. */
function replay(messages) {
  const rows = new Map()
  for (const m of messages) {
    assert.notEqual(m.headers?.control, 'must-refetch', 'unexpected must-refetch')
    if (!isChangeMessage(m)) continue
    const op = m.headers.operation
    if (op === 'insert') {
      assert.ok(!rows.has(m.key), `duplicate insert of ${m.key}`)
      rows.set(m.key, { ...m.value })
    } else if (op === 'update') {
      assert.ok(rows.has(m.key), `update of absent ${m.key}`)
      rows.set(m.key, { ...rows.get(m.key), ...m.value })
    } else {
      assert.ok(rows.has(m.key), `delete of absent ${m.key}`)
      rows.delete(m.key)
    }
  }
  return [...rows.values()].map((r) => `${r.id}:${r.v}`).sort()
}

test('batch retry: failed batches are decoded again, clients see every change once', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('retry', 'id int PRIMARY KEY, v int NOT NULL')
  await sql(`INSERT INTO ${table} SELECT g, 0 FROM generate_series(1, 20) g`)
  const stream = ctx.stream({ params: { table } })
  const got = ctx.collect(stream)
  await waitUpToDate(stream)
  const [{ pid }] = await sql('SELECT pid FROM electric_sync.worker_status')
  t.after(() => sql('SELECT electric_sync._debug_fail_batches(0)'))

  await sql('SELECT electric_sync._debug_fail_batches(3)')
  for (let i = 0; i < 30; i++) {
    await sql(`BEGIN; INSERT INTO ${table} VALUES (${100 + i}, ${i}); UPDATE ${table} SET v = v + 1 WHERE id = ${(i % 20) + 1};
               DELETE FROM ${table} WHERE id = ${100 + i - 3}; COMMIT`)
  }
  const expected = (await sql(`SELECT id, v FROM ${table}`)).map((r) => `${r.id}:${r.v}`).sort()
  await waitFor(() => JSON.stringify(replay(got.messages)) === JSON.stringify(expected), {
    message: 'the stream to equal the table',
  })
  const [w] = await sql('SELECT pid, last_error FROM electric_sync.worker_status')
  assert.equal(w.pid, pid, 'the worker was not restarted')
  assert.match(w.last_error ?? '', /injected batch failure/, 'the injected failures happened')
  const [{ n }] = await sql(`SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name = current_setting('electric_sync.slot_name') AND active_pid = $1`, [pid])
  assert.equal(n, 1, 'the worker holds its slot again')

  // and it keeps streaming afterwards
  await sql(`INSERT INTO ${table} VALUES (1000, 7)`)
  const expected2 = (await sql(`SELECT id, v FROM ${table}`)).map((r) => `${r.id}:${r.v}`).sort()
  await waitFor(() => JSON.stringify(replay(got.messages)) === JSON.stringify(expected2), {
    message: 'the stream to get the change after the failures',
  })
})

test('batch retry: _debug_fail_batches is superuser-only and rejects negative counts', { timeout: TEST_TIMEOUT }, async () => {
  await assert.rejects(sql('SELECT electric_sync._debug_fail_batches(-1)'), /0 or more/)
  const [{ ok }] = await sql(`SELECT NOT has_function_privilege('public', 'electric_sync._debug_fail_batches(integer)', 'EXECUTE') AS ok`)
  assert.ok(ok)
})
