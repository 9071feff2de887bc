// The real @synckit-js/sdk 0.1.1 (ESM entry, ws as its WebSocket, memory storage) against /ws:
// live edits converge, a late joiner sees the document, concurrent writes to one field end the
// same on every client and in electric_sync_docs.fields (LWW on (timestamp, clientId)), a client
// that was offline converges after reconnecting, SQL writes reach the clients.
import { after } from 'node:test'
import assert from 'node:assert/strict'
import {
  skTest, newKit, openDoc, waitDocs, waitTable, docId, dropDocLater, fieldRows, tableDoc, sql, closePool,
  sdkSentDeltas, lwwWins, proxy, kitState, waitConnectedKit, waitFor, sleep, rawClient, T, canon, sdkCounts,
} from './lib.mjs'

after(() => closePool())

skTest('sdk: two clients converge on live edits, and the table holds the same document', async (t) => {
  const id = docId('live')
  dropDocLater(t, id)
  const a = await newKit(t, { clientId: 'live-a' })
  const b = await newKit(t, { clientId: 'live-b' })
  const da = await openDoc(a, id)
  const db = await openDoc(b, id)

  await da.set('title', 'hello')
  await waitDocs([db], { title: 'hello' }, { message: 'B to see A\'s first write' })
  await db.set('count', 1)
  await waitDocs([da], { title: 'hello', count: 1 }, { message: 'A to see B\'s write' })

  // interleaved edits, each client on its own fields and on a shared one, one after the other
  for (let i = 0; i < 5; i++) {
    await da.set('a', i)
    await db.set('b', { i, tags: ['x', String(i)] })
    await (i % 2 ? da : db).set('shared', `round-${i}`)
  }
  const want = { title: 'hello', count: 1, a: 4, b: { i: 4, tags: ['x', '4'] }, shared: 'round-4' }
  await waitDocs([da, db], want)
  await waitTable(id, want)
  const rows = await fieldRows(id)
  assert.equal(rows.shared.client_id, 'live-b', 'the last write of "shared" (round 4, even) was B\'s')
  assert.equal(rows.a.client_id, 'live-a')
  assert.ok(rows.shared.counter > rows.title.counter, `counters increase with each write (${rows.title.counter} then ${rows.shared.counter})`)
})

skTest('sdk: a late joiner sees the current document (SYNC_RESPONSE then one DELTA per field)', async (t) => {
  const id = docId('late')
  dropDocLater(t, id)
  const a = await newKit(t, { clientId: 'late-a' })
  const da = await openDoc(a, id)
  const want = { title: 'draft', body: 'some text with ünïcödé ✓', n: 42, nested: { list: [1, 2, { x: null }] }, flag: false }
  for (const [k, v] of Object.entries(want)) await da.set(k, v)
  await waitTable(id, want)

  const late = await newKit(t, { clientId: 'late-c' })
  const dl = await openDoc(late, id)
  await waitDocs([dl], want, { message: 'the late joiner to see every field' })

  // and it keeps receiving live edits afterwards
  await da.set('title', 'final')
  await waitDocs([dl, da], { ...want, title: 'final' })
})

skTest('sdk: concurrent writes to one field resolve identically on every client and in the table (LWW on timestamp, clientId)', async (t) => {
  const id = docId('lww')
  dropDocLater(t, id)
  const kits = [await newKit(t, { clientId: 'lww-a' }), await newKit(t, { clientId: 'lww-b' }), await newKit(t, { clientId: 'lww-c' })]
  const docs = []
  for (const k of kits) docs.push(await openDoc(k, id))

  for (let round = 0; round < 6; round++) {
    const sentBefore = sdkSentDeltas.length
    await Promise.all(docs.map((d, i) => d.set('f', `${'abc'[i]}${round}`)))
    // the winner of this round by the SDK's LWW order over what was actually sent
    const sent = sdkSentDeltas.slice(sentBefore).filter((x) => x.documentId === id && x.field === 'f')
    assert.equal(sent.length, 3, `three deltas sent in round ${round}: ${JSON.stringify(sent)}`)
  }
  const all = sdkSentDeltas.filter((x) => x.documentId === id && x.field === 'f')
  const winner = all.reduce((w, x) => (lwwWins(x, w) ? x : w))
  await waitDocs(docs, { f: winner.value }, { message: `every client to hold the LWW winner ${winner.value} (${winner.clientId} @ ${winner.timestamp})` })
  await waitTable(id, { f: winner.value })
  const row = (await fieldRows(id)).f
  assert.equal(row.ts, winner.timestamp, 'the stored timestamp is the winner\'s')
  assert.equal(row.client_id, winner.clientId, 'the stored client_id is the winner\'s')
  // still the same a moment later (no late delta flips a client)
  await sleep(500)
  for (const d of docs) assert.equal(d.get().f, winner.value)
})

