// Exactly once across crashes (destructive; run.sh runs it after the others, before lifecycle).
//
// A writer commits 3,000 small transactions (inserts/updates/deletes over three tables) while the
// POSTMASTER is killed with kill -9 three times at random points and restarted with pg_ctl. Four
// ShapeStreams on different shapes (tables / where / columns) run throughout and retry across
// each outage on their own (network errors and 5xx are retried forever). Asserted:
//  - every stream ends equal to its SQL query (rows and values; replayed messages and `Shape`);
//  - no stream ever got a 409 / must-refetch, and each kept its first handle (handles survive
//    restarts: clients resume at their offsets);
//  - replaying each stream strictly (insert of a present key, update/delete of an absent key =
//    failure) finds no duplicate and no gap; live offsets (lsn, op_position) strictly increase;
//    the full-table stream saw the marker insert of every committed transaction exactly once, in
//    commit order.
// The writer counts a transaction only when its COMMIT returned OK; when the server died with the
// transaction in flight it checks afterwards, by content (the transaction's marker row), whether
// it committed, and retries it if not.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import {
  setup,
  sql,
  closePool,
  waitUpToDate,
  waitForShapeRows,
  recordingFetch,
  describeError,
  normRows,
  FetchError,
  Shape,
  sleep,
} from '../lib.mjs'
import { prng } from '../bad_inputs.mjs'
import { clusterKnown, killPostmaster, startCluster, ensureRunning, ReconnectingClient, sqlRetry, postmasterPid } from '../lib_crash.mjs'

after(closePool)

const TXNS = 3_000
const KILLS = 3
const MARK = 1_000_000 // marker row of txn i in table A: id = MARK + i

// Deterministic PRNG (mulberry32): the same txn number always generates the same operations.
const rng = prng

/** The writer's model of the committed state (applied only once a commit is known). */
class Model {
  constructor() {
    this.a = new Map() // id -> {id, v, grp, txt}
    this.b = new Map() // id -> {id, n, s}
    this.c = new Map() // k -> {k, flag, payload}
  }
}

const pick = (map, r, exclude) => {
  const keys = [...map.keys()].filter((k) => k !== exclude)
  return keys.length ? keys[Math.floor(r() * keys.length)] : undefined
}

/**
 * Operations of txn i against the current model: returns { sql, apply } where `apply(model)`
 * reflects them in the model once the txn is known to be committed.
 */
