// Shared helpers for the SyncKit endpoint tests (test/synckit): environment, SQL, tokens,
// settings, waits with deadlines, the real @synckit-js/sdk 0.1.1 with `ws` as its WebSocket, a
// raw frame client of our own, and a TCP proxy that can take a client offline.
//
// The SDK looks up the bare global `WebSocket` (dist/index.mjs: WebSocketClient.
// establishConnection `new WebSocket(this.config.url)`, isConnected `WebSocket.OPEN`); Node 20
// has none, so we install ws's class (a subclass that records what the SDK sends). It picks
// `MemoryStorage` itself in Node (no window/indexedDB); we pass `storage: 'memory'` anyway. It
// logs every step with console.log: those lines go to a ring buffer that a failing test prints.
import { test, after as afterAll } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac, randomBytes } from 'node:crypto'
import net from 'node:net'
import pg from 'pg'
import WebSocket from 'ws'

export { WebSocket }

export const ELECTRIC_URL = (process.env.ELECTRIC_URL || 'http://127.0.0.1:3339').replace(/\/+$/, '')
export const DATABASE_URL = process.env.DATABASE_URL || 'postgresql://postgres@127.0.0.1:54339/postgres'
export const JWT_SECRET = process.env.ES_JWT_SECRET || 'electric-sync-test-secret'
export const ES_TEST_DIR = process.env.ES_TEST_DIR || ''
export const ES_PG_BIN = process.env.ES_PG_BIN || '/usr/lib/postgresql/15/bin'
export const WS_URL = `${ELECTRIC_URL.replace(/^http/, 'ws')}/ws`
const { hostname: HTTP_HOST, port: HTTP_PORT_S } = new URL(ELECTRIC_URL)
export const HTTP_HOSTNAME = HTTP_HOST
export const HTTP_PORT = Number(HTTP_PORT_S || 80)

/** Time budget of one test (ms): a hung server fails the test instead of hanging the run. */
export const TEST_TIMEOUT = 60_000
/** Time budget of one wait inside a test (ms). */
export const WAIT_TIMEOUT = 15_000

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// ---------------------------------------------------------------------------------------------
// SDK log capture
// ---------------------------------------------------------------------------------------------

const LOG_LINES = 400
const logRing = []
function capture(level) {
  return (...args) => {
    let line
    try {
      line = args.map((a) => (typeof a === 'string' ? a : a instanceof Error ? a.message : JSON.stringify(a))).join(' ')
    } catch {
      line = args.map(String).join(' ')
    }
    logRing.push(`[${new Date().toISOString().slice(11, 23)} ${level}] ${line.slice(0, 400)}`)
    if (logRing.length > LOG_LINES) logRing.splice(0, logRing.length - LOG_LINES)
  }
}
console.log = capture('log')
console.info = capture('info')
console.warn = capture('warn')
console.error = capture('error')
console.debug = capture('debug')

/** The last `n` captured SDK (console) lines. */
export const logTail = (n = 40) => logRing.slice(-n).join('\n')

/**
 * node:test's test() with our default timeout; a failure's message gets the last SDK log lines
 * (the SDK's own account of what it received and did).
 */
export function skTest(name, opts, fn) {
  if (typeof opts === 'function') [opts, fn] = [{}, opts]
  return test(name, { timeout: TEST_TIMEOUT, ...opts }, async (t) => {
    const mark = logRing.length
    try {
      await fn(t)
    } catch (e) {
      const lines = logRing.slice(Math.max(mark, logRing.length - 40))
      if (e && typeof e === 'object' && lines.length) {
        try {
          e.message = `${e.message}\n--- last SDK/console lines of this test:\n${lines.join('\n')}`
        } catch {}
      }
      throw e
    }
  })
}

// ---------------------------------------------------------------------------------------------
// Waiting
// ---------------------------------------------------------------------------------------------

/** Polls `fn` until it returns a truthy value (returned) or the deadline passes (throws). */
export async function waitFor(fn, { timeout = WAIT_TIMEOUT, interval = 25, message = 'condition' } = {}) {
  const deadline = Date.now() + timeout
  let lastErr
  for (;;) {
    try {
      const v = await fn()
      if (v) return v
      lastErr = undefined
    } catch (e) {
      lastErr = e
      if (e && e.fatal) throw e
    }
    if (Date.now() > deadline) {
      const err = new Error(`timed out after ${timeout} ms waiting for ${message}` + (lastErr ? `: ${lastErr.message}` : ''))
      if (lastErr) err.cause = lastErr
      throw err
    }
    await sleep(interval)
  }
}

