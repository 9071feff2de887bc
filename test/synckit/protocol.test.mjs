// The wire protocol with a raw client of our own (docs/protocols/synckit.md, the contract of
// issue 14): PING/PONG, SYNC_RESPONSE and the field replay, DELTA echo + ACK, SYNC_REQUEST,
// UNSUBSCRIBE, DELTA_BATCH (0x50 and the Go code 0x22), DELTA_BATCH_CHUNK, awareness (subscribe,
// update, state, expiry, state: null on disconnect), JSON text frames, the docId alias, tombstones,
// resent writes, synckit_create_documents = off.
import { after } from 'node:test'
import assert from 'node:assert/strict'
import {
  skTest, docId, dropDocLater, fieldRows, tableDoc, closePool, sql, RawClient, rawClient, T, withSettings,
  sleep, waitFor, describeFrame, canon, FULL_TOKEN, workerPid, healthStatus,
} from './lib.mjs'

after(() => closePool())

/** Asserts a server→client DELTA payload has the contract's members. */
function assertServerDelta(f, { documentId, field, value, clientId, type = 'set' }) {
  assert.equal(f.type, T.DELTA, describeFrame(f))
  const p = f.payload
  assert.equal(p.type, type, `delta type: ${JSON.stringify(p)}`)
  assert.equal(p.documentId, documentId)
  assert.equal(p.field, field)
  assert.equal(canon(p.value), canon(value), `value of ${field}`)
  if (clientId !== undefined) assert.equal(p.clientId, clientId, `clientId: ${JSON.stringify(p)}`)
  assert.equal(typeof p.timestamp, 'number', `timestamp: ${JSON.stringify(p)}`)
  assert.ok(p.clock && typeof p.clock === 'object', `clock: ${JSON.stringify(p)}`)
  const counters = Object.values(p.clock)
  assert.ok(counters.length > 0 && counters.every(Number.isInteger), `non-empty integer clock: ${JSON.stringify(p.clock)}`)
  assert.ok(Number.isInteger(p.clock.electric_sync), `clock.electric_sync: ${JSON.stringify(p.clock)}`)
  assert.equal(p.messageId, `srv-${p.clock.electric_sync}`, 'messageId srv-<counter>')
  return p
}

const noText = (c) => assert.deepEqual(c.frames.filter((f) => f.text !== undefined).map((f) => f.text), [], 'every answer is a binary frame')

skTest('protocol: PING → PONG {} in a binary frame with a timestamp', async (t) => {
  const c = await rawClient(t)
  const m = c.mark()
  c.send(T.PING, {}, 1700000000123)
  const f = await c.waitFrame((x) => x.type === T.PONG, { from: m })
  assert.deepEqual(f.payload, {}, 'PONG {}')
  assert.ok(Math.abs(f.ts - Date.now()) < 60_000 || f.ts === 0 || f.ts === 1700000000123, `header timestamp ${f.ts}`)
  assert.equal(f.trailing, 0, 'no bytes past the payload')
  noText(c)
})

skTest('protocol: SUBSCRIBE → SYNC_RESPONSE {documentId, state, clock}, then one DELTA per live field', async (t) => {
  const id = docId('sync')
  dropDocLater(t, id)
  const w = await rawClient(t)
  await w.subscribe(id)
  await w.delta(id, 'a', 1, { clientId: 'w' })
  await w.delta(id, 'b', { deep: ['x'] }, { clientId: 'w' })
  await w.delta(id, 'gone', 'soon', { clientId: 'w' })
  await sql('SELECT electric_sync.document_delete_field($1, $2)', [id, 'gone'])

  const c = await rawClient(t)
  const { response, from } = await c.subscribe(id)
  const p = response.payload
  assert.equal(p.documentId, id)
  assert.equal(canon(p.state), canon({ a: 1, b: { deep: ['x'] } }), `state: ${JSON.stringify(p.state)}`)
  const [{ counter }] = await sql('SELECT counter::int AS counter FROM electric_sync_docs.documents WHERE id = $1', [id])
  assert.deepEqual(p.clock, { electric_sync: counter }, 'clock is the document counter')
  assert.deepEqual(p.deltas, [])
  // the replay: one DELTA per live field, after the SYNC_RESPONSE, none for the deleted one
  await waitFor(() => c.since(from, (f) => f.type === T.DELTA).length >= 2, { message: 'the replay DELTAs' })
  await sleep(300)
  const respIdx = c.frames.indexOf(response)
  const replay = c.since(from, (f) => f.type === T.DELTA)
  assert.ok(replay.every((f) => c.frames.indexOf(f) > respIdx), 'the replay comes after SYNC_RESPONSE')
  assert.deepEqual(replay.map((f) => f.payload.field).sort(), ['a', 'b'], `replayed fields: ${replay.map(describeFrame).join(' | ')}`)
  const rows = await fieldRows(id)
  for (const f of replay) {
    const d = assertServerDelta(f, { documentId: id, field: f.payload.field, value: rows[f.payload.field].value, clientId: 'w' })
    assert.equal(d.timestamp, rows[d.field].ts, 'the replayed timestamp is the stored one')
  }
  noText(c)
})