skTest('sdk: equal timestamps are broken by the greater clientId; an older write arriving later loses but is ACKed', async (t) => {
  const id = docId('tie')
  dropDocLater(t, id)
  const k = await newKit(t, { clientId: 'tie-observer' })
  const dk = await openDoc(k, id)
  const r1 = await rawClient(t)
  const r2 = await rawClient(t)
  await r1.subscribe(id)
  await r2.subscribe(id)
  const ts = Date.now()
  // "zeta" first, then "alpha" with the same timestamp: zeta stays
  await r1.delta(id, 'f', 'from-zeta', { clientId: 'zeta', timestamp: ts })
  const lost = await r2.delta(id, 'f', 'from-alpha', { clientId: 'alpha', timestamp: ts })
  assert.ok(lost.ack, 'the losing delta is ACKed')
  await waitDocs([dk], { f: 'from-zeta' })
  // an older timestamp arriving later loses too
  await r2.delta(id, 'f', 'stale', { clientId: 'zzzz', timestamp: ts - 10_000 })
  // a greater clientId with the same timestamp wins
  await r2.delta(id, 'g', 'g-alpha', { clientId: 'alpha', timestamp: ts })
  await r1.delta(id, 'g', 'g-zeta', { clientId: 'zeta', timestamp: ts })
  await waitDocs([dk], { f: 'from-zeta', g: 'g-zeta' })
  await waitTable(id, { f: 'from-zeta', g: 'g-zeta' })
  assert.ok('a' > 'Z' && '\u00e9' > 'z' && '\u{1F600}' > '\u4e00' && 'client-9' > 'client-10', 'JS order as assumed')
  const rows = await fieldRows(id)
  assert.deepEqual([rows.f.client_id, rows.f.ts, rows.g.client_id], ['zeta', ts, 'zeta'])
  // clientId order is JavaScript's (UTF-16 code units), not a locale's: "a" > "Z", "é" > "z",
  // an astral character > any BMP one below U+E000
  const pairs = [['Z', 'a'], ['z', '\u00e9'], ['\u4e00', '\u{1F600}'], ['client-10', 'client-9']]
  for (const [i, [lo, hi]] of pairs.entries()) {
    const ts2 = ts + 100 + i
    await r1.delta(id, `p${i}`, 'from-hi', { clientId: hi, timestamp: ts2 })
    await r2.delta(id, `p${i}`, 'from-lo', { clientId: lo, timestamp: ts2 })
  }
  const prow = await fieldRows(id)
  assert.deepEqual(pairs.map((_, i) => prow[`p${i}`].value), pairs.map(() => 'from-hi'), `the greater clientId (JS order) wins each tie: ${JSON.stringify(pairs)}`)
  // the raw subscribers' last word on each field is the winner as well
  for (const c of [r1, r2]) {
    await waitFor(() => c.lastDelta(id, 'f')?.payload.value === 'from-zeta' && c.lastDelta(id, 'g')?.payload.value === 'g-zeta', {
      message: 'the raw subscribers\' last delta of f and g to be the winners',
    })
  }
})

