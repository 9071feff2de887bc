// Shared helpers for the end-to-end tests: environment, SQL access, unique table names,
// ShapeStream/Shape construction with cleanup, and waits-with-timeout.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { ShapeStream, Shape, FetchError, isChangeMessage, isControlMessage } from '@electric-sql/client'

export { ShapeStream, Shape, FetchError, isChangeMessage, isControlMessage }

export const ELECTRIC_URL = (process.env.ELECTRIC_URL || 'http://127.0.0.1:3339').replace(/\/+$/, '')
export const DATABASE_URL = process.env.DATABASE_URL || 'postgresql://postgres@127.0.0.1:54339/postgres'
export const SHAPE_URL = `${ELECTRIC_URL}/v1/shape`
export const ES_TEST_DIR = process.env.ES_TEST_DIR || ''
export const ES_PG_BIN = process.env.ES_PG_BIN || '/usr/lib/postgresql/15/bin'

/** Default time budget for one test (ms). A hung server makes the test fail, not hang. */
export const TEST_TIMEOUT = 45_000
/** Default time budget for one wait inside a test (ms). */
export const WAIT_TIMEOUT = 20_000

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// ---------------------------------------------------------------------------------------------
// SQL
// ---------------------------------------------------------------------------------------------

const pgConfig = {
  connectionString: DATABASE_URL,
  connectionTimeoutMillis: 10_000,
  statement_timeout: 20_000,
  lock_timeout: 10_000,
  query_timeout: 25_000,
}

let pool = null
function getPool() {
  if (!pool) {
    pool = new pg.Pool({ ...pgConfig, max: 4, idleTimeoutMillis: 2_000 })
    pool.on('error', () => {}) // a killed backend must not crash the test process
  }
  return pool
}

/** Runs one SQL statement (or a ;-separated script without params) and returns the rows. */
export async function sql(text, params = []) {
  const res = await getPool().query(text, params)
  return Array.isArray(res) ? res[res.length - 1].rows : res.rows
}

/** Runs `fn(client)` inside BEGIN/COMMIT on one connection. */
export async function tx(fn) {
  const client = await getPool().connect()
  try {
    await client.query('BEGIN')
    const r = await fn(client)
    await client.query('COMMIT')
    return r
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {})
    throw e
  } finally {
    client.release()
  }
}

/** A one-off connection (for tests that restart or crash the cluster: no pooled sockets). */
export async function sqlOnce(text, params = []) {
  const client = new pg.Client(pgConfig)
  client.on('error', () => {})
  await client.connect()
  try {
    return (await client.query(text, params)).rows
  } finally {
    await client.end().catch(() => {})
  }
}

export async function closePool() {
  if (pool) {
    const p = pool
    pool = null
    await p.end().catch(() => {})
  }
}

/** A fresh lower-case identifier, unique across runs and processes. */
export function uniqueName(prefix) {
  return `e2e_${prefix}_${process.pid.toString(36)}_${randomBytes(4).toString('hex')}`
}

/** Quotes an SQL identifier. */
export const qi = (s) => `"${String(s).replace(/"/g, '""')}"`

// ---------------------------------------------------------------------------------------------
// Per-test context: owns streams (aborted first) and tables/types (dropped after).
// ---------------------------------------------------------------------------------------------

/**
 * setup(t) gives a per-test context; everything it creates is cleaned up when the test ends
 * (streams aborted, then tables and types dropped), whether it passed or not.
 */
export function setup(t) {
  const ctx = new TestContext()
  t.after(() => ctx.cleanup())
  return ctx
}

class TestContext {
  constructor() {
    this.aborters = []
    this.drops = []
    this.streams = []
  }

  /** CREATE TABLE name (columnsSql); returns the name. Dropped at the end of the test. */
  async table(prefix, columnsSql, { name } = {}) {
    const n = name || uniqueName(prefix)
    await sql(`CREATE TABLE ${qi(n)} (${columnsSql})`)
    this.drops.push(`DROP TABLE IF EXISTS ${qi(n)} CASCADE`)
    return n
  }

  /** Registers an extra cleanup statement (e.g. DROP TYPE), run after tables are dropped. */
  dropLater(statement) {
    this.drops.push(statement)
  }