skTest('protocol: a DELTA is committed, echoed to the sender as a DELTA before its ACK, and sent to every subscriber', async (t) => {
  const id = docId('echo')
  dropDocLater(t, id)
  const a = await rawClient(t)
  const b = await rawClient(t)
  const outsider = await rawClient(t)
  await a.subscribe(id)
  await b.subscribe(id)
  const ts = Date.now()
  const { ack, echo, messageId } = await a.delta(id, 'title', 'hello', { clientId: 'client-a', timestamp: ts })
  assert.deepEqual(ack.payload.messageId, messageId)
  assert.ok(echo, 'the sender got a DELTA for the field before the ACK')
  const e = assertServerDelta(echo, { documentId: id, field: 'title', value: 'hello', clientId: 'client-a' })
  assert.equal(e.timestamp, ts)
  // committed before the ACK: the row is there as soon as the ACK is
  const row = (await fieldRows(id)).title
  assert.deepEqual([row.value, row.ts, row.client_id, row.counter], ['hello', ts, 'client-a', e.clock.electric_sync])
  const fb = await b.waitFrame((f) => f.type === T.DELTA && f.payload?.field === 'title', { message: 'B receives the DELTA' })
  assertServerDelta(fb, { documentId: id, field: 'title', value: 'hello', clientId: 'client-a' })
  assert.equal(outsider.since(0, (f) => f.type === T.DELTA).length, 0, 'a connection not subscribed gets nothing')
  // counters strictly increase
  const second = await a.delta(id, 'title', 'again', { clientId: 'client-a' })
  assert.ok(second.echo.payload.clock.electric_sync > e.clock.electric_sync, 'the counter increases with each write')
})

skTest('protocol: each accepted write reaches each subscriber once (the sender: one DELTA, then the ACK)', async (t) => {
  const id = docId('once')
  dropDocLater(t, id)
  const a = await rawClient(t)
  const b = await rawClient(t)
  await a.subscribe(id)
  await b.subscribe(id)
  const ma = a.mark()
  const mb = b.mark()
  for (let i = 0; i < 5; i++) await a.delta(id, 'f', i, { clientId: 'once' })
  await sleep(500)
  const count = (c, m) => c.since(m, (f) => f.type === T.DELTA).map((f) => f.payload.messageId)
  assert.deepEqual(count(a, ma).length, 5, `the sender's DELTAs: ${count(a, ma).join(', ')}`)
  assert.deepEqual(count(b, mb).length, 5, `the other subscriber's DELTAs: ${count(b, mb).join(', ')}`)
})

skTest('protocol: SYNC_REQUEST answers SYNC_RESPONSE with its requestId; UNSUBSCRIBE stops the deltas', async (t) => {
  const id = docId('unsub')
  dropDocLater(t, id)
  const w = await rawClient(t)
  const c = await rawClient(t)
  await w.subscribe(id)
  await w.delta(id, 'x', 1, { clientId: 'w' })
  let m = c.mark()
  c.send(T.SYNC_REQUEST, { documentId: id, requestId: 'req-42' })
  const r = await c.waitFrame((f) => f.type === T.SYNC_RESPONSE, { from: m })
  assert.equal(r.payload.requestId, 'req-42')
  assert.deepEqual(r.payload.state, { x: 1 })

  await c.subscribe(id)
  await w.delta(id, 'x', 2, { clientId: 'w' })
  await c.waitFrame((f) => f.type === T.DELTA && f.payload?.value === 2, { message: 'a live delta while subscribed' })
  c.send(T.UNSUBSCRIBE, { documentId: id })
  await sleep(300)
  m = c.mark()
  await w.delta(id, 'x', 3, { clientId: 'w' })
  await sleep(500)
  assert.deepEqual(c.since(m, (f) => f.type === T.DELTA).map(describeFrame), [], 'no deltas after UNSUBSCRIBE')
})

