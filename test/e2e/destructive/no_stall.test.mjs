// No stall: a big initial snapshot must not delay the live changes of other shapes.
//
// A 1,000,000-row table is bulk-loaded (INSERT ... SELECT generate_series) and gets a shape
// requested; while its initial snapshot runs (on a pool connection) and while its client pages
// through it, a small shape's live stream keeps receiving an insert committed every ~50 ms.
// Asserted: every one of those changes reaches the small stream within 2 s of its COMMIT
// returning (max/p50/p99 reported per phase), at least 20 of them committed while the snapshot
// ran; the big shape's client completes its sync (each row exactly once, count = the table).
//
//  1. "right after a bulk load": the shape is requested as soon as the worker has routed past
//     the load (the usual sequence: load a table, then sync it).
//  2. "snapshot only": the same table, a second shape (other columns: a new snapshot) requested
//     once the replication slot's restart point has moved past the load (a CHECKPOINT logs the
//     running-transactions record it needs), so only the snapshot itself is measured.
//
// Size: 1M rows (the issue's figure). With the suite's `chunk_bytes = 10000` the big shape is
// paged through ~20,000 requests; measured on the 2-core dev machine: ~2.5 s to INSERT, ~4 s of
// snapshot before the first response, ~17 s of paging. (Before the worker kept one decoding
// context across batches and wrote snapshot chunks under a skipped replication origin, 1M rows
// took ~57 s for test 1 alone and the test ran with 500k rows.)
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { setup, sql, closePool, waitUpToDate, waitForShapeRows, waitFor, Shape, shapeUrl, http, sleep, uniqueName, qi } from '../lib.mjs'
import { connect } from '../lib_crash.mjs'

const ROWS = 1_000_000
const TICK_MS = 50
const MAX_LATENCY_MS = 2_000

// The big table is shared by the two tests (loading it is the slow part); dropped at the end.
let big = null
after(async () => {
  if (big) await sql(`DROP TABLE IF EXISTS ${qi(big.name)}`).catch(() => {})
  await closePool()
})

/** Creates and bulk-loads the big table once; returns { name, insertMs, lsnBefore, lsnAfter }. */
async function ensureBig() {
  if (big?.loaded) return big
  if (!big) {
    big = { name: uniqueName('nostall_big') }
    await sql(`CREATE TABLE ${qi(big.name)} (id int PRIMARY KEY, a int NOT NULL, b text NOT NULL)`)
  }
  big.lsnBefore = (await sql('SELECT pg_current_wal_lsn()::text AS l'))[0].l
  const t = Date.now()
  await sql(`INSERT INTO ${qi(big.name)} SELECT g, g % 1000, 'row ' || g FROM generate_series(1, ${ROWS}) g`)
  big.insertMs = Date.now() - t
  big.lsnAfter = (await sql('SELECT pg_current_wal_lsn()::text AS l'))[0].l
  big.loaded = true
  return big
}

const pct = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] : NaN)
const fmt = (a) => (a.length ? `max ${a.at(-1).toFixed(0)} ms, p50 ${pct(a, 50).toFixed(0)} ms, p99 ${pct(a, 99).toFixed(0)} ms` : 'none')

/** Samples the replication slot every 250 ms (evidence for a failure message). */
function slotSampler(t0) {
  const samples = []
  let stop = false
  const run = (async () => {
    const c = await connect()
    try {
      while (!stop) {
        const r = await c.query(
          `SELECT restart_lsn::text AS restart, confirmed_flush_lsn::text AS confirmed FROM pg_replication_slots WHERE slot_name = (SELECT slot_name FROM electric_sync.worker_status LIMIT 1)`,
        )
        if (r.rows[0]) samples.push({ at: performance.now() - t0, ...r.rows[0] })
        await sleep(250)
      }
    } finally {
      await c.end().catch(() => {})
    }
  })().catch(() => {})
  return {
    samples,
    async stop() {
      stop = true
      await run
    },
    /** The restart_lsn timeline, one line per change. */
    restartTimeline(origin = 0) {
      const out = []
      for (const s of samples) if (out.at(-1)?.restart !== s.restart) out.push(s)
      return out.map((s) => `${s.at >= origin ? '+' : ''}${(s.at - origin).toFixed(0)} ms restart_lsn=${s.restart}`).join(', ')
    },
  }
}

/**
 * The measured scenario: a small table with a live Shape, a ticker inserting into it every
 * TICK_MS, and a big-shape request (`bigParams`) while the ticks run. `page` pages the big shape to
 * up-to-date (and checks it); otherwise ticks continue `tailMs` after the snapshot's first response.
 */
