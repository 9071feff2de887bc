// WebSocket keep-alive: on a connection without traffic the server sends WebSocket ping control
// frames (after half of its 60 s WebSocket idle timeout); a peer that answers them (every browser,
// ws) stays connected, one that never answers is closed at the idle timeout. Takes about 65 s.
import { after } from 'node:test'
import assert from 'node:assert/strict'
import { skTest, closePool, RawClient, FULL_TOKEN, T, waitFor } from './lib.mjs'

after(() => closePool())

skTest('keepalive: a quiet connection gets WebSocket pings; a peer that never answers them is closed, one that answers stays', { timeout: 100_000 }, async (t) => {
  const live = await RawClient.open({ token: FULL_TOKEN() })
  const deaf = await RawClient.open({ token: FULL_TOKEN(), autoPong: false })
  t.after(() => {
    live.close()
    deaf.close()
  })
  const opened = Date.now()
  await waitFor(() => live.wsPings >= 1 && deaf.wsPings >= 1, { timeout: 45_000, interval: 200, message: 'a WebSocket ping on both quiet connections' })
  t.diagnostic(`first ping after ${Date.now() - opened} ms`)
  const closed = await deaf.waitClose(45_000, 'the server to close the peer that never answered pings')
  t.diagnostic(`the deaf peer was closed after ${closed.at - opened} ms (code ${closed.code})`)
  assert.equal(live.closed, null, `the answering peer is still connected (${JSON.stringify(live.closed)})`)
  const m = live.mark()
  live.send(T.PING, {})
  await live.waitFrame((f) => f.type === T.PONG, { from: m, timeout: 5_000 })
})