for (const [name, code] of [['DELTA_BATCH 0x50', T.DELTA_BATCH], ['DELTA_BATCH 0x22 (Go)', T.DELTA_BATCH_GO]]) {
  skTest(`protocol: ${name} → one transaction, one ACK {messageId, count}, every delta to the subscribers`, async (t) => {
    const id = docId('batch')
    dropDocLater(t, id)
    const a = await rawClient(t)
    const b = await rawClient(t)
    await a.subscribe(id)
    await b.subscribe(id)
    const ts = Date.now()
    const m = a.mark()
    const mb = b.mark()
    a.send(code, {
      documentId: id,
      messageId: 'batch-1',
      clientId: 'batcher',
      timestamp: ts,
      deltas: [
        { type: 'set', field: 'a', value: 1, clock: { batcher: 1 } },
        { type: 'set', field: 'b', value: 'two', clock: { batcher: 2 } },
        { type: 'set', documentId: id, field: 'c', value: [3], clientId: 'batcher', timestamp: ts + 1, clock: { batcher: 3 } },
      ],
    })
    const ack = await a.waitFrame((f) => f.type === T.ACK || f.type === T.ERROR, { from: m, message: 'the batch ACK' })
    assert.equal(ack.type, T.ACK, describeFrame(ack))
    assert.deepEqual([ack.payload.messageId, ack.payload.count], ['batch-1', 3], describeFrame(ack))
    await sleep(300)
    assert.equal(a.since(m, (f) => f.type === T.ACK).length, 1, 'exactly one ACK')
    assert.deepEqual(await tableDoc(id), { a: 1, b: 'two', c: [3] })
    const rows = await fieldRows(id)
    assert.deepEqual([rows.a.client_id, rows.a.ts, rows.c.ts], ['batcher', ts, ts + 1], 'batch defaults: clientId and timestamp from the batch')
    await waitFor(() => ['a', 'b', 'c'].every((f) => b.since(mb, (x) => x.type === T.DELTA && x.payload?.field === f).length), {
      message: 'B receives the three deltas',
    })

    // a batch with one bad item is refused whole
    const m2 = a.mark()
    a.send(code, { documentId: id, messageId: 'batch-2', clientId: 'batcher', timestamp: ts + 5, deltas: [{ type: 'set', field: 'a', value: 'changed' }, { type: 'set', value: 'no field' }] })
    const e = await a.waitFrame((f) => f.type === T.ACK || f.type === T.ERROR, { from: m2, message: 'the refusal of a bad batch' })
    assert.equal(e.type, T.ERROR, describeFrame(e))
    assert.equal(e.payload.code, 'INVALID_PAYLOAD')
    assert.deepEqual(await tableDoc(id), { a: 1, b: 'two', c: [3] }, 'nothing of a refused batch is applied')
  })
}

skTest('protocol: DELTA_BATCH with docId (Go) and an item of another document is refused', async (t) => {
  const id = docId('batchgo')
  dropDocLater(t, id)
  const a = await rawClient(t)
  const m = a.mark()
  a.send(T.DELTA_BATCH_GO, { docId: id, messageId: 'go-1', clientId: 'g', timestamp: Date.now(), deltas: [{ type: 'set', field: 'f', value: true, clock: { g: 1 } }] })
  const ack = await a.waitFrame((f) => f.type === T.ACK || f.type === T.ERROR, { from: m })
  assert.deepEqual([ack.payload?.messageId, ack.payload?.count], ['go-1', 1], describeFrame(ack))
  assert.deepEqual(await tableDoc(id), { f: true })
  const m2 = a.mark()
  a.send(T.DELTA_BATCH, { documentId: id, messageId: 'x-1', clientId: 'g', timestamp: Date.now(), deltas: [{ type: 'set', documentId: `${id}_other`, field: 'f', value: 1 }] })
  const e = await a.waitFrame((f) => f.type === T.ACK || f.type === T.ERROR, { from: m2 })
  assert.equal(e.type, T.ERROR, describeFrame(e))
  assert.equal(e.payload.code, 'INVALID_PAYLOAD')
})

function chunkBatch(batch, n) {
  // Pieces of the payload bytes whose sizes are multiples of 3: each piece is canonical base64
  // on its own, and the pieces' concatenation is the base64 of the whole payload, so either
  // reading of "the pieces, concatenated" gives the same bytes.
  const bytes = Buffer.from(JSON.stringify(batch))
  const size = Math.ceil(bytes.length / n / 3) * 3
  const pieces = []
  for (let i = 0; i < n; i++) pieces.push(bytes.subarray(i * size, (i + 1) * size).toString('base64'))
  assert.equal(pieces.join(''), bytes.toString('base64'))
  assert.ok(pieces.every((p) => p.length > 0))
  return { pieces }
}

skTest('protocol: DELTA_BATCH_CHUNK pieces are reassembled into one batch: ACK {chunkId, count}', async (t) => {
  const id = docId('chunk')
  dropDocLater(t, id)
  const a = await rawClient(t)
  await a.subscribe(id)
  const big = 'x'.repeat(3000)
  const batch = { documentId: id, messageId: 'chunked', clientId: 'chunker', timestamp: Date.now(), deltas: [
    { type: 'set', field: 'big', value: big, clock: { chunker: 1 } },
    { type: 'set', field: 'small', value: 1, clock: { chunker: 2 } },
  ] }
  const { pieces } = chunkBatch(batch, 3)
  const m = a.mark()
  pieces.forEach((data, chunkIndex) => a.send(T.DELTA_BATCH_CHUNK, { chunkId: 'c-1', totalChunks: pieces.length, chunkIndex, data }))
  const ack = await a.waitFrame((f) => f.type === T.ACK || f.type === T.ERROR, { from: m, message: 'the chunked batch ACK' })
  assert.equal(ack.type, T.ACK, describeFrame(ack))
  assert.equal(ack.payload.chunkId, 'c-1')
  assert.equal(ack.payload.count, 2)
  assert.deepEqual(await tableDoc(id), { big, small: 1 })
})

