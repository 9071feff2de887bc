// Exactly once at a shape's birth: a transaction whose commit record precedes the shape's
// creation (so the engine decoded it before the shape existed and logged nothing of it) but
// whose backend is still listed as running when the initial snapshot is taken (so the snapshot
// does not see it either) must not be lost. Reproduced deterministically with a synchronous-
// replication wait: with synchronous_standby_names naming a standby that never connects, a
// committing session has written (and flushed) its commit record and marked itself committed,
// but stays in the proc array until the wait ends. The shape created meanwhile must end up with
// the row: its racing snapshot is detected by the engine, the shape is invalidated, the client
// re-syncs, and once the wait ends the new snapshot sees the row.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { setup, sql, closePool, waitFor, waitForShapeRows, sleep } from './lib.mjs'
import { connect } from './lib_crash.mjs'

after(closePool)

async function reload(settle = 1500) {
  await sql('SELECT pg_reload_conf()')
  await sleep(settle) // every process (worker, pool, checkpointer) has read the configuration
}

test('snapshot race: a commit still in the proc array when the snapshot is taken is not lost', { timeout: 90_000 }, async (t) => {
  let held = null
  // Registered before setup(t): the settings must be reset (ending the held COMMIT) before the
  // table is dropped, or the DROP would wait for the held transaction forever.
  t.after(async () => {
    await sql('ALTER SYSTEM RESET synchronous_standby_names')
    await reload(500)
    await sql('ALTER SYSTEM RESET synchronous_commit')
    await reload(500)
    if (held) await held.end().catch(() => {})
  })
  const ctx = setup(t)
  const table = await ctx.table('race', 'id int PRIMARY KEY, v text')
  // (as the first shape of a table would: done first, so create_shape takes no exclusive lock)
  await sql(`ALTER TABLE "${table}" REPLICA IDENTITY FULL`)
  await sql(`INSERT INTO "${table}" VALUES (1, 'before')`)
  // Everyone commits locally, then a standby that never comes is required: only the session
  // that asks for it (synchronous_commit = on) waits.
  await sql(`ALTER SYSTEM SET synchronous_commit = 'local'`)
  await reload()
  await sql(`ALTER SYSTEM SET synchronous_standby_names = 'es_test_standby_that_never_connects'`)
  await reload()

  held = await connect()
  await held.query('SET synchronous_commit = on')
  const pid = (await held.query('SELECT pg_backend_pid() AS p')).rows[0].p
  await held.query('BEGIN')
  const xid = (await held.query(`INSERT INTO "${table}" VALUES (2, 'raced') RETURNING pg_current_xact_id()::text AS x`)).rows[0].x
  const commit = held.query('COMMIT').catch((e) => e) // waits for the standby
  // Its commit record is written and flushed, clog says committed, and it waits for the standby
  // still listed as running (pg_xact_status reports a listed transaction as "in progress").
  await waitFor(async () => (await sql('SELECT wait_event FROM pg_stat_activity WHERE pid = $1', [pid]))[0]?.wait_event === 'SyncRep',
    { timeout: 10_000, message: 'the held COMMIT to wait for the standby' })
  const visible = await sql('SELECT pg_visible_in_snapshot($1::xid8, pg_current_snapshot()) AS v', [xid])
  assert.equal(visible[0].v, false, 'a new snapshot does not see the committed transaction')

  // The shape is created now: its snapshot cannot see row 2, and the engine logged nothing of it.
  const shape = ctx.shape({ table })
  await waitFor(async () => (await sql(
    `SELECT count(*)::int AS n FROM electric_sync.shapes WHERE table_name = $1 AND status = 'invalidated'
        AND invalid_reason = 'snapshot missed a committed transaction'`, [table]))[0].n >= 1,
    { timeout: 20_000, message: 'the racing snapshot to be detected (shape invalidated)' })

  // The wait ends: the transaction leaves the proc array, the client's next shape sees the row.
  await sql('ALTER SYSTEM RESET synchronous_standby_names')
  await reload(500)
  const r = await commit
  assert.ok(!(r instanceof Error), `the held COMMIT failed: ${r?.message}`)
  await waitForShapeRows(shape, `SELECT * FROM "${table}"`, [], { timeout: 30_000 })
})
