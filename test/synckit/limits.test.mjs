// The limits of /ws, each set low for the test with ALTER SYSTEM + reload and put back after:
// connections per IP (ERROR TOO_MANY_CONNECTIONS, close 1008), messages per minute per connection
// (ERROR RATE_LIMITED, close 1008), bytes per message (ERROR MESSAGE_TOO_LARGE, close 1009; also
// at the 2 MB default). Over a limit only the offending connection goes; the worker stays.
import { before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import {
  skTest, closePool, RawClient, rawClient, FULL_TOKEN, T, withSettings, resetSettings, metrics, waitFor, sleep,
  workerPid, assertWorkerAlive, docId, dropDocLater, tableDoc, describeFrame, encodeFrame, sql,
} from './lib.mjs'

let pid
before(async () => {
  pid = await waitFor(() => workerPid(), { message: 'the worker pid' })
})
after(async () => {
  await resetSettings(['synckit_max_connections_per_ip', 'synckit_messages_per_minute', 'synckit_max_message_bytes'])
  await closePool()
})

const synckit = async () => (await metrics()).synckit
/** The worker's resident memory (MB), from /proc (the cluster runs on this machine). */
const rssMB = (p) => Number(readFileSync(`/proc/${p}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]) / 1024

/** Waits until the server counts no open SyncKit connection (those of earlier tests are gone). */
async function noConnections() {
  await waitFor(async () => (await synckit())?.connections === 0, { timeout: 10_000, message: 'metrics synckit.connections = 0' })
}

async function pingPong(c, what) {
  const m = c.mark()
  c.send(T.PING, {})
  await c.waitFrame((f) => f.type === T.PONG, { from: m, timeout: 5_000, message: `PONG (${what})` })
}

async function expectLimitClose(c, code, closeCode, what) {
  const e = await c.waitFrame((f) => f.type === T.ERROR, { message: `ERROR ${code} (${what})`, allowClosed: true, timeout: 5_000 }).catch((err) => {
    throw new Error(`${what}: no ERROR frame before the close (${JSON.stringify(c.closed)}): ${err.message}`)
  })
  assert.equal(e.payload?.code, code, `${what}: ${describeFrame(e)}`)
  const closed = await c.waitClose(5_000, `${what}: the close after ${code}`)
  assert.equal(closed.code, closeCode, `${what}: close code`)
}

skTest('limits: synckit_max_connections_per_ip: the connection over the cap gets TOO_MANY_CONNECTIONS and 1008; a freed slot is usable', async (t) => {
  await noConnections()
  const before = (await synckit()).closed_by_limit ?? 0
  await withSettings(t, { synckit_max_connections_per_ip: 3 })
  const open = []
  t.after(() => open.forEach((c) => c.close()))
  for (let i = 0; i < 3; i++) {
    const c = await RawClient.open({ token: FULL_TOKEN() })
    open.push(c)
    await pingPong(c, `connection ${i + 1} of 3`)
  }
  const over = await RawClient.open({ token: FULL_TOKEN(), allowFail: true })
  open.push(over)
  assert.equal(over.opened, true, `the 4th upgrade is answered as a WebSocket and refused with a frame (got ${JSON.stringify(over.rejected)})`)
  await expectLimitClose(over, 'TOO_MANY_CONNECTIONS', 1008, 'the 4th connection')
  for (const c of open.slice(0, 3)) await pingPong(c, 'a connection under the cap')
  // free a slot: a new connection then works
  open[0].close()
  await open[0].waitClose(5_000)
  await waitFor(async () => {
    const c = await RawClient.open({ token: FULL_TOKEN() })
    open.push(c)
    try {
      await pingPong(c, 'a connection in the freed slot')
      return !c.closed
    } catch {
      c.close()
      return false
    }
  }, { timeout: 5_000, interval: 200, message: 'a connection in the freed slot' })
  const m = await synckit()
  assert.ok(m.closed_by_limit >= before + 1, `closed_by_limit ${before} -> ${m.closed_by_limit}`)
  for (const c of open) c.close()
  await Promise.all(open.map((c) => c.waitClose(5_000).catch(() => {})))
  await sleep(200)
  await assertWorkerAlive(pid, 'after the connection cap')
})

skTest('limits: synckit_messages_per_minute: message N+1 in a minute gets RATE_LIMITED and 1008; another connection is unaffected', async (t) => {
  const LIMIT = 20
  await withSettings(t, { synckit_messages_per_minute: LIMIT })
  const c = await rawClient(t)
  const other = await rawClient(t)
  for (let i = 0; i < LIMIT + 5 && !c.closed; i++) c.send(T.PING, { i })
  await expectLimitClose(c, 'RATE_LIMITED', 1008, 'the connection over the rate')
  const pongs = c.frames.filter((f) => f.type === T.PONG).length
  assert.equal(pongs, LIMIT, `exactly the first ${LIMIT} messages were answered (got ${pongs} PONGs)`)
  for (let i = 0; i < 5; i++) await pingPong(other, `the other connection, ping ${i + 1}`)
  await assertWorkerAlive(pid, 'after the rate limit')
})

skTest('limits: synckit_max_message_bytes: a message under the cap is applied; one over it gets MESSAGE_TOO_LARGE and 1009', async (t) => {
  const MAX = 10_000
  await withSettings(t, { synckit_max_message_bytes: MAX })
  const id = docId('size')
  dropDocLater(t, id)
  const c = await rawClient(t)
  await c.subscribe(id)
  const small = 'a'.repeat(MAX - 1_000)
  await c.delta(id, 'small', small, { clientId: 'sz' })
  assert.equal((await tableDoc(id)).small, small)

  const big = 'b'.repeat(MAX + 2_000)
  c.send(T.DELTA, { type: 'set', documentId: id, field: 'big', value: big, clock: { sz: 2 }, clientId: 'sz', timestamp: Date.now(), messageId: 'big' })
  await expectLimitClose(c, 'MESSAGE_TOO_LARGE', 1009, 'a binary message over the cap')
  assert.equal((await tableDoc(id)).big, undefined, 'the big write was not applied')

  const c2 = await rawClient(t)
  c2.sendText(JSON.stringify({ type: 'ping', id: 'x', timestamp: 1, pad: 'p'.repeat(MAX + 10) }))
  await expectLimitClose(c2, 'MESSAGE_TOO_LARGE', 1009, 'a text message over the cap')
  await assertWorkerAlive(pid, 'after the size limit')
})

skTest('limits: the 2 MB default: a 1.9 MB delta is applied, a 2.1 MB one gets MESSAGE_TOO_LARGE and 1009', { timeout: 90_000 }, async (t) => {
  const [{ setting }] = await sql(`SELECT setting FROM pg_settings WHERE name = 'electric_sync.synckit_max_message_bytes'`)
  assert.equal(setting, '2000000', 'the default of synckit_max_message_bytes')
  const id = docId('size2')
  dropDocLater(t, id)
  const c = await rawClient(t)
  const v = 'c'.repeat(1_900_000)
  await c.delta(id, 'f', v, { clientId: 'sz', timeout: 30_000 })
  assert.equal((await tableDoc(id)).f.length, v.length)
  const frame = encodeFrame(T.DELTA, { type: 'set', documentId: id, field: 'g', value: 'd'.repeat(2_100_000), clock: { sz: 2 }, clientId: 'sz', timestamp: Date.now(), messageId: 'g' })
  c.sendRaw(frame)
  await expectLimitClose(c, 'MESSAGE_TOO_LARGE', 1009, 'a 2.1 MB message')
  assert.equal((await tableDoc(id)).g, undefined)
  await sleep(100)
  await assertWorkerAlive(pid, 'after a 2.1 MB message')
})

skTest('limits: the defaults: the 51st connection from one address and the 501st message in a minute are refused', { timeout: 90_000 }, async (t) => {
  const rows = await sql(`SELECT name, setting FROM pg_settings WHERE name IN ('electric_sync.synckit_max_connections_per_ip', 'electric_sync.synckit_messages_per_minute') ORDER BY name`)
  assert.deepEqual(rows.map((r) => r.setting), ['50', '500'], 'the defaults')
  await noConnections()
  const open = []
  t.after(() => open.forEach((c) => c.close()))
  for (let i = 0; i < 50; i++) open.push(await RawClient.open({ token: FULL_TOKEN() }))
  for (const c of open.slice(-3)) await pingPong(c, 'one of the first 50')
  const over = await RawClient.open({ token: FULL_TOKEN(), allowFail: true })
  open.push(over)
  await expectLimitClose(over, 'TOO_MANY_CONNECTIONS', 1008, 'the 51st connection')
  // 500 messages in a minute on one connection are fine, the 501st is not
  const c = open[0]
  for (let i = 0; i < 501; i++) c.send(T.PING, { i })
  await expectLimitClose(c, 'RATE_LIMITED', 1008, 'message 501')
  assert.equal(c.frames.filter((f) => f.type === T.PONG).length, 500, 'the first 500 answered')
  for (const x of open) x.close()
  await Promise.all(open.map((x) => x.waitClose(5_000).catch(() => {})))
  await sleep(300)
  await assertWorkerAlive(pid, 'after the default limits')
})

skTest('limits: a subscriber that stops reading does not hold up the writer or the other subscribers', { timeout: 120_000 }, async (t) => {
  const id = docId('slow')
  dropDocLater(t, id)
  const writer = await rawClient(t)
  const fast = await rawClient(t)
  const slow = await rawClient(t)
  await fast.subscribe(id)
  await slow.subscribe(id)
  slow.ws._socket.pause() // reads nothing more: the server's send queue for it fills up
  const rss0 = rssMB(pid)
  const value = 'v'.repeat(1_000_000)
  const t0 = Date.now()
  for (let i = 0; i < 40; i++) await writer.delta(id, 'big', `${i}:${value}`, { clientId: 'slowtest', timeout: 20_000 })
  const took = Date.now() - t0
  t.diagnostic(`40 writes of 1 MB with a stalled subscriber: ${took} ms; the stalled one ${slow.closed ? `closed (${slow.closed.code})` : 'still open'}`)
  await waitFor(() => fast.lastDelta(id, 'big')?.payload.value.startsWith('39:'), { timeout: 30_000, message: 'the reading subscriber to get the last write' })
  assert.ok(took < 60_000, `the writer was not held up (${took} ms)`)
  const grown = rssMB(pid) - rss0
  assert.ok(grown < 100, `the worker's memory stayed bounded with 40 MB owed to a stalled reader (+${grown.toFixed(0)} MB)`)
  // reading again: it was either closed (its queue overflowed) or it gets everything, never a gap
  slow.ws._socket.resume()
  await waitFor(() => slow.closed || slow.lastDelta(id, 'big')?.payload.value.startsWith('39:'), { timeout: 30_000, message: 'the stalled reader to be closed or to catch up' })
  t.diagnostic(`the stalled reader: ${slow.closed ? `closed ${slow.closed.code} ${slow.closed.reason}` : 'caught up'} after ${slow.frames.length} frames`)
  if (slow.closed) assert.equal(slow.closed.code, 1008, `a stalled reader is closed as over a limit (${JSON.stringify(slow.closed)})`)
  slow.terminate()
  await assertWorkerAlive(pid, 'after a stalled subscriber')
})