  /** A ShapeStream on SHAPE_URL with a test-owned AbortController and fast retries. */
  stream(options = {}) {
    const ac = new AbortController()
    if (options.signal) options.signal.addEventListener('abort', () => ac.abort())
    this.aborters.push(ac)
    const s = new ShapeStream({
      url: SHAPE_URL,
      backoffOptions: { initialDelay: 100, maxDelay: 1_000, multiplier: 1.5, maxRetries: 10 },
      liveRequestTimeoutMs: 20_000,
      warnOnHttp: false,
      ...options,
      signal: ac.signal,
    })
    this.streams.push(s)
    return s
  }

  /** A Shape over a new ShapeStream; `params` are the shape params (table, where, ...). */
  shape(params, options = {}) {
    const stream = this.stream({ ...options, params })
    const shape = new Shape(stream)
    return shape
  }

  /** Collects every message a stream publishes (subscribe) into an array. */
  collect(stream) {
    const messages = []
    const errors = []
    stream.subscribe(
      (msgs) => {
        messages.push(...msgs)
      },
      (err) => errors.push(err),
    )
    return { messages, errors }
  }

  abortAll() {
    for (const ac of this.aborters) ac.abort()
    this.aborters = []
  }

  async cleanup() {
    this.abortAll()
    for (const s of this.streams) {
      try {
        s.unsubscribeAll()
      } catch {}
    }
    // Give aborted requests a moment to close their sockets before DDL.
    await sleep(20)
    const errs = []
    for (const stmt of this.drops.reverse()) {
      try {
        await sql(stmt)
      } catch (e) {
        errs.push(`${stmt}: ${e.message}`)
      }
    }
    this.drops = []
    if (errs.length) throw new Error(`cleanup failed:\n${errs.join('\n')}`)
  }
}

// ---------------------------------------------------------------------------------------------
// Waiting
// ---------------------------------------------------------------------------------------------