skTest('protocol: DELTA_BATCH_CHUNK pieces arriving out of order are joined in index order', async (t) => {
  const id = docId('chunk2')
  dropDocLater(t, id)
  const a = await rawClient(t)
  const batch = { documentId: id, messageId: 'chunked-2', clientId: 'chunker', timestamp: Date.now(), deltas: [{ type: 'set', field: 'f', value: 'ordered', clock: { chunker: 1 } }] }
  const { pieces } = chunkBatch(batch, 4)
  const m = a.mark()
  for (const i of [2, 0, 3, 1]) a.send(T.DELTA_BATCH_CHUNK, { chunkId: 'c-2', totalChunks: 4, chunkIndex: i, data: pieces[i] })
  const ack = await a.waitFrame((f) => f.type === T.ACK || f.type === T.ERROR, { from: m })
  assert.equal(ack.type, T.ACK, describeFrame(ack))
  assert.deepEqual([ack.payload.chunkId, ack.payload.count], ['c-2', 1], describeFrame(ack))
  assert.deepEqual(await tableDoc(id), { f: 'ordered' })
  // a chunk whose index is out of range is refused
  const m2 = a.mark()
  a.send(T.DELTA_BATCH_CHUNK, { chunkId: 'c-3', totalChunks: 2, chunkIndex: 2, data: 'e30=' })
  const e = await a.waitFrame((f) => f.type === T.ERROR || f.type === T.ACK, { from: m2 })
  assert.equal(e.type, T.ERROR)
  assert.equal(e.payload.code, 'INVALID_PAYLOAD')
})

skTest('protocol: awareness: AWARENESS_SUBSCRIBE → AWARENESS_STATE; updates reach every subscriber (sender included); a closed connection leaves with state null', async (t) => {
  const id = docId('aw')
  const a = await rawClient(t)
  const b = await rawClient(t)
  let m = a.mark()
  a.send(T.AWARENESS_SUBSCRIBE, { documentId: id })
  const s0 = await a.waitFrame((f) => f.type === T.AWARENESS_STATE, { from: m })
  assert.deepEqual([s0.payload.documentId, s0.payload.states], [id, []], describeFrame(s0))
  m = b.mark()
  b.send(T.AWARENESS_SUBSCRIBE, { documentId: id })
  await b.waitFrame((f) => f.type === T.AWARENESS_STATE, { from: m })

  const ma = a.mark()
  const mb = b.mark()
  a.send(T.AWARENESS_UPDATE, { documentId: id, clientId: 'aw-a', state: { cursor: 7, name: 'Ann' }, clock: 1 })
  for (const c of [a, b]) {
    const u = await c.waitFrame((f) => f.type === T.AWARENESS_UPDATE, { from: c === a ? ma : mb, message: 'the AWARENESS_UPDATE' })
    assert.equal(u.payload.documentId, id)
    assert.equal(u.payload.clientId, 'aw-a')
    assert.deepEqual(u.payload.state, { cursor: 7, name: 'Ann' })
    assert.equal(u.payload.clock, 1)
  }
  // a late awareness subscriber gets the current entries
  const c = await rawClient(t)
  m = c.mark()
  c.send(T.AWARENESS_SUBSCRIBE, { documentId: id })
  const s1 = await c.waitFrame((f) => f.type === T.AWARENESS_STATE, { from: m })
  assert.deepEqual(s1.payload.states.map((s) => [s.clientId, canon(s.state), s.clock]), [['aw-a', canon({ cursor: 7, name: 'Ann' }), 1]])

  // A disconnects: its entry leaves with state null at once
  const mb2 = b.mark()
  const closedAt = Date.now()
  a.close()
  const gone = await b.waitFrame((f) => f.type === T.AWARENESS_UPDATE && f.payload?.clientId === 'aw-a', { from: mb2, timeout: 5_000, message: 'state: null after A closed' })
  assert.equal(gone.payload.state, null)
  assert.ok(gone.at - closedAt < 2_000, `state null ${gone.at - closedAt} ms after the close (at once, not at the expiry)`)
  m = c.mark()
  c.send(T.AWARENESS_SUBSCRIBE, { documentId: id })
  const s2 = await c.waitFrame((f) => f.type === T.AWARENESS_STATE, { from: m })
  assert.deepEqual(s2.payload.states, [], 'no entry left after the disconnect')
})