skTest('sdk: a client that was offline while others wrote converges after reconnecting (its offline writes replayed)', async (t) => {
  const id = docId('offline')
  dropDocLater(t, id)
  const p = await proxy(t)
  const a = await newKit(t, { clientId: 'off-a', url: p.url() })
  const b = await newKit(t, { clientId: 'off-b' })
  const da = await openDoc(a, id)
  const db = await openDoc(b, id)
  await da.set('base', 1)
  await waitDocs([db], { base: 1 })

  p.pause() // cut A's link; its reconnect attempts are held
  await waitFor(() => kitState(a) !== 'connected', { message: 'A to notice it is offline' })

  await db.set('fromB', 'b1')
  await db.set('shared', 'B')
  await sleep(20) // A's offline write to "shared" is later: it must win after the replay
  await da.set('fromA', 'a1') // queued offline (the SDK resolves set() once queued)
  await da.set('shared', 'A')
  assert.equal(a.getNetworkStatus().queueSize >= 2, true, `A queued its writes offline (queue ${a.getNetworkStatus().queueSize})`)
  await sleep(500)
  assert.equal(canon(db.get()), canon({ base: 1, fromB: 'b1', shared: 'B' }), 'B saw nothing of A while A was offline')
  assert.equal((await tableDoc(id)).fromA, undefined, 'A\'s offline write is not in the table yet')
  assert.notEqual(da.get().fromB, 'b1', 'A saw nothing of B while offline')

  p.resume()
  await waitConnectedKit(a, 20_000)
  const want = { base: 1, fromB: 'b1', fromA: 'a1', shared: 'A' }
  await waitDocs([da, db], want, { timeout: 20_000, message: 'A and B to converge after A reconnected' })
  await waitTable(id, want)
  await waitFor(() => a.getNetworkStatus().queueSize === 0, { message: 'A\'s offline queue to drain' })
})

skTest('sdk: an offline client that wrote one field many times converges to a later write made online by another', async (t) => {
  // SDK 0.1.1's core keeps a field's value with the greatest (clock counter, clientId), whatever
  // the timestamps (docs/protocols/synckit.md §6.3): A's 15 offline writes lift its own counter
  // above the server's, so the server's clock policy decides whether A ever takes B's value.
  const id = docId('offmany')
  dropDocLater(t, id)
  const p = await proxy(t)
  const a = await newKit(t, { clientId: 'om-a', url: p.url() })
  const b = await newKit(t, { clientId: 'om-b' })
  const da = await openDoc(a, id)
  const db = await openDoc(b, id)
  await db.set('f', 'start')
  await waitDocs([da], { f: 'start' })
  p.pause()
  await waitFor(() => kitState(a) !== 'connected', { message: 'A offline' })
  for (let i = 0; i < 15; i++) await da.set('f', `a-offline-${i}`)
  await sleep(20)
  await db.set('f', 'b-later') // the latest timestamp: it must win everywhere
  p.resume()
  await waitConnectedKit(a, 20_000)
  await waitFor(() => a.getNetworkStatus().queueSize === 0, { timeout: 30_000, message: 'A\'s 15 offline writes replayed' })
  await waitTable(id, { f: 'b-later' })
  await waitDocs([da, db], { f: 'b-later' }, { timeout: 15_000, message: 'A to take B\'s later value after replaying its older ones' })
  // and A can still write the field afterwards (its own counter is not stuck below the server's)
  await da.set('f', 'a-after')
  await waitDocs([da, db], { f: 'a-after' })
  await waitTable(id, { f: 'a-after' })
})