/** A promise with a deadline: rejects with `message` after `ms`. */
export function withTimeout(p, ms, message = 'operation') {
  let timer
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise((_, rej) => {
      timer = setTimeout(() => rej(new Error(`timed out after ${ms} ms: ${message}`)), ms)
    }),
  ])
}

export function fatal(msg) {
  return Object.assign(new Error(msg), { fatal: true })
}

// ---------------------------------------------------------------------------------------------
// SQL
// ---------------------------------------------------------------------------------------------

const pgConfig = {
  connectionString: DATABASE_URL,
  connectionTimeoutMillis: 10_000,
  statement_timeout: 20_000,
  query_timeout: 25_000,
}

let pool = null
function getPool() {
  if (!pool) {
    pool = new pg.Pool({ ...pgConfig, max: 4, idleTimeoutMillis: 2_000 })
    pool.on('error', () => {}) // a restarted cluster must not crash the test process
  }
  return pool
}

/** Runs one statement and returns its rows. */
export async function sql(text, params = []) {
  const res = await getPool().query(text, params)
  return Array.isArray(res) ? res[res.length - 1].rows : res.rows
}

/** SQL that survives a cluster restart: retries connection errors until `timeout`. */
export async function sqlRetry(text, params = [], { timeout = 60_000 } = {}) {
  const deadline = Date.now() + timeout
  for (;;) {
    try {
      return await sql(text, params)
    } catch (e) {
      const transient = /ECONNREFUSED|ECONNRESET|terminat|starting up|shutting down|Connection|timeout/i.test(String(e?.message || e?.code))
      if (!transient || Date.now() > deadline) throw e
      await closePool()
      await sleep(200)
    }
  }
}

export async function closePool() {
  if (pool) {
    const p = pool
    pool = null
    await p.end().catch(() => {})
  }
}

/** A fresh document id, unique across runs and processes. */
export function docId(prefix = 'doc') {
  return `sk_${prefix}_${process.pid.toString(36)}_${randomBytes(4).toString('hex')}`
}

/** The rows of electric_sync_docs.fields of one document, keyed by field. */
export async function fieldRows(id) {
  const rows = await sql(
    `SELECT field, value, deleted, ts::text AS ts, client_id, counter::text AS counter
       FROM electric_sync_docs.fields WHERE document_id = $1 ORDER BY field`,
    [id],
  )
  return Object.fromEntries(rows.map((r) => [r.field, { ...r, ts: Number(r.ts), counter: Number(r.counter) }]))
}

/** The live (not deleted) fields of one document as {field: value}, from the table. */
export async function tableDoc(id) {
  const rows = await fieldRows(id)
  return Object.fromEntries(Object.entries(rows).filter(([, r]) => !r.deleted).map(([f, r]) => [f, r.value]))
}

/**
 * Deletes test documents once the file's tests are done (after every test closed its
 * connections; deleting a document under live subscribers is a test of its own).
 */
const docsToDrop = new Set()
export function dropDocLater(_t, ...ids) {
  for (const id of ids) docsToDrop.add(id)
}
afterAll(async () => {
  if (!docsToDrop.size) return
  await sleep(300)
  await sql('DELETE FROM electric_sync_docs.documents WHERE id = ANY($1)', [[...docsToDrop]]).catch(() => {})
  await closePool()
})

/** Canonical JSON (sorted keys) for comparing documents. */
export function canon(v) {
  if (Array.isArray(v)) return `[${v.map(canon).join(',')}]`
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canon(v[k])}`).join(',')}}`
  return JSON.stringify(v)
}

// ---------------------------------------------------------------------------------------------
// Tokens (HS256, as the server's electric_sync.jwt_secret)
// ---------------------------------------------------------------------------------------------

const b64url = (buf) => Buffer.from(buf).toString('base64url')