async function measure(t, ctx, { bigParams, page, tailMs = 1_500, beforeRequest, maxLatency = MAX_LATENCY_MS }) {
  const small = await ctx.table('nostall_small', 'id int PRIMARY KEY, note text NOT NULL')
  const arrived = new Map() // tick id -> performance.now()
  const stream = ctx.stream({ params: { table: small } })
  const shape = new Shape(stream)
  stream.subscribe(
    (msgs) => {
      const now = performance.now()
      for (const m of msgs) if (m.headers?.operation === 'insert' && !arrived.has(Number(m.value.id))) arrived.set(Number(m.value.id), now)
    },
    () => {},
  )
  await waitUpToDate(stream)
  const t0 = performance.now()
  const sampler = slotSampler(t0)
  t.after(() => sampler.stop())

  const pre = await beforeRequest({ small, arrived })

  // --- the ticker -----------------------------------------------------------------------
  const committed = new Map() // id -> performance.now() when its COMMIT returned
  let stopTicker = false
  const tickConn = await connect()
  t.after(() => tickConn.end().catch(() => {}))
  const ticker = (async () => {
    for (let id = 1; !stopTicker && id < 100_000; id++) {
      const start = performance.now()
      await tickConn.query(`INSERT INTO ${qi(small)} VALUES (${id}, 'tick')`)
      committed.set(id, performance.now())
      await sleep(Math.max(1, TICK_MS - (performance.now() - start)))
    }
  })()

  // --- the big shape: raw HTTP from offset=-1 ----------------------------------------------
  let snapStart
  let snapEnd
  let done
  const seen = new Uint8Array(ROWS + 1)
  const stats = { inserts: 0, dup: 0, requests: 0, bytes: 0 }
  try {
    await sleep(500) // some ticks before the request
    let offset = '-1'
    let handle
    snapStart = performance.now()
    for (let i = 0; ; i++) {
      assert.ok(i < 100_000, 'big shape: no up-to-date after 100,000 requests')
      const url = shapeUrl({ ...bigParams, offset, handle })
      // the first request is held while the snapshot runs: generous timeout
      const res = await http(url, {}, i === 0 ? 90_000 : 20_000)
      const text = await res.text()
      stats.requests++
      stats.bytes += text.length
      assert.equal(res.status, 200, `GET ${url} (request ${stats.requests}) -> ${res.status} ${text.slice(0, 300)}`)
      if (i === 0) snapEnd = performance.now()
      handle = res.headers.get('electric-handle')
      offset = res.headers.get('electric-offset')
      assert.ok(handle && offset, `GET ${url}: missing electric-handle/electric-offset`)
      const body = JSON.parse(text)
      for (const m of body) {
        if (m.headers?.operation !== 'insert') continue
        const id = Number(m.value.id)
        if (seen[id]) stats.dup++
        seen[id] = 1
        stats.inserts++
      }
      if (!page) {
        assert.ok(stats.inserts > 0, `GET ${url}: first snapshot chunk without rows`)
        await sleep(tailMs)
        break
      }
      if (body.at(-1)?.headers?.control === 'up-to-date') break
    }
    done = performance.now()
  } finally {
    stopTicker = true
    await ticker
    await sampler.stop()
  }
  const snapMs = snapEnd - snapStart
  t.diagnostic(
    `big shape: snapshot (first response) ${snapMs.toFixed(0)} ms` +
      (page ? `, paging ${(done - snapEnd).toFixed(0)} ms, ${stats.requests} requests, ${(stats.bytes / 1e6).toFixed(1)} MB` : ''),
  )

  // --- every tick arrived; latencies per phase -------------------------------------------
  const missing = () => [...committed.keys()].filter((id) => !arrived.has(id))
  await waitFor(() => missing().length === 0, { timeout: 20_000, message: 'every tick on the small shape' }).catch(() => {
    const m = missing()
    assert.fail(`${m.length} of ${committed.size} ticks never reached the small shape (first: ${m.slice(0, 10)})`)
  })
  const phases = { before: [], snapshot: [], after: [] }
  const rel = (x) => `${x >= snapStart ? '+' : ''}${(x - snapStart).toFixed(0)} ms`
  for (const [id, ok] of committed) {
    const l = arrived.get(id) - ok
    ;(ok < snapStart ? phases.before : ok <= snapEnd ? phases.snapshot : phases.after).push(l)
  }
  for (const a of Object.values(phases)) a.sort((x, y) => x - y)
  const all = [...phases.before, ...phases.snapshot, ...phases.after].sort((x, y) => x - y)
  t.diagnostic(`small shape latency (arrival - COMMIT ok), ${all.length} ticks: ${fmt(all)}`)
  t.diagnostic(`  before the request (${phases.before.length}): ${fmt(phases.before)}`)
  t.diagnostic(`  during the snapshot (${phases.snapshot.length}): ${fmt(phases.snapshot)}`)
  t.diagnostic(`  after its first response${page ? ', while paging' : ''} (${phases.after.length}): ${fmt(phases.after)}`)

  assert.ok(phases.snapshot.length >= 20, `only ${phases.snapshot.length} changes committed while the snapshot ran (${snapMs.toFixed(0)} ms): no overlap`)
  // The bound applies from the big shape's request on (the snapshot, then paging): that is what
  // must not stall. Changes committed before it wait behind the bulk load's own decoding (one
  // transaction of ROWS rows is decoded as a whole): reported above, not asserted.
  const slow = [...committed].filter(([id, ok]) => ok >= snapStart && arrived.get(id) - ok > maxLatency)
  if (slow.length) {
    // arrival bursts: the small stream got its changes in batches this far apart
    const bursts = [...new Set([...arrived.values()])].sort((x, y) => x - y)
    const gaps = bursts.slice(1).map((x, i) => x - bursts[i]).filter((g) => g > 500)
    assert.fail(
      `${slow.length} of ${committed.size} changes on the small shape took more than ${maxLatency} ms ` +
        `(snapshot from +0 to +${snapMs.toFixed(0)} ms${page ? `, paging until ${rel(done)}` : ''}):\n` +
        `  first: ${slow.slice(0, 3).map(([id, ok]) => `tick ${id} committed ${rel(ok)} arrived ${rel(arrived.get(id))}`).join('; ')}\n` +
        `  last: ${slow.slice(-3).map(([id, ok]) => `tick ${id} committed ${rel(ok)} arrived ${rel(arrived.get(id))}`).join('; ')}\n` +
        `  the small stream went quiet ${gaps.length} times for > 500 ms (longest ${Math.max(...gaps).toFixed(0)} ms, median ${pct(gaps.sort((x, y) => x - y), 50).toFixed(0)} ms)\n` +
        `  ${pre?.note ?? ''}\n` +
        `  replication slot (times relative to the big request): ${sampler.restartTimeline(snapStart - t0)}`,
    )
  }

  if (page) {
    const count = Number((await sql(`SELECT count(*) AS n FROM ${qi(bigParams.table)}`))[0].n)
    assert.equal(stats.dup, 0, 'big shape: rows received twice')
    assert.equal(stats.inserts, count, 'big shape: row count')
    let never = 0
    for (let id = 1; id <= ROWS; id++) if (!seen[id]) never++
    assert.equal(never, 0, 'big shape: rows never received')
  }
  await waitForShapeRows(shape, `SELECT * FROM ${qi(small)}`)
}