skTest('sdk: two clients offline at the same time write the same fields; after both reconnect all three agree on the later writes', async (t) => {
  const id = docId('bothoff')
  dropDocLater(t, id)
  const pa = await proxy(t)
  const pb = await proxy(t)
  const a = await newKit(t, { clientId: 'bo-a', url: pa.url() })
  const b = await newKit(t, { clientId: 'bo-b', url: pb.url() })
  const c = await newKit(t, { clientId: 'bo-c' })
  const [da, db, dc] = [await openDoc(a, id), await openDoc(b, id), await openDoc(c, id)]
  await dc.set('x', 'c0')
  await waitDocs([da, db], { x: 'c0' })
  pa.pause()
  pb.pause()
  await waitFor(() => kitState(a) !== 'connected' && kitState(b) !== 'connected', { message: 'A and B offline' })
  await db.set('x', 'b-first')
  await da.set('y', 'a-first')
  await sleep(15)
  await da.set('x', 'a-later') // x: A's write is the later one
  await db.set('y', 'b-later') // y: B's write is the later one
  pb.resume() // B comes back first, then A
  await waitConnectedKit(b, 20_000)
  await waitFor(() => b.getNetworkStatus().queueSize === 0, { timeout: 20_000, message: 'B replayed' })
  pa.resume()
  await waitConnectedKit(a, 20_000)
  const want = { x: 'a-later', y: 'b-later' }
  await waitDocs([da, db, dc], want, { timeout: 20_000 })
  await waitTable(id, want)
})

skTest('sdk: the SDK heartbeat (PING every 300 ms, PONG within 1 s) keeps the connection up', async (t) => {
  const id = docId('hb')
  const k = await newKit(t, { clientId: 'hb', network: { heartbeat: { interval: 300, timeout: 1_000 } } })
  await openDoc(k, id)
  const states = []
  k.websocket.onStateChange((s) => states.push(s))
  const p0 = sdkCounts.pings
  const q0 = sdkCounts.pongs
  await sleep(3_000)
  assert.ok(sdkCounts.pings - p0 >= 6, `the SDK sent PINGs (${sdkCounts.pings - p0})`)
  assert.ok(sdkCounts.pongs - q0 >= sdkCounts.pings - p0 - 1, `a PONG for each PING (${sdkCounts.pings - p0} pings, ${sdkCounts.pongs - q0} pongs)`)
  assert.deepEqual(states, [], 'no reconnect (a missing PONG makes the SDK drop the connection)')
  assert.equal(kitState(k), 'connected')
})

skTest('sdk: SQL writes (UPDATE of electric_sync_docs.fields, INSERT, electric_sync.document_set) reach the clients', async (t) => {
  const id = docId('sql')
  dropDocLater(t, id)
  const a = await newKit(t, { clientId: 'sql-a' })
  const b = await newKit(t, { clientId: 'sql-b' })
  const da = await openDoc(a, id)
  const db = await openDoc(b, id)
  await da.set('title', 't0')
  await waitDocs([da, db], { title: 't0' })

  await sql(`UPDATE electric_sync_docs.fields SET value = '"from sql"' WHERE document_id = $1 AND field = 'title'`, [id])
  await waitDocs([da, db], { title: 'from sql' }, { message: 'a plain UPDATE to reach both clients' })
  const row = (await fieldRows(id)).title
  assert.equal(row.client_id, 'sql', 'a plain UPDATE is stamped client_id sql')

  const [{ c }] = await sql(`SELECT electric_sync.document_set($1, 'meta', '{"k": [1, 2], "s": "x"}'::jsonb)::text AS c`, [id])
  assert.match(c, /^\d+$/, 'document_set returns the counter')
  await waitDocs([da, db], { title: 'from sql', meta: { k: [1, 2], s: 'x' } })

  await sql(`INSERT INTO electric_sync_docs.fields (document_id, field, value) VALUES ($1, 'inserted', '7')`, [id])
  await waitDocs([da, db], { title: 'from sql', meta: { k: [1, 2], s: 'x' }, inserted: 7 }, { message: 'a plain INSERT to reach both clients' })

  // a client's write after the SQL write still wins and reaches everyone (its clock was behind)
  await db.set('title', 'after sql')
  await waitDocs([da, db], { title: 'after sql', meta: { k: [1, 2], s: 'x' }, inserted: 7 })
  await waitTable(id, { title: 'after sql', meta: { k: [1, 2], s: 'x' }, inserted: 7 })
})