/** A signed JWT with the SyncKit claims. `claims` adds or overrides members. */
export function mintToken({ userId = 'sk-user', canRead = ['*'], canWrite = ['*'], isAdmin = false, exp, secret = JWT_SECRET, claims = {} } = {}) {
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))
  const body = {
    ...(userId === null ? {} : { userId }), // null: no userId claim (then "sub" names the user)
    permissions: { canRead, canWrite, isAdmin },
    iat: Math.floor(Date.now() / 1000),
    exp: exp ?? Math.floor(Date.now() / 1000) + 3600,
    ...claims,
  }
  const payload = b64url(JSON.stringify(body))
  const sig = b64url(createHmac('sha256', secret).update(`${header}.${payload}`).digest())
  return `${header}.${payload}.${sig}`
}

/** A token that may read and write everything (the default of our clients). */
export const FULL_TOKEN = () => mintToken({ userId: 'sk-full' })

export const wsUrl = (token, extra = {}) => {
  const u = new URL(WS_URL)
  if (token) u.searchParams.set('token', token)
  for (const [k, v] of Object.entries(extra)) u.searchParams.set(k, v)
  return u.toString()
}

// ---------------------------------------------------------------------------------------------
// Settings: ALTER SYSTEM + pg_reload_conf, put back at the end
// ---------------------------------------------------------------------------------------------

/**
 * Sets electric_sync.<name> for the rest of the test (ALTER SYSTEM + reload) and RESETs them in
 * t.after. The worker applies a reload asynchronously: pass `probe` (returns truthy once the
 * new value is in force) or the function waits a short moment.
 */
export async function withSettings(t, settings, { probe, timeout = 10_000 } = {}) {
  t.after(() => resetSettings(Object.keys(settings)))
  for (const [k, v] of Object.entries(settings)) {
    await sql(`ALTER SYSTEM SET electric_sync.${k} = '${String(v).replace(/'/g, "''")}'`)
  }
  await sql('SELECT pg_reload_conf()')
  if (probe) await waitFor(probe, { timeout, interval: 200, message: `settings ${JSON.stringify(settings)} in force` })
  else await sleep(500)
}

export async function resetSettings(names) {
  for (const k of names) await sqlRetry(`ALTER SYSTEM RESET electric_sync.${k}`).catch(() => {})
  await sqlRetry('SELECT pg_reload_conf()').catch(() => {})
  await sleep(500)
}

// ---------------------------------------------------------------------------------------------
// HTTP: health, metrics, worker identity
// ---------------------------------------------------------------------------------------------

export function http(url, init = {}, timeout = 10_000) {
  return fetch(url, { ...init, signal: init.signal || AbortSignal.timeout(timeout) })
}

export async function healthStatus() {
  try {
    const r = await http(`${ELECTRIC_URL}/v1/health`, {}, 3_000)
    await r.text()
    return r.status
  } catch {
    return 0
  }
}

export async function waitHealthy(timeout = 60_000, what = '') {
  await waitFor(async () => (await healthStatus()) === 200, { timeout, interval: 100, message: `/v1/health 200 ${what}` })
}

/** GET /v1/metrics as JSON. */
export async function metrics() {
  const r = await http(`${ELECTRIC_URL}/v1/metrics`, {}, 5_000)
  const text = await r.text()
  assert.equal(r.status, 200, `/v1/metrics: ${r.status} ${text.slice(0, 200)}`)
  return JSON.parse(text)
}

export async function workerPid() {
  const rows = await sql('SELECT pid FROM electric_sync.worker_status')
  return rows[0]?.pid ?? null
}

/**
 * The worker survived: /v1/health answers 200, the worker pid is still `pid`, and a new
 * WebSocket connection answers PING with PONG.
 */
export async function assertWorkerAlive(pid, label = '') {
  await waitHealthy(15_000, `(worker alive ${label})`)
  assert.equal(await workerPid(), pid, `the worker restarted ${label}`)
  const c = await RawClient.open({ token: FULL_TOKEN() })
  try {
    const m = c.mark()
    c.send(T.PING, {})
    await c.waitFrame((f) => f.type === T.PONG, { from: m, message: `PONG on a new connection ${label}` })
  } finally {
    c.close()
  }
}

// ---------------------------------------------------------------------------------------------
// Frames (docs/protocols/synckit.md §2): 1 byte type, 8 bytes BE timestamp, 4 bytes BE length
// ---------------------------------------------------------------------------------------------