skTest('protocol: awareness entries expire after synckit_awareness_timeout and go out with state null', async (t) => {
  const rows = await sql(`SELECT unit FROM pg_settings WHERE name = 'electric_sync.synckit_awareness_timeout'`)
  assert.equal(rows.length, 1, 'the setting electric_sync.synckit_awareness_timeout exists')
  await withSettings(t, { synckit_awareness_timeout: rows[0].unit === 's' ? '1' : '1000' })
  const id = docId('awexp')
  const a = await rawClient(t)
  const b = await rawClient(t)
  for (const c of [a, b]) {
    const m = c.mark()
    c.send(T.AWARENESS_SUBSCRIBE, { documentId: id })
    await c.waitFrame((f) => f.type === T.AWARENESS_STATE, { from: m })
  }
  const m = b.mark()
  const sentAt = Date.now()
  a.send(T.AWARENESS_UPDATE, { documentId: id, clientId: 'exp-a', state: { typing: true }, clock: 3 })
  await b.waitFrame((f) => f.type === T.AWARENESS_UPDATE && f.payload?.state !== null, { from: m })
  const gone = await b.waitFrame((f) => f.type === T.AWARENESS_UPDATE && f.payload?.clientId === 'exp-a' && f.payload?.state === null, {
    from: m,
    timeout: 8_000,
    message: 'the expiry (state null)',
  })
  const age = gone.at - sentAt
  assert.ok(age >= 800, `expired after ${age} ms, not before the timeout`)
  assert.equal(a.closed, null, 'the connection itself stays open')
  const m2 = b.mark()
  b.send(T.AWARENESS_SUBSCRIBE, { documentId: id })
  const s = await b.waitFrame((f) => f.type === T.AWARENESS_STATE, { from: m2 })
  assert.deepEqual(s.payload.states, [])
})

skTest('protocol: JSON text frames (Go and TS shapes, type by name or code) are answered in binary', async (t) => {
  const id = docId('text')
  dropDocLater(t, id)
  const c = await rawClient(t)
  let m = c.mark()
  c.sendText(JSON.stringify({ type: 'ping', id: 'p1', timestamp: Date.now() }))
  await c.waitFrame((f) => f.type === T.PONG, { from: m, message: 'PONG for a text ping' })
  m = c.mark()
  c.sendText(JSON.stringify({ type: 0x30, id: 'p2', timestamp: Date.now() }))
  await c.waitFrame((f) => f.type === T.PONG, { from: m, message: 'PONG for a text ping with a numeric type' })
  m = c.mark()
  c.sendText(JSON.stringify({ type: 'subscribe', id: 's1', timestamp: Date.now(), payload: { documentId: id } }))
  const r = await c.waitFrame((f) => f.type === T.SYNC_RESPONSE, { from: m, message: 'SYNC_RESPONSE for a TS-shaped subscribe' })
  assert.equal(r.payload.documentId, id)
  // Go shape: members at the top level; the delta's own type is "delta"
  m = c.mark()
  c.sendText(JSON.stringify({ type: 'delta', id: 'd1', timestamp: Date.now(), documentId: id, field: 'f', value: 'go', clientId: 'go-client', clock: { 'go-client': 1 }, messageId: 'd1' }))
  const ack = await c.waitFrame((f) => f.type === T.ACK || f.type === T.ERROR, { from: m, message: 'the ACK of a Go-shaped delta' })
  assert.equal(ack.type, T.ACK, describeFrame(ack))
  // TS shape with a nested payload whose own type is "set"
  m = c.mark()
  c.sendText(JSON.stringify({ type: 'delta', id: 'd2', timestamp: Date.now(), payload: { type: 'set', documentId: id, field: 'g', value: 'ts', clientId: 'ts-client', clock: { 'ts-client': 1 }, messageId: 'd2', timestamp: Date.now() } }))
  const ack2 = await c.waitFrame((f) => f.type === T.ACK || f.type === T.ERROR, { from: m, message: 'the ACK of a TS-shaped delta' })
  assert.equal(ack2.type, T.ACK, describeFrame(ack2))
  assert.deepEqual(await tableDoc(id), { f: 'go', g: 'ts' })
  // a text array is not an object
  m = c.mark()
  c.sendText('[1,2,3]')
  const e = await c.waitFrame((f) => f.type === T.ERROR, { from: m, allowClosed: true })
  assert.ok(['BAD_FRAME', 'INVALID_PAYLOAD'].includes(e.payload.code), JSON.stringify(e.payload))
  noText(c)
})

skTest('protocol: docId is an alias of documentId; both with different values is refused', async (t) => {
  const id = docId('alias')
  dropDocLater(t, id)
  const c = await rawClient(t)
  let m = c.mark()
  c.send(T.SUBSCRIBE, { docId: id })
  const r = await c.waitFrame((f) => f.type === T.SYNC_RESPONSE || f.type === T.ERROR, { from: m })
  assert.equal(r.type, T.SYNC_RESPONSE, describeFrame(r))
  assert.equal(r.payload.documentId, id)
  m = c.mark()
  c.send(T.DELTA, { type: 'set', docId: id, field: 'f', value: 1, clientId: 'al', clock: { al: 1 }, timestamp: Date.now(), messageId: 'al-1' })
  const ack = await c.waitFrame((f) => f.type === T.ACK || f.type === T.ERROR, { from: m })
  assert.equal(ack.type, T.ACK, describeFrame(ack))
  const echo = c.lastDelta(id, 'f')
  assert.ok(echo, 'the echo names the document as documentId')
  assert.deepEqual(await tableDoc(id), { f: 1 })
  m = c.mark()
  c.send(T.SUBSCRIBE, { docId: id, documentId: `${id}_x` })
  const e = await c.waitFrame((f) => f.type === T.SYNC_RESPONSE || f.type === T.ERROR, { from: m })
  assert.equal(e.type, T.ERROR, describeFrame(e))
  assert.equal(e.payload.code, 'INVALID_PAYLOAD')
})