skTest('sdk: a document written only from SQL is seen by a client that subscribes afterwards', async (t) => {
  const id = docId('sqlfirst')
  dropDocLater(t, id)
  await sql(`SELECT electric_sync.document_create($1)`, [id])
  await sql(`SELECT electric_sync.document_set($1, 'a', '1'::jsonb), electric_sync.document_set($1, 'b', '"two"'::jsonb)`, [id])
  const [{ d }] = await sql('SELECT electric_sync.document_get($1) AS d', [id])
  assert.deepEqual(d, { a: 1, b: 'two' })
  const k = await newKit(t, { clientId: 'sqlfirst-k' })
  const dk = await openDoc(k, id)
  await waitDocs([dk], { a: 1, b: 'two' })
  const [{ n }] = await sql('SELECT count(*)::int AS n FROM electric_sync.documents WHERE id = $1', [id])
  assert.equal(n, 1, 'the document is listed in electric_sync.documents')
})

skTest('sdk: 25 real SDK clients on one document all converge on 20 writes from several writers', { timeout: 120_000 }, async (t) => {
  const id = docId('fanout')
  dropDocLater(t, id)
  const kits = []
  for (let i = 0; i < 25; i++) kits.push(await newKit(t, { clientId: `fan-${String(i).padStart(2, '0')}` }))
  const docs = []
  for (const k of kits) docs.push(await openDoc(k, id, { timeout: 30_000 }))
  const want = {}
  for (let i = 0; i < 20; i++) {
    const w = docs[(i * 7) % docs.length]
    await w.set(`f${i % 8}`, { i })
    want[`f${i % 8}`] = { i }
  }
  await waitDocs(docs, want, { timeout: 30_000, message: 'all 25 clients to hold the same document' })
  await waitTable(id, want)
})

skTest('sdk: SDK clients and two SQL sessions writing the same field at the same time for 5 s end in agreement, every set() ACKed', { timeout: 90_000 }, async (t) => {
  const id = docId('race')
  dropDocLater(t, id)
  const kits = [await newKit(t, { clientId: 'race-a' }), await newKit(t, { clientId: 'race-b' })]
  const docs = [await openDoc(kits[0], id), await openDoc(kits[1], id)]
  await docs[0].set('f', 'start')
  const until = Date.now() + 5_000
  const failures = []
  let sdkWrites = 0
  let sqlWrites = 0
  const sdkLoop = async (d, name) => {
    for (let i = 0; Date.now() < until; i++) {
      try {
        await d.set('f', `${name}-${i}`)
        sdkWrites++
      } catch (e) {
        failures.push(`${name}-${i}: ${e.message}`)
      }
    }
  }
  const sqlErrors = []
  const sqlLoop = async () => {
    for (let i = 0; Date.now() < until; i++) {
      for (const [q, v] of [
        [`UPDATE electric_sync_docs.fields SET value = to_jsonb($2::text) WHERE document_id = $1 AND field = 'f'`, `sql-${i}`],
        [`SELECT electric_sync.document_set($1, 'g', to_jsonb($2::int))`, i],
      ]) {
        try {
          await sql(q, [id, v])
          sqlWrites++
        } catch (e) {
          sqlErrors.push(`${e.code} ${e.message} (${q.slice(0, 40)}...)`)
        }
      }
    }
  }
  await Promise.all([sdkLoop(docs[0], 'a'), sdkLoop(docs[1], 'b'), sqlLoop(), sqlLoop()])
  t.diagnostic(`${sdkWrites} SDK writes, ${sqlWrites} SQL writes, ${sqlErrors.length} SQL writes failed`)
  assert.deepEqual(failures, [], 'every SDK set() was ACKed')
  assert.ok(sdkWrites > 5 && sqlWrites > 20, `both sides wrote (${sdkWrites}, ${sqlWrites})`)
  const table = await tableDoc(id)
  await waitDocs(docs, table, { timeout: 15_000, message: 'both clients to hold the table\'s final document' })
  // a last write from each side still goes through
  await docs[1].set('f', 'final')
  await waitDocs(docs, { ...table, f: 'final' })
  // a plain SQL write must not fail because WebSocket clients write the same document
  assert.deepEqual(sqlErrors, [], `SQL writes that failed while the SDK clients wrote: ${sqlErrors.length}`)
})