function makeTxn(i, model, T) {
  const r = rng(0x5eed + i * 7919)
  const stmts = []
  const effects = []
  const aid = MARK + i
  const a0 = { id: aid, v: Math.floor(r() * 1000), grp: Math.floor(r() * 5), txt: `a${i}` }
  stmts.push(`INSERT INTO ${T.a} (id, v, grp, txt) VALUES (${a0.id}, ${a0.v}, ${a0.grp}, '${a0.txt}')`)
  effects.push((m) => m.a.set(aid, { ...a0 }))
  if (r() < 0.6) {
    const id = pick(model.a, r, aid)
    if (id !== undefined) {
      stmts.push(`UPDATE ${T.a} SET v = v + 1, grp = (grp + 1) % 5 WHERE id = ${id}`)
      effects.push((m) => {
        const x = m.a.get(id)
        m.a.set(id, { ...x, v: x.v + 1, grp: (x.grp + 1) % 5 })
      })
    }
  }
  if (r() < 0.3) {
    const id = pick(model.a, r, aid)
    if (id !== undefined) {
      stmts.push(`DELETE FROM ${T.a} WHERE id = ${id}`)
      effects.push((m) => m.a.delete(id))
    }
  }
  if (r() < 0.05) {
    // a multi-row update (rows of one group move in/out of the `grp < 2` shape together)
    const g = Math.floor(r() * 5)
    stmts.push(`UPDATE ${T.a} SET v = v + 7, grp = (grp + 3) % 5 WHERE grp = ${g} AND id < ${MARK}`)
    effects.push((m) => {
      for (const [id, x] of m.a) if (x.grp === g && id < MARK) m.a.set(id, { ...x, v: x.v + 7, grp: (x.grp + 3) % 5 })
    })
  }
  if (r() < 0.4) {
    const b0 = { id: MARK + i, n: Math.floor(r() * 1e6), s: `b${i}` }
    stmts.push(`INSERT INTO ${T.b} (id, n, s) VALUES (${b0.id}, ${b0.n}, '${b0.s}')`)
    effects.push((m) => m.b.set(b0.id, { ...b0 }))
  }
  if (r() < 0.4) {
    const id = pick(model.b, r, MARK + i)
    if (id !== undefined) {
      stmts.push(`UPDATE ${T.b} SET n = (n * 3 + 1) % 1000003, s = 'u${i}' WHERE id = ${id}`)
      effects.push((m) => {
        const x = m.b.get(id)
        m.b.set(id, { ...x, n: (x.n * 3 + 1) % 1000003, s: `u${i}` })
      })
    }
  }
  if (r() < 0.2) {
    const id = pick(model.b, r, MARK + i)
    if (id !== undefined) {
      stmts.push(`DELETE FROM ${T.b} WHERE id = ${id}`)
      effects.push((m) => m.b.delete(id))
    }
  }
  if (r() < 0.25) {
    const c0 = { k: `k${i}`, flag: r() < 0.5, payload: { i } }
    stmts.push(`INSERT INTO ${T.c} (k, flag, payload) VALUES ('${c0.k}', ${c0.flag}, '${JSON.stringify(c0.payload)}')`)
    effects.push((m) => m.c.set(c0.k, { ...c0 }))
  }
  if (r() < 0.3) {
    const k = pick(model.c, r, `k${i}`)
    if (k !== undefined) {
      stmts.push(`UPDATE ${T.c} SET flag = NOT flag, payload = '{"i": ${i}, "u": true}' WHERE k = '${k}'`)
      effects.push((m) => {
        const x = m.c.get(k)
        m.c.set(k, { ...x, flag: !x.flag, payload: { i, u: true } })
      })
    }
  }
  if (r() < 0.15) {
    const k = pick(model.c, r, `k${i}`)
    if (k !== undefined) {
      stmts.push(`DELETE FROM ${T.c} WHERE k = '${k}'`)
      effects.push((m) => m.c.delete(k))
    }
  }
  return {
    sql: `BEGIN; ${stmts.join('; ')}; COMMIT`,
    apply: (m) => effects.forEach((f) => f(m)),
  }
}

/** Replays change messages strictly; returns the rows by key. */
function replay(messages, label) {
  const rows = new Map()
  for (const [idx, m] of messages.entries()) {
    if (m.headers?.control === 'must-refetch') assert.fail(`${label}: must-refetch at message #${idx}`)
    const op = m.headers?.operation
    if (!op) continue
    const where = `message #${idx} ${op} ${m.key} lsn=${m.headers.lsn ?? 'snapshot'} op_position=${m.headers.op_position ?? ''}`
    if (op === 'insert') {
      assert.ok(!rows.has(m.key), `${label}: duplicate insert (${where}; present since ${JSON.stringify(rows.get(m.key))})`)
      rows.set(m.key, m.value)
    } else if (op === 'update') {
      assert.ok(rows.has(m.key), `${label}: update of an absent key (${where})`)
      rows.set(m.key, { ...rows.get(m.key), ...m.value })
    } else if (op === 'delete') {
      assert.ok(rows.has(m.key), `${label}: delete of an absent key (${where})`)
      rows.delete(m.key)
    }
  }
  return rows
}