test(`no stall: right after a ${ROWS}-row bulk load, its snapshot and paging do not delay another shape's live changes (< ${MAX_LATENCY_MS} ms)`, { timeout: 150_000 }, async (t) => {
  const t0 = Date.now()
  const ctx = setup(t)
  await measure(t, ctx, {
    page: true,
    bigParams: { get table() { return big.name } },
    beforeRequest: async ({ small, arrived }) => {
      const b = await ensureBig()
      const tt = Date.now()
      // the worker has routed past the load when a later change reaches the small shape
      await sql(`INSERT INTO ${qi(small)} VALUES (0, 'barrier')`)
      await waitFor(() => arrived.has(0), { timeout: 60_000, message: 'the barrier row after the bulk load' })
      const note = `bulk load of ${ROWS} rows: ${b.insertMs} ms, WAL ${b.lsnBefore} .. ${b.lsnAfter}; the worker routed past it ${Date.now() - tt} ms later`
      t.diagnostic(note)
      return { note }
    },
  })
  t.diagnostic(`total ${Date.now() - t0} ms`)
})

test(`no stall: a ${ROWS}-row snapshot alone (slot past the bulk load) does not delay another shape's live changes (< ${MAX_LATENCY_MS} ms)`, { timeout: 90_000 }, async (t) => {
  const t0 = Date.now()
  const ctx = setup(t)
  await measure(t, ctx, {
    page: false,
    // other columns than test 1: a new shape, so a new snapshot of all rows
    bigParams: { get table() { return big.name }, columns: ['id', 'a'] },
    beforeRequest: async ({ small, arrived }) => {
      const b = await ensureBig()
      const tt = Date.now()
      await sql(`INSERT INTO ${qi(small)} VALUES (0, 'barrier')`)
      await waitFor(() => arrived.has(0), { timeout: 60_000, message: 'the barrier row after the bulk load' })
      // A CHECKPOINT logs the running-transactions record that lets the slot's restart point move
      // past the load once the worker confirms beyond it.
      await sql('CHECKPOINT')
      await sql(`INSERT INTO ${qi(small)} VALUES (-1, 'barrier 2')`)
      await waitFor(
        async () => (await sql(`SELECT bool_and(restart_lsn > $1::pg_lsn) AS ok FROM pg_replication_slots WHERE slot_name = (SELECT slot_name FROM electric_sync.worker_status LIMIT 1)`, [b.lsnAfter]))[0].ok,
        { timeout: 40_000, interval: 200, message: `the slot's restart_lsn past the bulk load (${b.lsnAfter})` },
      )
      const note = `slot restart_lsn past the bulk load (${b.lsnAfter}) ${Date.now() - tt} ms after the barrier insert`
      t.diagnostic(note)
      return { note }
    },
  })
  t.diagnostic(`total ${Date.now() - t0} ms`)
})