/** Polls `fn` until it returns a truthy value (returned) or the timeout elapses (throws). */
export async function waitFor(fn, { timeout = WAIT_TIMEOUT, interval = 25, message = 'condition' } = {}) {
  const deadline = Date.now() + timeout
  let lastErr
  for (;;) {
    try {
      const v = await fn()
      if (v) return v
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

function streamError(stream) {
  const err = stream.error
  if (!err) return null
  return describeError(err)
}

/** Human readable description of a client error (FetchError with status/body, or other). */
export function describeError(err) {
  if (err instanceof FetchError) {
    return `FetchError ${err.status} ${err.url}\n  body: ${err.text ?? JSON.stringify(err.json)}`
  }
  return `${err?.name || 'Error'}: ${err?.message || String(err)}`
}

function fatal(msg) {
  const e = new Error(msg)
  e.fatal = true
  return e
}

/** Waits until the stream (or the Shape's stream) is up to date; fails fast on a stream error. */
export async function waitUpToDate(shapeOrStream, { timeout = WAIT_TIMEOUT } = {}) {
  const stream = shapeOrStream instanceof Shape ? shapeOrStream.stream : shapeOrStream
  await waitFor(
    () => {
      const e = streamError(stream)
      if (e) throw fatal(`stream failed: ${e}`)
      if (shapeOrStream instanceof Shape && shapeOrStream.error) throw fatal(`shape failed: ${describeError(shapeOrStream.error)}`)
      return stream.isUpToDate
    },
    { timeout, message: 'the shape stream to be up to date' },
  )
}

/**
 * Canonical form for comparing client-parsed values with node-postgres values:
 * numbers and bigints become strings, Dates ISO strings, Buffers \x-hex, objects get sorted keys.
 */
export function norm(v) {
  if (v === null || v === undefined) return null
  if (typeof v === 'bigint' || typeof v === 'number') return String(v)
  if (v instanceof Date) return v.toISOString()
  if (Buffer.isBuffer(v)) return '\\x' + v.toString('hex')
  if (Array.isArray(v)) return v.map(norm)
  if (typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, norm(v[k])]))
  return v
}

/** Rows in canonical form, sorted. */
export function normRows(rows) {
  return rows.map(norm).sort((a, b) => {
    const x = JSON.stringify(a)
    const y = JSON.stringify(b)
    return x < y ? -1 : x > y ? 1 : 0
  })
}

/**
 * Waits until a Shape's rows equal the rows of an SQL query (compared after `norm`), with a
 * timeout. Fails immediately if the stream errors. On timeout, fails with a diff.
 */
export async function waitForShapeRows(shape, query, params = [], { timeout = WAIT_TIMEOUT, requireUpToDate = true } = {}) {
  let actual
  let expected
  try {
    await waitFor(
      async () => {
        const e = streamError(shape.stream)
        if (e) throw fatal(`stream failed: ${e}`)
        if (shape.error) throw fatal(`shape failed: ${describeError(shape.error)}`)
        expected = normRows(await sql(query, params))
        actual = normRows(shape.currentRows)
        if (requireUpToDate && !shape.stream.isUpToDate) return false
        return JSON.stringify(actual) === JSON.stringify(expected)
      },
      { timeout, message: `shape rows to equal: ${query}` },
    )
  } catch (e) {
    if (e.fatal || actual === undefined) throw e
    assert.deepStrictEqual(actual, expected, `${e.message}\n(shape rows vs SQL rows)`)
    throw e
  }
}

/** Waits until `messages` (from ctx.collect) contains a message matching `pred`. */
export async function waitForMessage(collected, pred, { timeout = WAIT_TIMEOUT, message = 'a matching message', stream } = {}) {
  return waitFor(
    () => {
      if (stream) {
        const e = streamError(stream)
        if (e) throw fatal(`stream failed: ${e}`)
      }
      if (collected.errors.length) throw fatal(`stream failed: ${describeError(collected.errors[0])}`)
      return collected.messages.find(pred)
    },
    { timeout, message },
  )
}

/** Waits until a stream has published an error (used for bad-input tests); returns it. */
export async function waitForStreamError(stream, collected, { timeout = WAIT_TIMEOUT } = {}) {
  return waitFor(() => stream.error || collected.errors[0], { timeout, message: 'the stream to report an error' })
}

export const changes = (messages) => messages.filter(isChangeMessage)
export const controls = (messages, name) =>
  messages.filter((m) => isControlMessage(m) && (name === undefined || m.headers.control === name))

// ---------------------------------------------------------------------------------------------
// Raw HTTP
// ---------------------------------------------------------------------------------------------

/** fetch with a timeout (default 10 s). */
export function http(url, init = {}, timeout = 10_000) {
  return fetch(url, { ...init, signal: init.signal || AbortSignal.timeout(timeout) })
}

/** Builds a /v1/shape URL from a params object (values stringified; arrays not expanded). */
export function shapeUrl(params) {
  const u = new URL(SHAPE_URL)
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.set(k, String(v))
  return u.toString()
}

/** GET a shape URL and parse the JSON body (null for empty bodies). */
export async function getShape(params, init = {}, timeout = 10_000) {
  const res = await http(shapeUrl(params), init, timeout)
  const text = await res.text()
  let body = null
  if (text.length) {
    try {
      body = JSON.parse(text)
    } catch {
      body = text
    }
  }
  return { res, status: res.status, headers: res.headers, body, text }
}

/**
 * Follows a shape from offset=-1 with plain HTTP until an up-to-date message; returns
 * { handle, offset, messages, responses }.
 */
export async function syncRaw(params, { maxRequests = 200 } = {}) {
  let offset = '-1'
  let handle
  const messages = []
  const responses = []
  for (let i = 0; i < maxRequests; i++) {
    const r = await getShape({ ...params, offset, handle })
    responses.push(r)
    if (r.status !== 200) {
      throw new Error(`GET ${shapeUrl({ ...params, offset, handle })} (request ${i + 1}) -> ${r.status} ${r.text}` +
        ` electric-handle: ${r.headers.get('electric-handle')}`)
    }
    handle = r.headers.get('electric-handle')
    offset = r.headers.get('electric-offset')
    messages.push(...r.body)
    const last = r.body[r.body.length - 1]
    if (last && last.headers && last.headers.control === 'up-to-date') return { handle, offset, messages, responses }
  }
  throw new Error(`no up-to-date after ${maxRequests} requests`)
}

/** A fetch wrapper for ShapeStream's fetchClient that records each request URL, method and status. */
export function recordingFetch(log) {
  return async (input, init) => {
    const url = typeof input === 'string' ? input : input.url
    const entry = { url: new URL(url), method: init?.method || 'GET', status: null, contentType: null }
    log.push(entry)
    const res = await fetch(input, init)
    entry.status = res.status
    entry.contentType = res.headers.get('content-type')
    entry.headers = res.headers
    return res
  }
}
