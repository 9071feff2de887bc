// An expensive where must not hold up everyone. The worker evaluates every shape's where on
// every change of its table, one change after another: a where that takes seconds per row
// (length(repeat(title, 10000000)) > 0 builds a 100 MB string) delays the live delivery of every
// other table. The fix bounds each evaluation (electric_sync.where_eval_timeout, ms, default 50):
// a shape whose where exceeds it is stopped with a clear error (its clients get a 4xx naming
// the evaluation limit; shapes_view shows it failed with the reason) and other shapes go on.
// Snapshots get their own bound (electric_sync.snapshot_timeout, ms): a snapshot whose where
// runs long is cancelled and answered 4xx/503 with a message about the timeout.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { setup, sql, closePool, getShape, shapeUrl, syncRaw, waitUpToDate, waitFor, sleep, qi, isChangeMessage } from './lib.mjs'
import { survivalBaseline, assertSurvived, request, errorText, alterSystem, settingExists } from './lib_security.mjs'

after(closePool)

const LIMIT_RE = /eval\w*.*(limit|timeout|time)|where_eval_timeout|(limit|timeout).*eval|too (long|expensive|slow)/i
const TIMEOUT_RE = /timeout|timed out|cancel|too long/i

test('eval limit: three heavy shapes on table A do not delay live delivery on table B; they are stopped with a clear error', { timeout: 60_000 }, async (t) => {
  const ctx = setup(t)
  const base = await survivalBaseline()
  const A = await ctx.table('eval_a', 'id int PRIMARY KEY, title text')
  const B = await ctx.table('eval_b', 'id int PRIMARY KEY, title text')

  // three distinct heavy shapes on the (empty) table A, each followed to up-to-date
  const heavy = []
  for (const k of [0, 1, 2]) {
    const params = { table: A, where: `length(repeat(title, 10000000)) > ${k}` }
    const s = await syncRaw(params)
    heavy.push({ params, handle: s.handle, offset: s.offset })
  }
  // a plain live shape on table B
  const streamB = ctx.stream({ params: { table: B } })
  const gotB = ctx.collect(streamB)
  await waitUpToDate(streamB)

  // the heavy shapes' clients long-poll; each follows its shape until it gets a 4xx (or 12 s pass)
  const deadline = Date.now() + 12_000
  // Outcome: `errors` = the 4xx answers the client saw. A 409 (must-refetch) is followed by one
  // fresh request (offset=-1), as a client would; the limit must be named by one of the answers.
  const follow = async (h) => {
    let { handle, offset } = h
    const seen = []
    const errors = []
    while (Date.now() < deadline) {
      const r = await getShape({ ...h.params, handle, offset, live: 'true' }, {}, 15_000).catch((e) => ({ status: 0, text: String(e), headers: new Headers() }))
      seen.push(r.status)
      if (r.status >= 400 && r.status < 500) errors.push(r)
      if (r.status === 409) {
        const f = await getShape({ ...h.params, offset: '-1' }, {}, 15_000).catch((e) => ({ status: 0, text: String(e) }))
        seen.push(f.status)
        if (f.status >= 400) errors.push(f)
        return { errors, seen }
      }
      if (r.status !== 200) return { errors, seen }
      handle = r.headers.get('electric-handle') || handle
      offset = r.headers.get('electric-offset') || offset
    }
    return { errors, seen }
  }
  const polls = heavy.map((h) => follow(h))
  await sleep(200) // let the long polls arrive before the inserts (they also work if they arrive later)

  await sql(`INSERT INTO ${qi(A)} VALUES (1, 'heavy-twenty-chars!!')`)
  await sql(`INSERT INTO ${qi(A)} VALUES (2, 'heavy-twenty-chars!!')`)
  await sql(`INSERT INTO ${qi(B)} VALUES (1, 'b')`)
  const t0 = Date.now()
  let latency = null
  await waitFor(() => gotB.messages.some((m) => isChangeMessage(m) && String(m.value.id) === '1'), { timeout: 20_000, interval: 10, message: 'the change on B' })
    .then(() => (latency = Date.now() - t0))
    .catch(() => {})
  // a second round on B, after A has changed again
  await sql(`INSERT INTO ${qi(A)} VALUES (3, 'heavy-twenty-chars!!')`)
  await sql(`INSERT INTO ${qi(B)} VALUES (2, 'b')`)
  const t1 = Date.now()
  let latency2 = null
  await waitFor(() => gotB.messages.some((m) => isChangeMessage(m) && String(m.value.id) === '2'), { timeout: 20_000, interval: 10, message: 'the second change on B' })
    .then(() => (latency2 = Date.now() - t1))
    .catch(() => {})

  const outcomes = await Promise.all(polls)
  const views = await waitFor(
    async () => {
      const rows = await sql(`SELECT handle, status, invalid_reason FROM electric_sync.shapes_view WHERE handle = ANY($1)`, [heavy.map((h) => h.handle)])
      return rows.every((r) => r.status !== 'active') ? rows : null
    },
    { timeout: 5_000, message: 'the heavy shapes to be stopped' },
  ).catch(async () => sql(`SELECT handle, status, invalid_reason FROM electric_sync.shapes_view WHERE handle = ANY($1)`, [heavy.map((h) => h.handle)]))

  const problems = []
  if (latency === null || latency > 1_000) problems.push(`B's live change took ${latency === null ? '> 20 s' : latency + ' ms'} (limit 1000 ms) behind A's heavy shapes`)
  if (latency2 === null || latency2 > 1_000) problems.push(`B's second live change took ${latency2 === null ? '> 20 s' : latency2 + ' ms'} (limit 1000 ms)`)
  outcomes.forEach((o, i) => {
    if (!o.errors.length) problems.push(`heavy shape ${i}: its client never got a 4xx within 12 s (statuses ${o.seen.join(',')})`)
    else if (!o.errors.some((f) => f.body && typeof f.body === 'object' && f.status !== 409 && LIMIT_RE.test(errorText(f.body))))
      problems.push(`heavy shape ${i}: no 4xx JSON answer mentions the evaluation limit (statuses ${o.seen.join(',')}): ${o.errors.map((f) => `${f.status} ${String(f.text).slice(0, 200)}`).join(' | ')}`)
  })
  for (const v of views) {
    if (!['failed', 'invalidated'].includes(v.status) || !v.invalid_reason) problems.push(`shapes_view ${v.handle}: status ${v.status}, reason ${v.invalid_reason} (want failed with an error)`)
  }
  // B's shape is unaffected
  const [bv] = await sql(`SELECT count(*)::int AS n FROM electric_sync.shapes_view WHERE relation = format('%I.%I', 'public', $1::text) AND status = 'active'`, [B])
  if (bv.n < 1) problems.push(`B's shape is no longer active`)
  assert.deepEqual(problems, [], problems.join('\n'))
  await assertSurvived(base, 'heavy where')
})