skTest('protocol: deleted fields travel as tombstones {"__deleted": true} with type "delete" (SQL and client deletes)', async (t) => {
  const id = docId('tomb')
  dropDocLater(t, id)
  const a = await rawClient(t)
  const b = await rawClient(t)
  await a.subscribe(id)
  await b.subscribe(id)
  await a.delta(id, 'x', 1, { clientId: 'ta' })
  await a.delta(id, 'y', 2, { clientId: 'ta' })
  let m = b.mark()
  const [{ ok }] = await sql('SELECT electric_sync.document_delete_field($1, $2) AS ok', [id, 'x'])
  assert.equal(ok, true)
  const d = await b.waitFrame((f) => f.type === T.DELTA && f.payload?.field === 'x', { from: m, message: 'the tombstone of x' })
  assertServerDelta(d, { documentId: id, field: 'x', value: { __deleted: true }, type: 'delete', clientId: 'sql' })
  assert.equal((await fieldRows(id)).x.deleted, true)
  // a client's delete
  m = b.mark()
  await a.delta(id, 'y', { __deleted: true }, { clientId: 'ta', type: 'delete' })
  const d2 = await b.waitFrame((f) => f.type === T.DELTA && f.payload?.field === 'y', { from: m, message: 'the tombstone of y' })
  assertServerDelta(d2, { documentId: id, field: 'y', value: { __deleted: true }, type: 'delete', clientId: 'ta' })
  assert.deepEqual(await tableDoc(id), {})
  const [{ doc, missing }] = await sql('SELECT electric_sync.document_get($1) AS doc, electric_sync.document_get($2) AS missing', [id, `${id}_none`])
  assert.deepEqual(doc, {}, 'document_get of a document without live fields is {}')
  assert.equal(missing, null, 'document_get of a missing document is NULL')
})

skTest('protocol: a document deleted from SQL under live subscribers sends a tombstone per field, and the worker survives the subscribers closing at once', async (t) => {
  const pid = await workerPid()
  for (let round = 0; round < 6; round++) {
    const id = docId('deldoc')
    const a = await rawClient(t)
    const b = await rawClient(t)
    await a.subscribe(id)
    await b.subscribe(id)
    await a.delta(id, 'x', 1, { clientId: 'dd' })
    await a.delta(id, 'y', 2, { clientId: 'dd' })
    const m = b.mark()
    const [{ ok }] = await sql('SELECT electric_sync.document_delete($1) AS ok', [id])
    assert.equal(ok, true)
    if (round % 2 === 0) {
      await b.waitFrame((f) => f.type === T.DELTA && f.payload?.field === 'y' && f.payload?.type === 'delete', { from: m, message: 'the tombstone of y' })
      assert.deepEqual(b.since(m, (f) => f.type === T.DELTA && f.payload?.type === 'delete').map((f) => f.payload.field).sort(), ['x', 'y'])
    }
    // close at once, while the deletion's notifications may still be in flight
    a.close()
    b.close()
    await sleep(1_500)
    assert.equal(await healthStatus(), 200, `round ${round}: /v1/health`)
    assert.equal(await workerPid(), pid, `round ${round}: the worker restarted (it crashed)`)
  }
})

skTest('protocol: SQL writes reach subscribers: a plain DELETE of a field row is a tombstone, a big value (past NOTIFY\'s 8000 bytes) arrives whole, a rolled-back UPDATE sends nothing, a multi-row transaction sends every row', async (t) => {
  const id = docId('sqlfan')
  dropDocLater(t, id)
  const w = await rawClient(t)
  const c = await rawClient(t)
  await w.subscribe(id)
  await c.subscribe(id)
  for (const f of ['a', 'b', 'c', 'd']) await w.delta(id, f, f, { clientId: 'w' })
  await waitFor(() => c.lastDelta(id, 'd'), { message: 'the setup writes' })

  let m = c.mark()
  await sql(`DELETE FROM electric_sync_docs.fields WHERE document_id = $1 AND field = 'a'`, [id])
  const del = await c.waitFrame((f) => f.type === T.DELTA && f.payload?.field === 'a', { from: m, message: 'the tombstone of a plain DELETE' })
  assertServerDelta(del, { documentId: id, field: 'a', value: { __deleted: true }, type: 'delete' })

  const big = { text: 'z'.repeat(20_000), list: Array.from({ length: 200 }, (_, i) => i) }
  m = c.mark()
  await sql(`SELECT electric_sync.document_set($1, 'big', $2::jsonb)`, [id, JSON.stringify(big)])
  const bf = await c.waitFrame((f) => f.type === T.DELTA && f.payload?.field === 'big', { from: m, message: 'the big value' })
  assert.equal(canon(bf.payload.value), canon(big), 'the big value arrives whole')

  m = c.mark()
  await sql(`BEGIN; UPDATE electric_sync_docs.fields SET value = '"rolled back"' WHERE document_id = '${id}' AND field = 'b'; ROLLBACK`)
  await sql(`BEGIN; UPDATE electric_sync_docs.fields SET value = '"tx-c"' WHERE document_id = '${id}' AND field = 'c'; UPDATE electric_sync_docs.fields SET value = '"tx-d"' WHERE document_id = '${id}' AND field = 'd'; COMMIT`)
  await waitFor(() => c.lastDelta(id, 'c')?.payload.value === 'tx-c' && c.lastDelta(id, 'd')?.payload.value === 'tx-d', { message: 'both rows of the committed transaction' })
  await sleep(300)
  assert.deepEqual(c.since(m, (f) => f.type === T.DELTA && f.payload?.field === 'b').map(describeFrame), [], 'nothing for the rolled-back UPDATE')
  assert.deepEqual(await tableDoc(id), { b: 'b', c: 'tx-c', d: 'tx-d', big })
})