/** Live change offsets (lsn, op_position) must strictly increase: no message seen twice. */
function checkOffsets(messages, label) {
  let prev = null
  for (const [idx, m] of messages.entries()) {
    if (!m.headers?.operation || m.headers.lsn === undefined) continue
    const cur = [BigInt(m.headers.lsn), BigInt(m.headers.op_position)]
    if (prev) {
      const inc = cur[0] > prev[0] || (cur[0] === prev[0] && cur[1] > prev[1])
      assert.ok(inc, `${label}: message #${idx} (${m.headers.operation} ${m.key}) at ${cur[0]}/${cur[1]} after ${prev[0]}/${prev[1]}: duplicate or out of order`)
    }
    prev = cur
  }
}

test(
  'exactly once across crashes: 3,000 txns, 3 x kill -9 of the postmaster, 4 shapes, no 409, no gap, no duplicate',
  { timeout: 150_000, skip: !clusterKnown && 'ES_TEST_DIR not set (the test kills and restarts the cluster)' },
  async (t) => {
    const t0 = Date.now()
    t.after(() => ensureRunning())
    const ctx = setup(t)
    const T = {
      a: await ctx.table('crash_a', 'id int PRIMARY KEY, v int NOT NULL, grp int NOT NULL, txt text'),
      b: await ctx.table('crash_b', 'id int PRIMARY KEY, n bigint NOT NULL, s text'),
      c: await ctx.table('crash_c', 'k text PRIMARY KEY, flag boolean NOT NULL, payload jsonb'),
    }
    const model = new Model()
    await sql(`INSERT INTO ${T.a} SELECT g, g * 10, g % 5, 'init' || g FROM generate_series(1, 200) g`)
    for (let g = 1; g <= 200; g++) model.a.set(g, { id: g, v: g * 10, grp: g % 5, txt: `init${g}` })
    await sql(`INSERT INTO ${T.b} SELECT g, g * 1000, 'init' FROM generate_series(1, 100) g`)
    for (let g = 1; g <= 100; g++) model.b.set(g, { id: g, n: g * 1000, s: 'init' })
    await sql(`INSERT INTO ${T.c} SELECT 'init' || g, g % 2 = 0, jsonb_build_object('g', g) FROM generate_series(1, 50) g`)
    for (let g = 1; g <= 50; g++) model.c.set(`init${g}`, { k: `init${g}`, flag: g % 2 === 0, payload: { g } })

    // --- four streams on different shapes --------------------------------------------------
    const defs = [
      { label: 'A (all)', params: { table: T.a }, query: `SELECT * FROM ${T.a}` },
      {
        label: 'A (grp < 2, columns id,v,grp)',
        params: { table: T.a, where: 'grp < 2', columns: ['id', 'v', 'grp'] },
        query: `SELECT id, v, grp FROM ${T.a} WHERE grp < 2`,
      },
      { label: 'B (all)', params: { table: T.b }, query: `SELECT * FROM ${T.b}` },
      { label: 'C (flag)', params: { table: T.c, where: 'flag' }, query: `SELECT * FROM ${T.c} WHERE flag` },
    ]
    const streams = defs.map((d) => {
      const log = []
      const st = { ...d, log, transportRetries: 0, fatal: [] }
      st.stream = ctx.stream({
        params: d.params,
        fetchClient: recordingFetch(log),
        // retry 5xx / network errors forever, quickly (the outage lasts a few seconds)
        backoffOptions: { initialDelay: 50, maxDelay: 500, multiplier: 1.5, maxRetries: Infinity },
        onError: (err) => {
          // A response whose body was cut by the crash surfaces here (the client reads the body
          // outside its retry loop): transport failure, resume at the same offset and handle.
          // Anything else (an HTTP 4xx, a parse error, missing headers) is a server answer:
          // record it and let the stream fail.
          const transport =
            (err instanceof FetchError && err.status < 400) ||
            err?.name === 'TypeError' ||
            /fetch failed|terminated|ECONNRESET|socket|body/i.test(String(err?.message))
          if (!transport) {
            st.fatal.push(describeError(err))
            return
          }
          st.transportRetries++
          return {}
        },
      })
      st.got = ctx.collect(st.stream)
      st.shape = new Shape(st.stream)
      return st
    })
    for (const st of streams) await waitForShapeRows(st.shape, st.query, [], { timeout: 30_000 })
    const handles = streams.map((st) => st.stream.shapeHandle)
    t.diagnostic(`shapes up to date after ${Date.now() - t0} ms; handles ${handles.join(' ')}`)

    // --- the writer ------------------------------------------------------------------------
    const writer = { done: 0, committed: [], unknown: [], unknownCommitted: [], retried: 0, failedAttempts: 0, conn: new ReconnectingClient() }
    const writerRun = (async () => {
      for (let i = 1; i <= TXNS; i++) {
        for (let attempt = 0; ; attempt++) {
          if (attempt > 200) throw new Error(`writer: txn ${i} failed ${attempt} times`)
          const txn = makeTxn(i, model, T)
          let committed
          try {
            await writer.conn.query(txn.sql)
            committed = true // COMMIT returned OK
          } catch (e) {
            if (!e.connectionLost) throw e
            writer.failedAttempts++
            // Outcome unknown: the server died with the txn in flight. Check by content once the
            // server is back (its marker row exists iff it committed; nothing else writes it).
            writer.unknown.push(i)
            const rows = await writer.conn.query(`SELECT count(*)::int AS n FROM ${T.a} WHERE id = ${MARK + i}`).catch(async (e2) => {
              if (!e2.connectionLost) throw e2
              return null
            })
            if (rows === null) {
              // lost again while checking: loop (the next attempt checks again before running)
              const again = await retryCheck(writer.conn, T, i)
              committed = again
            } else committed = rows.rows[0].n === 1
            if (committed) writer.unknownCommitted.push(i)
            else writer.retried++
          }
          if (committed) {
            txn.apply(model)
            writer.committed.push(i)
            break
          }
        }
        writer.done = i
      }
    })()

    // --- the killer: kill -9 the postmaster at random points of the writer's progress ------
    const crashes = []
    const killerRun = (async () => {
      const span = Math.floor(TXNS / KILLS)
      for (let k = 0; k < KILLS; k++) {
        const target = k * span + Math.floor(span * (0.2 + 0.6 * Math.random()))
        const deadline = Date.now() + 60_000
        while (writer.done < target && Date.now() < deadline) await sleep(2)
        await sleep(Math.floor(Math.random() * 15))
        const at = writer.done
        const pm = postmasterPid()
        const killed = await killPostmaster()
        await sleep(Math.floor(Math.random() * 400)) // clients and the writer hit a dead server for a while
        const started = await startCluster()
        crashes.push({ at, pid: pm, ...killed, ...started })
        t.diagnostic(
          `crash ${k + 1}: kill -9 postmaster ${pm} at txn ${at}; processes gone in ${killed.exitMs} ms; ` +
            `pg_ctl start ${started.startMs} ms, health 200 after ${started.healthMs} ms more`,
        )
      }
    })()

    try {
      await Promise.all([writerRun, killerRun])
    } finally {
      // whatever happened, the streams and the pool must not keep stale connections
      writer.conn.drop()
    }
    await closePool() // pooled connections died with the old server
    const tWriter = Date.now()
    t.diagnostic(
      `writer: ${writer.committed.length} txns committed (${writer.unknown.length} with unknown outcome, ` +
        `${writer.unknownCommitted.length} of them found committed, ${writer.retried} retried), ` +
        `${writer.conn.reconnects} reconnect attempts; writer + crashes took ${tWriter - t0} ms`,
    )
    assert.equal(writer.committed.length, TXNS)
    assert.equal(crashes.length, KILLS)
    for (const c of crashes) {
      assert.deepEqual(c.lingering, [], `processes still alive 20 s after kill -9 of postmaster ${c.pid}: ${JSON.stringify(c.lingering)}`)
    }

    // --- the database holds exactly the committed txns (sanity of the writer itself) --------
    const modelRows = {
      a: normRows([...model.a.values()]),
      b: normRows([...model.b.values()]),
      c: normRows([...model.c.values()]),
    }
    for (const k of ['a', 'b', 'c']) {
      const dbRows = normRows(await sqlRetry(`SELECT * FROM ${T[k]}`))
      assert.deepEqual(dbRows, modelRows[k], `table ${k}: the database differs from the writer's committed transactions`)
    }

    // --- every stream converges to its query, with no error, 409 or handle change ---------
    for (const st of streams) {
      assert.deepEqual(st.fatal, [], `${st.label}: HTTP error reached the stream`)
      await waitForShapeRows(st.shape, st.query, [], { timeout: 45_000 })
    }
    const tConverged = Date.now()
    for (const [i, st] of streams.entries()) {
      const label = st.label
      const reqs = st.log.length
      const byStatus = {}
      for (const e of st.log) byStatus[e.status ?? 'network error'] = (byStatus[e.status ?? 'network error'] || 0) + 1
      t.diagnostic(`${label}: ${reqs} requests ${JSON.stringify(byStatus)}, ${st.got.messages.length} messages, ${st.transportRetries} body-read retries`)

      const r409 = st.log.filter((e) => e.status === 409)
      assert.deepEqual(
        r409.map((e) => `${e.url.search} -> 409 new handle ${e.headers?.get('electric-handle')}`),
        [],
        `${label}: 409 after a restart (handles must survive restarts)`,
      )
      const refetch = st.got.messages.filter((m) => m.headers?.control === 'must-refetch')
      assert.equal(refetch.length, 0, `${label}: must-refetch messages`)
      assert.equal(st.stream.shapeHandle, handles[i], `${label}: handle changed`)
      const otherHandles = [...new Set(st.log.map((e) => e.url.searchParams.get('handle')).filter((h) => h && h !== handles[i]))]
      assert.deepEqual(otherHandles, [], `${label}: requests with another handle`)
      const respHandles = [...new Set(st.log.filter((e) => e.headers).map((e) => e.headers.get('electric-handle')).filter((h) => h && h !== handles[i]))]
      assert.deepEqual(respHandles, [], `${label}: responses with another handle`)
      assert.deepEqual(st.got.errors.map(describeError), [], `${label}: stream errors`)

      // strict replay: no duplicate and no gap; offsets strictly increase
      checkOffsets(st.got.messages, label)
      const rows = replay(st.got.messages, label)
      const expected = normRows(await sqlRetry(st.query))
      assert.deepEqual(normRows([...rows.values()]), expected, `${label}: replayed messages vs SQL`)
    }

    // the full-table stream of A saw each committed txn's marker insert exactly once, in order
    const markers = streams[0].got.messages
      .filter((m) => m.headers?.operation === 'insert' && m.headers.lsn !== undefined && Number(m.value.id) >= MARK)
      .map((m) => Number(m.value.id) - MARK)
    const missing = writer.committed.filter((i) => !markers.includes(i))
    assert.deepEqual(missing.slice(0, 20), [], `A (all): committed txns whose changes never arrived (${missing.length} in all; crashes at ${crashes.map((c) => c.at)})`)
    assert.deepEqual(markers, writer.committed, 'A (all): marker inserts not exactly the committed txns in commit order')
    t.diagnostic(`converged ${tConverged - tWriter} ms after the writer; total ${Date.now() - t0} ms`)
  },
)

/** After losing the connection while checking a txn's outcome: check again until it answers. */
async function retryCheck(conn, T, i) {
  for (let k = 0; k < 100; k++) {
    try {
      const r = await conn.query(`SELECT count(*)::int AS n FROM ${T.a} WHERE id = ${MARK + i}`)
      return r.rows[0].n === 1
    } catch (e) {
      if (!e.connectionLost) throw e
      await sleep(100)
    }
  }
  throw new Error(`writer: could not check the outcome of txn ${i}`)
}