test('eval limit: the settings electric_sync.where_eval_timeout (default 50 ms) and electric_sync.snapshot_timeout exist', { timeout: 10_000 }, async () => {
  const rows = await sql(`SELECT name, setting, unit, boot_val FROM pg_settings WHERE name IN ('electric_sync.where_eval_timeout', 'electric_sync.snapshot_timeout') ORDER BY name`)
  const byName = Object.fromEntries(rows.map((r) => [r.name, r]))
  assert.ok(byName['electric_sync.where_eval_timeout'], 'setting electric_sync.where_eval_timeout is missing')
  assert.equal(byName['electric_sync.where_eval_timeout'].boot_val, '50', 'where_eval_timeout defaults to 50 (ms)')
  assert.ok(byName['electric_sync.snapshot_timeout'], 'setting electric_sync.snapshot_timeout is missing')
})

test('eval limit: a snapshot whose where runs long is cancelled by electric_sync.snapshot_timeout (4xx/503 about the timeout), worker alive', { timeout: 45_000 }, async (t) => {
  const ctx = setup(t)
  const base = await survivalBaseline()
  assert.ok(await settingExists('electric_sync.snapshot_timeout'), 'setting electric_sync.snapshot_timeout is missing (new setting)')
  const table = await ctx.table('eval_snap', 'id int PRIMARY KEY, title text')
  // ~12 ms per row without a limit: 400 rows take ~5 s
  await sql(`INSERT INTO ${qi(table)} SELECT g, 'item ' || g FROM generate_series(1, 400) g`)
  await alterSystem(t, { 'electric_sync.snapshot_timeout': 300 })
  await sleep(500) // the worker applies the reloaded configuration at its next loop
  const t0 = Date.now()
  const r = await request(shapeUrl({ table, offset: '-1', where: 'length(repeat(title, 1000000)) > 0' }), {}, 30_000)
  const ms = Date.now() - t0
  await assertSurvived(base, `slow snapshot (it answered ${r.status} after ${ms} ms)`)
  assert.ok((r.status >= 400 && r.status < 500) || r.status === 503, `slow snapshot: want 4xx/503, got ${r.status} after ${ms} ms: ${r.text.slice(0, 300)}`)
  assert.ok(r.body && typeof r.body === 'object', `slow snapshot: JSON body: ${r.text.slice(0, 300)}`)
  assert.match(errorText(r.body), TIMEOUT_RE, `slow snapshot: the message is about the timeout: ${r.text.slice(0, 300)}`)
  assert.ok(ms < 4_000, `slow snapshot: cancelled quickly (took ${ms} ms with a 300 ms timeout)`)
  // a cheap shape on the same table is still served
  const ok = await getShape({ table, offset: '-1', where: 'id < 3' })
  assert.equal(ok.status, 200, ok.text)
})
