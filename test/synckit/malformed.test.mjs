// Malformed frames on /ws from a raw client: a truncated header, length mismatches, unknown
// types, bad JSON, 100,000-deep JSON (binary and text), payloads and text frames that are not
// objects, payload members of the wrong type. Each gets an ERROR frame {code: BAD_FRAME |
// INVALID_PAYLOAD, error, details} or a close; a connection left open still answers PING; the
// worker survives (same pid, /v1/health 200, a new connection answers PING).
import { before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import net from 'node:net'
import {
  skTest, closePool, RawClient, FULL_TOKEN, T, encodeFrame, workerPid, assertWorkerAlive, describeFrame, waitFor, sleep, http,
  ELECTRIC_URL, HTTP_HOSTNAME, HTTP_PORT,
} from './lib.mjs'

let pid
before(async () => {
  pid = await waitFor(() => workerPid(), { message: 'the worker pid' })
})
after(() => closePool())

const deep = (n, open = '[', close = ']') => open.repeat(n) + close.repeat(n)
const deepObj = (n) => '{"a":'.repeat(n) + '1' + '}'.repeat(n)
const head = (type, len, ts = Date.now()) => {
  const b = Buffer.alloc(13)
  b.writeUInt8(type, 0)
  b.writeBigInt64BE(BigInt(ts), 1)
  b.writeUInt32BE(len, 9)
  return b
}
const bin = (type, text) => encodeFrame(type, Buffer.from(text, 'utf8'))

/** name → {binary: Buffer} | {text: string}; `codes`: the acceptable ERROR codes. */
const CASES = {
  'an empty binary message': { binary: Buffer.alloc(0) },
  'a truncated header (5 bytes)': { binary: Buffer.from([0x10, 0, 0, 1, 0x8b]) },
  'a truncated header (12 bytes)': { binary: head(T.PING, 2).subarray(0, 12) },
  'a length past the end (says 100, has 10)': { binary: Buffer.concat([head(T.SUBSCRIBE, 100), Buffer.from('{"a":"bc"}')]) },
  'a length of 4 GiB - 1 with 2 bytes': { binary: Buffer.concat([head(T.PING, 0xffffffff), Buffer.from('{}')]), codes: ['BAD_FRAME', 'MESSAGE_TOO_LARGE'] },
  'a length shorter than the payload': { binary: Buffer.concat([head(T.SUBSCRIBE, 3), Buffer.from('{"documentId":"x"}')]) },
  'an unknown type 0x77': { binary: bin(0x77, '{}') },
  'an unknown type 0x00': { binary: bin(0x00, '{}') },
  'sync_step1 0x14 (not ours)': { binary: bin(0x14, '{"documentId":"x"}') },
  'bad JSON': { binary: bin(T.SUBSCRIBE, '{"documentId": "x"') },
  'not JSON at all': { binary: bin(T.DELTA, 'hello world') },
  'invalid UTF-8 in the payload': { binary: encodeFrame(T.SUBSCRIBE, Buffer.from([0x7b, 0x22, 0x64, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])) },
  '100,000-deep JSON array (binary)': { binary: bin(T.DELTA, `{"type":"set","documentId":"d","field":"f","value":${deep(100_000)},"clientId":"c","timestamp":1,"messageId":"m"}`) },
  '100,000-deep JSON object (binary)': { binary: bin(T.SUBSCRIBE, deepObj(100_000)) },
  '100,000-deep JSON (text frame)': { text: `{"type":"ping","x":${deep(100_000)}}` },
  '100,000-deep bare array (text frame)': { text: deep(100_000) },
  'a payload that is an array': { binary: bin(T.SUBSCRIBE, '["documentId"]') },
  'a payload that is a string': { binary: bin(T.SUBSCRIBE, '"documentId"') },
  'a payload that is a number': { binary: bin(T.PING, '42') },
  'a payload that is null': { binary: bin(T.SUBSCRIBE, 'null') },
  'a text frame that is an array': { text: '[{"type":"ping"}]' },
  'a text frame that is a string': { text: '"ping"' },
  'a text frame that is a number': { text: '12345' },
  'a text frame that is not JSON': { text: 'hello' },
  'a text frame with bad JSON': { text: '{"type":"ping",' },
  'a text frame with an unknown type name': { text: '{"type":"sync_step1","id":"x","timestamp":1}' },
  'a text frame without a type': { text: '{"id":"x","timestamp":1}' },
  'documentId of the wrong type': { binary: bin(T.SUBSCRIBE, '{"documentId":5}') },
  'a documentId of 300 characters': { binary: bin(T.SUBSCRIBE, JSON.stringify({ documentId: 'd'.repeat(300) })) },
  'a documentId with U+0000': { binary: bin(T.SUBSCRIBE, '{"documentId":"a\\u0000b"}') },
  'a delta without a field': { binary: bin(T.DELTA, '{"type":"set","documentId":"d","value":1,"clientId":"c","timestamp":1,"messageId":"m","clock":{"c":1}}') },
  'a delta with a U+0000 in its value': { binary: bin(T.DELTA, '{"type":"set","documentId":"d","field":"f","value":"x\\u0000y","clientId":"c","timestamp":1,"messageId":"m","clock":{"c":1}}') },
  'a delta with an unknown delta type': { binary: bin(T.DELTA, '{"type":"explode","documentId":"d","field":"f","value":1,"clientId":"c","timestamp":1,"messageId":"m","clock":{"c":1}}') },
  'a delta whose clientId holds U+E000 (orders differently in JS and in Postgres)': { binary: bin(T.DELTA, '{"type":"set","documentId":"d","field":"f","value":1,"clientId":"c\ue000","timestamp":1,"messageId":"m","clock":{"c":1}}') },
  'a delta with a string timestamp': { binary: bin(T.DELTA, '{"type":"set","documentId":"d","field":"f","value":1,"clientId":"c","timestamp":"soon","messageId":"m","clock":{"c":1}}') },
  'an AUTH whose token is a number': { binary: bin(T.AUTH, '{"token":12}') },
  'an awareness update without clientId': { binary: bin(T.AWARENESS_UPDATE, '{"documentId":"d","state":{}}') },
  'a batch whose deltas is not an array': { binary: bin(T.DELTA_BATCH, '{"documentId":"d","messageId":"m","deltas":{}}') },
  'a chunk with bad base64': { binary: bin(T.DELTA_BATCH_CHUNK, '{"chunkId":"c","totalChunks":1,"chunkIndex":0,"data":"%%%"}') },
}

for (const [name, frame] of Object.entries(CASES)) {
  skTest(`malformed: ${name} → ERROR or close; the worker survives`, { timeout: 30_000 }, async (t) => {
    const c = await RawClient.open({ token: FULL_TOKEN() })
    t.after(() => c.close())
    const m = c.mark()
    if (frame.text !== undefined) c.sendText(frame.text)
    else c.sendRaw(frame.binary)
    // an ERROR frame or a close, within 5 s
    await waitFor(() => c.since(m, (f) => f.type === T.ERROR).length || c.closed, {
      timeout: 5_000,
      message: `an ERROR frame or a close for ${name} (got: ${c.since(m).map(describeFrame).join(' | ') || 'nothing'})`,
    })
    const err = c.since(m, (f) => f.type === T.ERROR)[0]
    if (err) {
      assert.ok((frame.codes || ['BAD_FRAME', 'INVALID_PAYLOAD']).includes(err.payload?.code), `ERROR code: ${describeFrame(err)}`)
      assert.equal(typeof err.payload.error, 'string', 'ERROR has a message')
      if (err.payload.code !== 'MESSAGE_TOO_LARGE') assert.ok(err.payload.details && typeof err.payload.details === 'object', `ERROR details: ${describeFrame(err)}`)
    }
    // no answer other than the ERROR (nothing was acted on)
    const others = c.since(m, (f) => f.type !== T.ERROR && f.type !== T.PONG)
    assert.deepEqual(others.map(describeFrame), [], 'nothing but ERROR in answer')
    // a connection left open still works
    if (!c.closed) {
      await sleep(50)
      const m2 = c.mark()
      c.send(T.PING, {})
      await c.waitFrame((f) => f.type === T.PONG, { from: m2, timeout: 5_000, message: 'PONG after the malformed frame', allowClosed: true }).catch((e) => {
        if (!c.closed) throw e // closed in between: allowed
      })
    }
    await assertWorkerAlive(pid, `after ${name}`)
  })
}

skTest('malformed: 300 random frames on one connection, then the worker survives', { timeout: 60_000 }, async (t) => {
  const c = await RawClient.open({ token: FULL_TOKEN() })
  t.after(() => c.close())
  const types = [0x01, 0x10, 0x11, 0x12, 0x20, 0x22, 0x23, 0x30, 0x40, 0x41, 0x50, 0x77, 0xff]
  for (let i = 0; i < 300 && !c.closed; i++) {
    const kind = i % 4
    let buf
    if (kind === 0) buf = randomBytes(1 + (i % 40))
    else if (kind === 1) buf = encodeFrame(types[i % types.length], randomBytes(i % 64))
    else if (kind === 2) buf = encodeFrame(types[i % types.length], `{"documentId":${JSON.stringify('r' + i)},"field":${i},"value":${deep(i % 70)}}`)
    else buf = Buffer.concat([head(types[i % types.length], (i * 7919) % 5000), randomBytes(i % 30)])
    c.sendRaw(buf)
    if (i % 50 === 49) await sleep(20)
  }
  await sleep(500)
  await assertWorkerAlive(pid, 'after the random frames')
})

skTest('malformed: /ws without a valid WebSocket upgrade is answered 4xx over plain HTTP, and the worker survives', async (t) => {
  const plain = await http(`${ELECTRIC_URL}/ws`)
  await plain.text()
  assert.ok(plain.status >= 400 && plain.status < 500, `a plain GET /ws: ${plain.status}`)
  const post = await http(`${ELECTRIC_URL}/ws`, { method: 'POST', body: 'x' })
  await post.text()
  assert.ok(post.status >= 400 && post.status < 500, `POST /ws: ${post.status}`)
  // a handshake with an unsupported version or without a key
  for (const [what, headers] of [
    ['version 8', 'Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'],
    ['no key', 'Sec-WebSocket-Version: 13\r\n'],
  ]) {
    const answer = await new Promise((resolve) => {
      const s = net.connect({ host: HTTP_HOSTNAME, port: HTTP_PORT })
      let data = ''
      s.setEncoding('latin1')
      s.on('data', (d) => (data += d))
      s.on('error', () => resolve(data))
      s.on('close', () => resolve(data))
      s.write(`GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n${headers}\r\n`)
      setTimeout(() => s.destroy(), 2_000)
    })
    assert.match(answer, /^HTTP\/1\.1 4\d\d /, `${what}: ${JSON.stringify(answer.slice(0, 80))}`)
  }
  await assertWorkerAlive(pid, 'after bad upgrades')
})