skTest('protocol: one connection subscribed to 200 documents gets every document\'s delta from one SQL statement', { timeout: 60_000 }, async (t) => {
  const ids = Array.from({ length: 200 }, (_, i) => docId(`many${i}`))
  dropDocLater(t, ...ids)
  const c = await rawClient(t)
  for (const id of ids) await sql('SELECT electric_sync.document_create($1)', [id])
  for (const id of ids) c.send(T.SUBSCRIBE, { documentId: id })
  await waitFor(() => c.since(0, (f) => f.type === T.SYNC_RESPONSE).length === ids.length, { timeout: 30_000, message: '200 SYNC_RESPONSEs' })
  const m = c.mark()
  await sql(`SELECT count(electric_sync.document_set(id, 'stamp', '"all at once"')) FROM unnest($1::text[]) AS id`, [ids])
  await waitFor(() => new Set(c.since(m, (f) => f.type === T.DELTA && f.payload?.field === 'stamp').map((f) => f.payload.documentId)).size === ids.length, {
    timeout: 30_000,
    message: `a DELTA for each of the 200 documents (got ${new Set(c.since(m, (f) => f.type === T.DELTA).map((f) => f.payload.documentId)).size})`,
  })
  assert.equal(c.since(0, (f) => f.type === T.ERROR).length, 0)
})

skTest('protocol: DELTA_BATCH with more than 1000 deltas is refused whole', async (t) => {
  const id = docId('bigbatch')
  dropDocLater(t, id)
  const c = await rawClient(t)
  const deltas = Array.from({ length: 1001 }, (_, i) => ({ type: 'set', field: `f${i}`, value: i }))
  const m = c.mark()
  c.send(T.DELTA_BATCH, { documentId: id, messageId: 'too-many', clientId: 'bb', timestamp: Date.now(), deltas })
  const e = await c.waitFrame((f) => f.type === T.ACK || f.type === T.ERROR, { from: m })
  assert.equal(e.type, T.ERROR, describeFrame(e))
  assert.equal(e.payload.code, 'INVALID_PAYLOAD')
  assert.deepEqual(await tableDoc(id), {})
  const ok = Array.from({ length: 1000 }, (_, i) => ({ type: 'set', field: `f${i}`, value: i }))
  const m2 = c.mark()
  c.send(T.DELTA_BATCH, { documentId: id, messageId: 'just-enough', clientId: 'bb', timestamp: Date.now(), deltas: ok })
  const a = await c.waitFrame((f) => f.type === T.ACK || f.type === T.ERROR, { from: m2, timeout: 30_000 })
  assert.equal(a.type, T.ACK, describeFrame(a))
  assert.equal(a.payload.count, 1000)
  assert.equal(Object.keys(await tableDoc(id)).length, 1000)
})

skTest('protocol: the SQL API: document_create, document_get, document_set, document_delete_field, document_delete, electric_sync.documents', async (t) => {
  const id = docId('api')
  dropDocLater(t, id)
  const one = async (q, ...params) => Object.values((await sql(q, params))[0])[0]
  assert.equal(await one('SELECT electric_sync.document_create($1)', id), true, 'created')
  assert.equal(await one('SELECT electric_sync.document_create($1)', id), false, 'already there')
  assert.deepEqual(await one('SELECT electric_sync.document_get($1)', id), {})
  const c1 = Number(await one(`SELECT electric_sync.document_set($1, 'a', '{"x": 1}')`, id))
  const c2 = Number(await one(`SELECT electric_sync.document_set($1, 'b', '[true, null]')`, id))
  assert.ok(c2 > c1 && c1 > 0, `counters rise: ${c1}, ${c2}`)
  assert.deepEqual(await one('SELECT electric_sync.document_get($1)', id), { a: { x: 1 }, b: [true, null] })
  const [row] = await sql('SELECT id, fields::int AS fields, counter::int AS counter, created_at, updated_at FROM electric_sync.documents WHERE id = $1', [id])
  assert.deepEqual([row.id, row.fields, row.counter], [id, 2, c2], 'the view: id, number of live fields, counter')
  assert.ok(row.created_at instanceof Date && row.updated_at >= row.created_at)
  assert.equal(await one('SELECT electric_sync.document_delete_field($1, $2)', id, 'a'), true)
  assert.deepEqual(await one('SELECT electric_sync.document_get($1)', id), { b: [true, null] })
  assert.equal(await one('SELECT electric_sync.document_delete($1)', id), true)
  assert.equal(await one('SELECT electric_sync.document_get($1)', id), null)
  assert.equal(await one('SELECT electric_sync.document_delete($1)', id), false, 'already gone')
  const [{ n }] = await sql('SELECT count(*)::int AS n FROM electric_sync_docs.fields WHERE document_id = $1', [id])
  assert.equal(n, 0, 'document_delete removes the fields')
})