export const T = {
  AUTH: 0x01,
  AUTH_SUCCESS: 0x02,
  AUTH_ERROR: 0x03,
  SUBSCRIBE: 0x10,
  UNSUBSCRIBE: 0x11,
  SYNC_REQUEST: 0x12,
  SYNC_RESPONSE: 0x13,
  DELTA: 0x20,
  ACK: 0x21,
  DELTA_BATCH_GO: 0x22,
  DELTA_BATCH_CHUNK: 0x23,
  PING: 0x30,
  PONG: 0x31,
  AWARENESS_UPDATE: 0x40,
  AWARENESS_SUBSCRIBE: 0x41,
  AWARENESS_STATE: 0x42,
  DELTA_BATCH: 0x50,
  ERROR: 0xff,
}

/** Encodes one binary frame; `payload` is an object (JSON-encoded) or a Buffer/string (raw bytes). */
export function encodeFrame(type, payload, ts = Date.now(), { length } = {}) {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload), 'utf8')
  const head = Buffer.alloc(13)
  head.writeUInt8(type, 0)
  head.writeBigInt64BE(BigInt(ts), 1)
  head.writeUInt32BE(length ?? body.length, 9)
  return Buffer.concat([head, body])
}

/** Decodes one binary frame: {type, ts, length, payload} (payload null and `bad` set if unreadable). */
export function decodeFrame(buf) {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf)
  if (b.length < 13) return { type: -1, bad: `short frame (${b.length} bytes)`, raw: b }
  const type = b.readUInt8(0)
  const ts = Number(b.readBigInt64BE(1))
  const length = b.readUInt32BE(9)
  if (13 + length > b.length) return { type, ts, length, bad: `length ${length} past the end (${b.length - 13} bytes)`, raw: b }
  let payload = null
  let bad
  try {
    payload = JSON.parse(b.subarray(13, 13 + length).toString('utf8'))
  } catch (e) {
    bad = `payload not JSON: ${e.message}`
  }
  return { type, ts, length, payload, bad, trailing: b.length - 13 - length }
}

const typeName = (code) => Object.entries(T).find(([, v]) => v === code)?.[0] ?? `0x${code.toString(16)}`
export const describeFrame = (f) => (f.text !== undefined ? `TEXT ${f.text.slice(0, 200)}` : `${typeName(f.type)} ${f.bad ? `(${f.bad})` : JSON.stringify(f.payload)?.slice(0, 300)}`)

// ---------------------------------------------------------------------------------------------
// Raw client: our own small SyncKit client on `ws`
// ---------------------------------------------------------------------------------------------

