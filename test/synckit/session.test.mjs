// What a connection's identity allows over time and against other connections: a token's exp
// ends the connection; an awareness entry belongs to the connection that set it. Deltas sent
// without waiting (committed together) each get their DELTA then their ACK, in order, once.
import { after } from 'node:test'
import assert from 'node:assert/strict'
import {
  skTest, docId, dropDocLater, closePool, RawClient, rawClient, T, mintToken, sleep, describeFrame, tableDoc, waitFor,
} from './lib.mjs'

after(() => closePool())

skTest('session: a token that expires while its connection is open ends it (AUTH_ERROR INVALID_TOKEN, close 1008)', { timeout: 30_000 }, async (t) => {
  const id = docId('exp')
  dropDocLater(t, id)
  const exp = Math.floor(Date.now() / 1000) + 3
  const c = await RawClient.open({ token: mintToken({ userId: 'short-lived', exp }) })
  t.after(() => c.close())
  await c.subscribe(id)
  const { ack } = await c.delta(id, 'f', 'before exp', { clientId: 'short' })
  assert.ok(ack, 'a write before the expiry is acknowledged')
  // wait until the token's second has passed
  while (Date.now() / 1000 < exp + 0.2) await sleep(100)
  const m = c.mark()
  c.send(T.DELTA, { type: 'set', documentId: id, field: 'f', value: 'after exp', clock: { short: 9 }, clientId: 'short', timestamp: Date.now(), messageId: 'm-after' })
  const f = await c.waitFrame((x) => x.type === T.AUTH_ERROR || x.type === T.ACK, { from: m, allowClosed: true, message: 'AUTH_ERROR after exp' })
  assert.equal(f.type, T.AUTH_ERROR, describeFrame(f))
  assert.equal(f.payload.code, 'INVALID_TOKEN')
  assert.equal((await c.waitClose(5_000)).code, 1008)
  assert.deepEqual(await tableDoc(id), { f: 'before exp' }, 'the write after exp was not applied')
})

skTest('session: an awareness entry belongs to its connection: another cannot overwrite or clear it', async (t) => {
  const id = docId('awown')
  const a = await rawClient(t)
  const b = await rawClient(t)
  let m = a.mark()
  a.send(T.AWARENESS_SUBSCRIBE, { documentId: id })
  await a.waitFrame((f) => f.type === T.AWARENESS_STATE, { from: m })
  m = a.mark()
  a.send(T.AWARENESS_UPDATE, { documentId: id, clientId: 'owner-a', state: { cursor: 1 }, clock: 1 })
  await a.waitFrame((f) => f.type === T.AWARENESS_UPDATE && f.payload?.clientId === 'owner-a', { from: m })

  for (const state of [{ cursor: 666 }, null]) {
    const mb = b.mark()
    const ma = a.mark()
    b.send(T.AWARENESS_UPDATE, { documentId: id, clientId: 'owner-a', state, clock: 2 })
    const e = await b.waitFrame((f) => f.type === T.ERROR, { from: mb, message: `ERROR for another connection's entry (state ${JSON.stringify(state)})` })
    assert.equal(e.payload.code, 'PERMISSION_DENIED', describeFrame(e))
    await sleep(200)
    assert.deepEqual(a.since(ma, (f) => f.type === T.AWARENESS_UPDATE).map(describeFrame), [], 'nothing was broadcast')
  }
  m = a.mark()
  a.send(T.AWARENESS_SUBSCRIBE, { documentId: id })
  const s = await a.waitFrame((f) => f.type === T.AWARENESS_STATE, { from: m })
  assert.deepEqual(s.payload.states.map((x) => [x.clientId, x.state]), [['owner-a', { cursor: 1 }]])
  // its owner can still change it
  m = a.mark()
  a.send(T.AWARENESS_UPDATE, { documentId: id, clientId: 'owner-a', state: { cursor: 2 }, clock: 3 })
  const u = await a.waitFrame((f) => f.type === T.AWARENESS_UPDATE && f.payload?.clientId === 'owner-a', { from: m })
  assert.deepEqual(u.payload.state, { cursor: 2 })
})

skTest('session: deltas sent without waiting (committed together) each get DELTA then ACK, in order, and all are stored', async (t) => {
  const id = docId('pipe')
  dropDocLater(t, id)
  const a = await rawClient(t)
  const b = await rawClient(t)
  await a.subscribe(id)
  await b.subscribe(id)
  const ma = a.mark()
  const mb = b.mark()
  const n = 40
  for (let i = 0; i < n; i++) {
    a.send(T.DELTA, { type: 'set', documentId: id, field: `f${i % 7}`, value: i, clock: { pipe: i + 1 }, clientId: 'pipe', timestamp: 1_000_000 + i, messageId: `p-${i}` })
  }
  await waitFor(() => a.since(ma, (f) => f.type === T.ACK).length === n, { message: `${n} ACKs` })
  const seq = a.since(ma, (f) => f.type === T.DELTA || f.type === T.ACK).map((f) => (f.type === T.ACK ? `ack:${f.payload.messageId}` : `d:${f.payload.value}`))
  const want = []
  for (let i = 0; i < n; i++) want.push(`d:${i}`, `ack:p-${i}`)
  assert.deepEqual(seq, want)
  await waitFor(() => b.since(mb, (f) => f.type === T.DELTA).length === n, { message: `${n} DELTAs at the other subscriber` })
  assert.deepEqual(b.since(mb, (f) => f.type === T.DELTA).map((f) => f.payload.value), [...Array(n).keys()])
  const doc = await tableDoc(id)
  for (let k = 0; k < 7; k++) {
    const last = Math.max(...[...Array(n).keys()].filter((i) => i % 7 === k))
    assert.equal(doc[`f${k}`], last, `f${k} holds the last write`)
  }
})
