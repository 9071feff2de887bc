// A table large enough for several chunks (electric_sync.chunk_bytes = 10000 on the test
// cluster): the client pages through stable chunks, no row is lost or duplicated.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { setup, sql, closePool, waitUpToDate, waitForShapeRows, waitFor, recordingFetch, getShape, syncRaw, changes, http, ELECTRIC_URL, TEST_TIMEOUT } from './lib.mjs'

after(closePool)

const ROWS = 2000

async function bigTable(ctx, prefix) {
  const table = await ctx.table(prefix, 'id int PRIMARY KEY, title text NOT NULL, n int')
  await sql(`INSERT INTO ${table} SELECT g, 'row number ' || g || ' ' || repeat('x', 20), g FROM generate_series(1, ${ROWS}) g`)
  return table
}

test('chunks: 2,000 rows arrive over several chunk requests, each row exactly once', { timeout: 60_000 }, async (t) => {
  const ctx = setup(t)
  const table = await bigTable(ctx, 'chunks')
  const log = []
  const stream = ctx.stream({ params: { table }, fetchClient: recordingFetch(log) })
  const got = ctx.collect(stream)
  await waitUpToDate(stream, { timeout: 40_000 })

  const ins = changes(got.messages)
  assert.equal(ins.length, ROWS, 'every row once')
  assert.equal(new Set(ins.map((m) => m.key)).size, ROWS, 'no duplicate keys')
  const nonLive = log.filter((e) => !e.url.searchParams.has('live') && e.status === 200)
  const offsets = new Set(nonLive.map((e) => e.url.searchParams.get('offset')))
  assert.ok(offsets.size >= 3, `expected several chunk requests, saw offsets ${[...offsets].join(', ')}`)
  for (const e of log) assert.ok(e.status < 500, `request ${e.url} -> ${e.status}`)
})

test('chunks: Shape equals the table, and stays equal after a live change', { timeout: 60_000 }, async (t) => {
  const ctx = setup(t)
  const table = await bigTable(ctx, 'chunks2')
  const shape = ctx.shape({ table })
  await waitForShapeRows(shape, `SELECT * FROM ${table}`, [], { timeout: 40_000 })
  await sql(`UPDATE ${table} SET n = -n WHERE id % 100 = 0`)
  await sql(`DELETE FROM ${table} WHERE id > 1990`)
  await waitForShapeRows(shape, `SELECT * FROM ${table}`, [], { timeout: 20_000 })
})

test('chunks: raw paging; chunks are about chunk_bytes, offsets increase, same URL gives same body', { timeout: 60_000 }, async (t) => {
  const ctx = setup(t)
  const table = await bigTable(ctx, 'chunks3')
  const { responses, messages, handle } = await syncRaw({ table })
  const rows = messages.filter((m) => m.headers?.operation)
  assert.equal(rows.length, ROWS)
  assert.ok(responses.length >= 3, `${responses.length} responses`)
  // chunk sizes: none of the full chunks is wildly larger than the 10 kB threshold
  for (const r of responses.slice(0, -1)) {
    assert.ok(r.text.length < 10_000 * 3, `chunk of ${r.text.length} bytes`)
  }
  const offs = responses.map((r) => r.headers.get('electric-offset'))
  const key = (o) => {
    const [a, b] = o.split('_')
    return [BigInt(a), b === 'inf' ? Infinity : Number(b)]
  }
  for (let i = 1; i < offs.length; i++) {
    const [a1, b1] = key(offs[i - 1])
    const [a2, b2] = key(offs[i])
    assert.ok(a2 > a1 || (a2 === a1 && b2 >= b1), `offsets not increasing: ${offs[i - 1]} then ${offs[i]}`)
  }
  // the same chunk URL returns the same content (CDN/prefetch assumption)
  const second = offs[0]
  const a = await getShape({ table, offset: second, handle })
  const b = await getShape({ table, offset: second, handle })
  assert.equal(a.status, 200)
  assert.equal(a.text, b.text)
  assert.equal(a.headers.get('electric-offset'), b.headers.get('electric-offset'))
})

test('chunks: snapshots evicted from memory (snapshot_cache_mb = 0) are served from the database, same bytes', { timeout: 60_000 }, async (t) => {
  const ctx = setup(t)
  const table = await bigTable(ctx, 'chunks4')
  // from memory (just taken)
  const first = await syncRaw({ table })
  const offsets = ['-1', ...first.responses.slice(0, -1).map((r) => r.headers.get('electric-offset'))]
  t.after(async () => {
    await sql('ALTER SYSTEM RESET electric_sync.snapshot_cache_mb')
    await sql('SELECT pg_reload_conf()')
  })
  await sql('ALTER SYSTEM SET electric_sync.snapshot_cache_mb = 0')
  await sql('SELECT pg_reload_conf()')
  const metrics = async () => (await (await http(`${ELECTRIC_URL}/v1/metrics`)).json()).http
  await waitFor(async () => (await metrics()).snapshot_bytes_in_memory === 0, {
    timeout: 20_000,
    interval: 250,
    message: 'every snapshot evicted from memory (http.snapshot_bytes_in_memory = 0 in /v1/metrics)',
  })
  // the same chunk URLs give the same bodies, now read from electric_sync.shape_snapshot_chunks
  let compared = 0
  for (const [i, offset] of offsets.entries()) {
    // snapshot chunks only (the answer after the last one is the log, with the current lsn)
    if (!/^0_\d+$/.test(first.responses[i].headers.get('electric-offset'))) continue
    compared++
    const r = await getShape({ table, offset, handle: offset === '-1' ? undefined : first.handle })
    assert.equal(r.status, 200, `offset ${offset}: ${r.status} ${r.text}`)
    assert.equal(r.headers.get('electric-handle'), first.handle)
    assert.equal(r.text, first.responses[i].text, `chunk after offset ${offset}`)
  }
  assert.ok(compared >= 3, `${compared} snapshot chunks compared`)
  assert.equal((await metrics()).snapshot_bytes_in_memory, 0, 'fetched chunks are not kept')
  // and a client syncs the shape from scratch
  const shape = ctx.shape({ table })
  await waitForShapeRows(shape, `SELECT * FROM ${table}`, [], { timeout: 30_000 })
})