export class RawClient {
  constructor(ws) {
    this.ws = ws
    this.frames = []
    this.closed = null
    this.error = null
    this.rejected = null
    this.wsPings = 0
    this.closedPromise = new Promise((res) => {
      this._onClose = res
    })
    ws.on('message', (data, isBinary) => {
      if (isBinary) this.frames.push({ at: Date.now(), ...decodeFrame(data) })
      else this.frames.push({ at: Date.now(), type: -2, text: data.toString('utf8') })
    })
    ws.on('ping', () => this.wsPings++)
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString('utf8'), at: Date.now() }
      this._onClose(this.closed)
    })
    ws.on('error', (e) => {
      this.error = e
    })
  }

  /**
   * Opens a connection to /ws (token in the query string when given). Resolves once open, or
   * with `opened: false` and `rejected` {status, body} / `error` when the upgrade is refused.
   */
  static open({ token, url, query = {}, timeout = 10_000, allowFail = false, autoPong = true } = {}) {
    const target = url || wsUrl(token, query)
    const ws = new WebSocket(target, { handshakeTimeout: timeout, maxPayload: 64 * 1024 * 1024, autoPong })
    const c = new RawClient(ws)
    c.url = target
    return new Promise((resolve, reject) => {
      const done = (ok, err) => {
        c.opened = ok
        if (ok || allowFail) resolve(c)
        else reject(err)
      }
      ws.once('open', () => done(true))
      ws.once('unexpected-response', (req, res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (d) => (body += d))
        res.on('end', () => {
          c.rejected = { status: res.statusCode, body }
          done(false, new Error(`upgrade refused: ${res.statusCode} ${body.slice(0, 200)}`))
        })
        res.on('error', () => {})
      })
      ws.once('error', (e) => {
        if (c.opened === undefined) done(false, new Error(`WebSocket to ${target} failed: ${e.message}`))
      })
    })
  }

  /** Index of the next frame to arrive (pass as `from` to look only at later frames). */
  mark() {
    return this.frames.length
  }

  // Sending on a connection the server has closed is not an error here (the test looks at
  // what came back and at the close).
  _send(data, binary) {
    try {
      this.ws.send(data, { binary }, () => {})
    } catch {}
  }

  send(type, payload, ts = Date.now()) {
    this._send(encodeFrame(type, payload, ts), true)
  }

  sendRaw(buf) {
    this._send(buf, true)
  }

  sendText(str) {
    this._send(str, false)
  }

  /** The frames since `from` matching `pred`. */
  since(from = 0, pred = () => true) {
    return this.frames.slice(from).filter(pred)
  }

  /** Waits for the first frame at or after `from` matching `pred`; fails on close or timeout. */
  async waitFrame(pred, { from = 0, timeout = WAIT_TIMEOUT, message = 'a matching frame', allowClosed = false } = {}) {
    try {
      return await waitFor(
        () => {
          const f = this.frames.slice(from).find(pred)
          if (f) return f
          if (this.closed && !allowClosed) throw fatal(`connection closed (${this.closed.code} ${this.closed.reason}) before ${message}`)
          return null
        },
        { timeout, interval: 10, message },
      )
    } catch (e) {
      e.message += `\n  frames received since ${from}: ${this.frames.slice(from).map(describeFrame).join('\n    ') || '(none)'}`
      throw e
    }
  }

  /** Waits for the connection to close; returns {code, reason}. */
  async waitClose(timeout = WAIT_TIMEOUT, message = 'the server to close the connection') {
    const r = await Promise.race([this.closedPromise, sleep(timeout).then(() => null)])
    if (!r) {
      throw new Error(`timed out after ${timeout} ms waiting for ${message}; frames: ${this.frames.map(describeFrame).join(' | ') || '(none)'}`)
    }
    return r
  }

  /** Sends SUBSCRIBE and waits for its SYNC_RESPONSE (or fails with the ERROR received). */
  async subscribe(documentId, { timeout = WAIT_TIMEOUT } = {}) {
    const m = this.mark()
    this.send(T.SUBSCRIBE, { documentId })
    const f = await this.waitFrame(
      (x) => (x.type === T.SYNC_RESPONSE && x.payload?.documentId === documentId) || x.type === T.ERROR || x.type === T.AUTH_ERROR,
      { from: m, timeout, message: `SYNC_RESPONSE for ${documentId}` },
    )
    if (f.type !== T.SYNC_RESPONSE) throw new Error(`subscribe ${documentId} refused: ${describeFrame(f)}`)
    return { response: f, from: m }
  }

  /**
   * Sends a DELTA (set) and waits for its ACK; returns {ack, echo} where echo is the DELTA for
   * the field that came before the ACK (if subscribed). Fails with the ERROR received.
   */
  async delta(documentId, field, value, { clientId = 'raw-client', timestamp = Date.now(), type = 'set', messageId, clock, timeout = WAIT_TIMEOUT } = {}) {
    const id = messageId || `m-${randomBytes(6).toString('hex')}`
    const m = this.mark()
    this.send(T.DELTA, { type, documentId, field, value, clock: clock || { [clientId]: 1 }, clientId, timestamp, messageId: id })
    const f = await this.waitFrame((x) => (x.type === T.ACK && x.payload?.messageId === id) || x.type === T.ERROR, {
      from: m,
      timeout,
      message: `ACK of ${id}`,
    })
    if (f.type !== T.ACK) throw Object.assign(new Error(`delta ${id} refused: ${describeFrame(f)}`), { frame: f })
    const ackIndex = this.frames.indexOf(f)
    const echo = this.frames.slice(m, ackIndex).find((x) => x.type === T.DELTA && x.payload?.field === field && x.payload?.documentId === documentId)
    return { ack: f, echo, messageId: id }
  }

  /** The last DELTA received for (documentId, field), or undefined. */
  lastDelta(documentId, field) {
    return this.frames.filter((x) => x.type === T.DELTA && x.payload?.documentId === documentId && x.payload?.field === field).at(-1)
  }

  close() {
    try {
      this.ws.close()
    } catch {}
    setTimeout(() => {
      try {
        this.ws.terminate()
      } catch {}
    }, 1_000).unref()
  }

  terminate() {
    try {
      this.ws.terminate()
    } catch {}
  }
}

/** A RawClient closed at the end of the test. */
export async function rawClient(t, opts = {}) {
  const c = await RawClient.open({ token: FULL_TOKEN(), ...opts })
  t.after(() => c.close())
  return c
}