skTest('protocol: the documents are superuser-only: a plain role can neither read the tables nor call the API', async (t) => {
  const role = `sk_plain_${process.pid}`
  await sql(`DROP ROLE IF EXISTS ${role}`)
  await sql(`CREATE ROLE ${role} LOGIN`)
  t.after(() => sql(`DROP ROLE IF EXISTS ${role}`).catch(() => {}))
  for (const q of [
    'SELECT count(*) FROM electric_sync_docs.fields',
    'SELECT count(*) FROM electric_sync_docs.documents',
    `SELECT electric_sync.document_get('x')`,
    `SELECT electric_sync.document_set('x', 'f', '1')`,
    `UPDATE electric_sync_docs.fields SET value = '1'`,
  ]) {
    await assert.rejects(sql(`BEGIN; SET LOCAL ROLE ${role}; ${q}; COMMIT`).finally(() => sql('ROLLBACK').catch(() => {})), /permission denied/, q)
  }
})

skTest('protocol: the same write resent under a new messageId is ACKed and changes nothing', async (t) => {
  const id = docId('resend')
  dropDocLater(t, id)
  const c = await rawClient(t)
  await c.subscribe(id)
  const ts = Date.now()
  await c.delta(id, 'f', 'v', { clientId: 'rs', timestamp: ts, messageId: 'first' })
  const r2 = await c.delta(id, 'f', 'v', { clientId: 'rs', timestamp: ts, messageId: 'second' })
  assert.equal(r2.ack.payload.messageId, 'second')
  const row = (await fieldRows(id)).f
  assert.deepEqual([row.value, row.ts, row.client_id], ['v', ts, 'rs'])
  // a losing write is ACKed and the sender is sent the current winner again
  const m = c.mark()
  const lost = await c.delta(id, 'f', 'older', { clientId: 'rs', timestamp: ts - 1, messageId: 'third' })
  assert.ok(lost.ack)
  const again = c.since(m, (f) => f.type === T.DELTA && f.payload?.field === 'f').at(-1)
  assert.ok(again, 'the current winner is sent again to the loser')
  assert.equal(again.payload.value, 'v')
  assert.ok(again.payload.clock.electric_sync > r2.echo.payload.clock.electric_sync, `with a new counter (${r2.echo.payload.clock.electric_sync} -> ${again.payload.clock.electric_sync})`)
  assert.deepEqual((await tableDoc(id)).f, 'v')
})

skTest('protocol: with synckit_create_documents = off an unknown document is DOCUMENT_NOT_FOUND; an existing one works', async (t) => {
  const known = docId('known')
  dropDocLater(t, known)
  await sql('SELECT electric_sync.document_create($1)', [known])
  await withSettings(t, { synckit_create_documents: 'off' }, {
    probe: async () => {
      const p = await RawClient.open({ token: FULL_TOKEN() })
      try {
        const m = p.mark()
        p.send(T.SUBSCRIBE, { documentId: docId('probe') })
        const f = await p.waitFrame((x) => x.type === T.ERROR || x.type === T.SYNC_RESPONSE, { from: m, timeout: 2_000 })
        return f.payload?.code === 'DOCUMENT_NOT_FOUND'
      } finally {
        p.close()
      }
    },
  })
  const c = await rawClient(t)
  const unknown = docId('unknown')
  const m = c.mark()
  c.send(T.SUBSCRIBE, { documentId: unknown })
  const e = await c.waitFrame((f) => f.type === T.ERROR || f.type === T.SYNC_RESPONSE, { from: m })
  assert.equal(e.payload.code, 'DOCUMENT_NOT_FOUND', describeFrame(e))
  await c.subscribe(known)
  await c.delta(known, 'f', 1, { clientId: 'k' })
  assert.deepEqual(await tableDoc(known), { f: 1 })
  const [{ n }] = await sql('SELECT count(*)::int AS n FROM electric_sync_docs.documents WHERE id = $1', [unknown])
  assert.equal(n, 0, 'the unknown document was not created')
})