/** Waits until every RawClient's last DELTA for the field has `value` (canon-equal). */
export async function waitRawValue(clients, documentId, field, value, { timeout = WAIT_TIMEOUT } = {}) {
  await waitFor(
    () => clients.every((c) => {
      const d = c.lastDelta(documentId, field)
      return d && canon(d.payload.value) === canon(value)
    }),
    { timeout, message: `every raw client's last ${documentId}.${field} to be ${canon(value)}: ` +
      clients.map((c) => canon(c.lastDelta(documentId, field)?.payload?.value)).join(', ') },
  )
}

// ---------------------------------------------------------------------------------------------
// The real SDK
// ---------------------------------------------------------------------------------------------

/** Every delta an SDK client sent, decoded: {clientId, documentId, field, value, timestamp, clock, messageId}. */
export const sdkSentDeltas = []
/** The messageIds of every ACK an SDK client received (with the time it arrived). */
export const sdkAcks = new Map()
/** PINGs the SDK sent and PONGs it received. */
export const sdkCounts = { pings: 0, pongs: 0 }

class RecordingWebSocket extends WebSocket {
  constructor(...args) {
    super(...args)
    this.on('message', (data, isBinary) => {
      if (!isBinary) return
      try {
        const f = decodeFrame(Buffer.isBuffer(data) ? data : Buffer.from(data))
        if (f.type === T.ACK && f.payload?.messageId) sdkAcks.set(f.payload.messageId, Date.now())
        if (f.type === T.PONG) sdkCounts.pongs++
      } catch {}
    })
  }

  send(data, ...rest) {
    try {
      const f = decodeFrame(Buffer.from(data instanceof ArrayBuffer ? new Uint8Array(data) : data))
      if (f.type === T.DELTA && f.payload) sdkSentDeltas.push({ ...f.payload, sentAt: Date.now() })
      if (f.type === T.PING) sdkCounts.pings++
    } catch {}
    return super.send(data, ...rest)
  }
}
globalThis.WebSocket = RecordingWebSocket

const { SyncKit } = await import('@synckit-js/sdk')
export { SyncKit }

/**
 * A real SyncKit client (SDK 0.1.1, memory storage) connected to `url` (default: /ws with a
 * full-access token in the query string); disposed at the end of the test. Reconnects quickly.
 */
export async function newKit(t, { clientId, token, url, waitConnected = true, network = {} } = {}) {
  const serverUrl = url || wsUrl(token === undefined ? FULL_TOKEN() : token)
  const kit = new SyncKit({
    storage: 'memory',
    clientId: clientId || `kit-${randomBytes(4).toString('hex')}`,
    serverUrl,
    network: { reconnect: { initialDelay: 300, maxDelay: 2_000, multiplier: 1.5 }, ...network },
  })
  t.after(() => {
    try {
      kit.dispose()
    } catch {}
  })
  await withTimeout(kit.init(), 20_000, `SyncKit.init against ${serverUrl.replace(/token=[^&]+/, 'token=…')}`)
  if (waitConnected) await waitConnectedKit(kit)
  return kit
}

export const kitState = (kit) => kit.getNetworkStatus()?.connectionState

export async function waitConnectedKit(kit, timeout = WAIT_TIMEOUT) {
  await waitFor(() => kitState(kit) === 'connected', { timeout, message: `SyncKit ${kit.getClientId()} connected (now ${kitState(kit)})` })
}

/** kit.document(id), then waits until the SDK has its SYNC_RESPONSE (sync state 'synced'). */
export async function openDoc(kit, id, { timeout = WAIT_TIMEOUT } = {}) {
  const doc = kit.document(id)
  await waitFor(
    () => {
      const s = kit.getSyncState(id)
      if (s?.state === 'error') throw fatal(`subscribe of ${id} by ${kit.getClientId()} failed: ${s.error}`)
      return s?.state === 'synced'
    },
    { timeout, message: `${kit.getClientId()} subscribed to ${id} (state ${kit.getSyncState(id)?.state})` },
  )
  return doc
}

/** Waits until every doc's get() equals `expected` (canonical JSON). */
export async function waitDocs(docs, expected, { timeout = WAIT_TIMEOUT, message } = {}) {
  const want = canon(expected)
  try {
    await waitFor(() => docs.every((d) => canon(d.get()) === want), { timeout, message: message || `documents to equal ${want}` })
  } catch (e) {
    e.message += `\n  client states: ${docs.map((d) => canon(d.get())).join('\n                 ')}`
    throw e
  }
}

/** Waits until the table's live fields of `id` equal `expected`. */
export async function waitTable(id, expected, { timeout = WAIT_TIMEOUT } = {}) {
  const want = canon(expected)
  let got
  try {
    await waitFor(async () => (got = canon(await tableDoc(id))) === want, { timeout, message: `electric_sync_docs.fields of ${id} to equal ${want}` })
  } catch (e) {
    e.message += `\n  table: ${got}`
    throw e
  }
}

/** JavaScript's LWW order (docs/protocols/synckit.md §6.1): true if a beats b. */
export function lwwWins(a, b) {
  if (a.timestamp !== b.timestamp) return a.timestamp > b.timestamp
  return a.clientId >= b.clientId
}

// ---------------------------------------------------------------------------------------------
// A TCP proxy that can take its clients offline (and holds connections while the server is down)
// ---------------------------------------------------------------------------------------------

/**
 * Forwards 127.0.0.1:<port> to the worker's HTTP port. pause(): every open connection is cut
 * and new ones are accepted but held (no bytes forwarded), so the SDK sees a dead link and stays
 * "reconnecting" with one pending attempt; resume(): held connections go through. While the
 * upstream refuses (the worker restarting), a new connection is held and the upstream retried
 * every 200 ms for up to 60 s, as a load balancer in front of the worker would.
 */
export class Proxy {
  constructor(targetPort = HTTP_PORT, targetHost = HTTP_HOSTNAME) {
    this.targetPort = targetPort
    this.targetHost = targetHost
    this.paused = false
    this.pairs = new Set()
    this.held = new Set()
    this.accepted = 0
  }

  async start() {
    this.server = net.createServer((client) => this.onClient(client))
    await new Promise((res, rej) => {
      this.server.once('error', rej)
      this.server.listen(0, '127.0.0.1', res)
    })
    this.port = this.server.address().port
    return this
  }

  url(token = FULL_TOKEN()) {
    const u = new URL(`ws://127.0.0.1:${this.port}/ws`)
    if (token) u.searchParams.set('token', token)
    return u.toString()
  }

  onClient(client) {
    this.accepted++
    const pair = { client, upstream: null, buffered: [], connected: false }
    client.on('error', () => {})
    client.on('data', (d) => {
      if (pair.connected) pair.upstream.write(d)
      else pair.buffered.push(d)
    })
    client.on('close', () => {
      this.pairs.delete(pair)
      this.held.delete(pair)
      pair.upstream?.destroy()
    })
    this.pairs.add(pair)
    if (this.paused) this.held.add(pair)
    else this.connectUpstream(pair)
  }

  connectUpstream(pair, deadline = Date.now() + 60_000) {
    if (pair.client.destroyed) return
    const up = net.connect({ host: this.targetHost, port: this.targetPort })
    pair.upstream = up
    up.on('connect', () => {
      pair.connected = true
      for (const b of pair.buffered) up.write(b)
      pair.buffered = []
    })
    up.on('data', (d) => pair.client.write(d))
    up.on('error', () => {})
    up.on('close', () => {
      if (!pair.connected) {
        // refused: the worker is not listening (yet); hold the client and retry
        if (!this.paused && Date.now() < deadline && !pair.client.destroyed) {
          setTimeout(() => this.connectUpstream(pair, deadline), 200)
        } else if (this.paused) {
          this.held.add(pair)
        } else {
          pair.client.destroy()
        }
        return
      }
      pair.client.destroy()
    })
  }

  /** Cuts every connection and holds new ones. */
  pause() {
    this.paused = true
    for (const p of [...this.pairs]) {
      if (this.held.has(p)) continue
      p.client.destroy()
      p.upstream?.destroy()
      this.pairs.delete(p)
    }
  }

  resume() {
    this.paused = false
    for (const p of [...this.held]) {
      this.held.delete(p)
      this.connectUpstream(p)
    }
  }

  async stop() {
    for (const p of this.pairs) {
      p.client.destroy()
      p.upstream?.destroy()
    }
    await new Promise((res) => this.server.close(() => res()))
  }
}

export async function proxy(t) {
  const p = await new Proxy().start()
  t.after(() => p.stop())
  return p
}
