// Helpers for the security suites (security_*.test.mjs): "did the worker survive?" checks,
// JSON 4xx assertions, raw HTTP over TCP, and HS256 JWTs for the oversync routes.
//
// Survival rule used by every hostile-input test: take a baseline before sending anything
// (`survivalBaseline()`), then `assertSurvived(baseline)` afterwards. It asserts that
//   - the worker pid (electric_sync.worker_status.pid) is unchanged: the worker did not die and
//     was not restarted by the postmaster;
//   - the postmaster is unchanged: same pid (postmaster.pid when the cluster folder is known)
//     and same pg_postmaster_start_time(), and no crash-restart happened (no backend-crash
//     reinitialization in the log);
//   - the server log written since the baseline has no "terminated by signal" (nor
//     "was terminated by exception" / "reinitializing" after a crash).
import assert from 'node:assert/strict'
import net from 'node:net'
import { createHmac } from 'node:crypto'
import { existsSync, openSync, readSync, closeSync, fstatSync, readFileSync } from 'node:fs'
import { ELECTRIC_URL, ES_TEST_DIR, sql, waitFor, http } from './lib.mjs'

export const PG_LOG = ES_TEST_DIR ? `${ES_TEST_DIR}/postgres.log` : ''
export const DATA_DIR = ES_TEST_DIR ? `${ES_TEST_DIR}/data` : ''
export const JWT_SECRET = process.env.ES_JWT_SECRET || 'electric-sync-test-secret'
export const HTTP_HOST = new URL(ELECTRIC_URL).hostname
export const HTTP_PORT = Number(new URL(ELECTRIC_URL).port || 80)

// ---------------------------------------------------------------------------------------------
// Survival
// ---------------------------------------------------------------------------------------------

function logSize() {
  if (!PG_LOG || !existsSync(PG_LOG)) return 0
  try {
    const fd = openSync(PG_LOG, 'r')
    try {
      return fstatSync(fd).size
    } finally {
      closeSync(fd)
    }
  } catch {
    return 0
  }
}

/** The server log written since byte `offset` ('' when the log is not known). */
export function logSince(offset) {
  if (!PG_LOG || !existsSync(PG_LOG)) return ''
  const fd = openSync(PG_LOG, 'r')
  try {
    const size = fstatSync(fd).size
    if (size <= offset) return ''
    const len = Math.min(size - offset, 64 * 1024 * 1024)
    const buf = Buffer.alloc(len)
    readSync(fd, buf, 0, len, offset)
    return buf.toString('utf8')
  } finally {
    closeSync(fd)
  }
}

function postmasterPidFile() {
  if (!DATA_DIR) return null
  try {
    const pid = Number(readFileSync(`${DATA_DIR}/postmaster.pid`, 'utf8').split('\n')[0])
    return Number.isInteger(pid) && pid > 0 ? pid : null
  } catch {
    return null
  }
}

async function workerPid() {
  const rows = await sql('SELECT pid FROM electric_sync.worker_status')
  return rows[0]?.pid ?? null
}

/** Snapshot of the worker and postmaster identity, and the log position, before a hostile test. */
export async function survivalBaseline() {
  const pid = await waitFor(() => workerPid(), { timeout: 20_000, message: 'a running worker (worker_status.pid)' })
  const [{ start }] = await sql(`SELECT pg_postmaster_start_time()::text AS start`)
  return { workerPid: pid, postmasterPid: postmasterPidFile(), postmasterStart: start, logOffset: logSize() }
}

const CRASH_RE = /terminated by signal|was terminated by exception|all server processes terminated; reinitializing/

/**
 * Asserts the worker and the postmaster survived since `baseline` (see the file comment).
 * `label` says which input was being sent.
 */
export async function assertSurvived(baseline, label = '') {
  const where = label ? ` (${label})` : ''
  // the health endpoint answers (a dead worker would not); a slow one is given a moment
  let h
  await waitFor(
    async () => {
      try {
        h = await http(`${ELECTRIC_URL}/v1/health`, {}, 5_000)
        await h.text()
        return h.status === 200 || h.status === 202 || h.status === 503
      } catch {
        return false
      }
    },
    { timeout: 15_000, message: `the worker to answer /v1/health${where}` },
  ).catch((e) => assert.fail(`worker not answering after hostile input${where}: ${e.message}`))
  const pid = await workerPid()
  assert.equal(pid, baseline.workerPid, `worker pid changed${where}: ${baseline.workerPid} -> ${pid} (the worker died or restarted)`)
  const [{ start }] = await sql(`SELECT pg_postmaster_start_time()::text AS start`)
  assert.equal(start, baseline.postmasterStart, `postmaster restarted${where}`)
  if (baseline.postmasterPid !== null) {
    assert.equal(postmasterPidFile(), baseline.postmasterPid, `postmaster pid changed${where}`)
  }
  const log = logSince(baseline.logOffset)
  const m = log.match(CRASH_RE)
  if (m) {
    const i = log.indexOf(m[0])
    assert.fail(`server log has "${m[0]}"${where}:\n${log.slice(Math.max(0, i - 600), i + 400)}`)
  }
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

/** fetch + text + JSON parse (body null when not JSON). Network errors are returned, not thrown. */
export async function request(url, init = {}, timeout = 15_000) {
  try {
    const res = await http(url, init, timeout)
    const text = await res.text()
    let body = null
    try {
      body = text.length ? JSON.parse(text) : null
    } catch {}
    return { status: res.status, headers: res.headers, text, body }
  } catch (e) {
    return { status: 0, headers: new Headers(), text: '', body: null, error: e }
  }
}

const short = (s, n = 400) => (s.length > n ? s.slice(0, n) + `... (${s.length} chars)` : s)

/** Asserts a 4xx (or exactly `status`, a number or an array) with a JSON object body. */
export function assertJson4xx(r, label, status) {
  const what = `${label}: got ${r.status} ${r.error ? r.error.message : short(r.text)}`
  if (Array.isArray(status)) assert.ok(status.includes(r.status), `${what} (want ${status.join('/')})`)
  else if (typeof status === 'number') assert.equal(r.status, status, what)
  else assert.ok(r.status >= 400 && r.status < 500, `${what} (want 4xx)`)
  assert.ok(r.body && typeof r.body === 'object', `${label}: the ${r.status} body must be JSON: ${short(r.text)}`)
  return r.body
}

/** Asserts an Electric 400 validation body: {"message": "...", "errors": {field: [..]}} (field optional). */
export function assertValidation400(r, label, field) {
  const body = assertJson4xx(r, label, 400)
  assert.equal(typeof body.message, 'string', `${label}: message in ${short(r.text)}`)
  if (field) {
    const fields = Array.isArray(field) ? field : [field]
    assert.ok(
      body.errors && fields.some((f) => Array.isArray(body.errors[f]) && body.errors[f].length),
      `${label}: errors.${fields.join('|')} in ${short(r.text)}`,
    )
  }
  return body
}

/** All the text of an error body (message + errors), for matching. */
export const errorText = (body) => (body && typeof body === 'object' ? JSON.stringify(body) : String(body ?? ''))

// ---------------------------------------------------------------------------------------------
// Raw HTTP over TCP
// ---------------------------------------------------------------------------------------------

/**
 * Sends raw bytes on a new TCP connection and collects what comes back until the server closes
 * the connection, `idleMs` passes without data after a complete-looking response, or `timeout`.
 * Returns { data (Buffer), closed (server closed), timedOut, error, status (first status line's
 * code or null), responses (number of status lines seen), body (text after the first header
 * block) }.
 */
export function rawRequest(bytes, { timeout = 10_000, idleMs = 300, halfClose = false, chunks = null, chunkDelay = 0 } = {}) {
  return new Promise((resolve) => {
    const parts = []
    let done = false
    let idleTimer = null
    const sock = net.connect({ host: HTTP_HOST, port: HTTP_PORT })
    const finish = (extra) => {
      if (done) return
      done = true
      clearTimeout(hard)
      clearTimeout(idleTimer)
      sock.destroy()
      const data = Buffer.concat(parts)
      const text = data.toString('latin1')
      const statuses = [...text.matchAll(/(?:^|\r?\n)HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]))
      const sep = text.indexOf('\r\n\r\n')
      resolve({ data, text, status: statuses[0] ?? null, statuses, responses: statuses.length, body: sep >= 0 ? text.slice(sep + 4) : '', ...extra })
    }
    const hard = setTimeout(() => finish({ timedOut: true, closed: false }), timeout)
    sock.on('connect', async () => {
      if (chunks) {
        for (const c of chunks) {
          if (done) return
          sock.write(c)
          if (chunkDelay) await new Promise((r) => setTimeout(r, chunkDelay))
        }
      } else {
        sock.write(bytes)
      }
      if (halfClose) sock.end()
    })
    sock.on('data', (d) => {
      parts.push(d)
      clearTimeout(idleTimer)
      // complete when Content-Length is satisfied (single response); otherwise wait for idle/close
      idleTimer = setTimeout(() => finish({ timedOut: false, closed: false, idle: true }), idleMs)
    })
    sock.on('end', () => finish({ timedOut: false, closed: true }))
    sock.on('close', () => finish({ timedOut: false, closed: true }))
    sock.on('error', (e) => finish({ timedOut: false, closed: true, error: e }))
  })
}

// ---------------------------------------------------------------------------------------------
// JWT (HS256) for /sync/*
// ---------------------------------------------------------------------------------------------

export const b64url = (buf) => Buffer.from(buf).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')

/** An HS256 JWT with `sub` (and exp one hour ahead unless given in `claims`). */
export function mintJwt(sub, { secret = JWT_SECRET, claims = {}, header = { alg: 'HS256', typ: 'JWT' } } = {}) {
  const h = b64url(JSON.stringify(header))
  const p = b64url(JSON.stringify({ sub, exp: Math.floor(Date.now() / 1000) + 3600, ...claims }))
  const sig = b64url(createHmac('sha256', secret).update(`${h}.${p}`).digest())
  return `${h}.${p}.${sig}`
}

/** Request to an oversync route with a bearer token for `user` and a source id. */
export function syncRequest(method, path, { user, token, source = 'sec-src', body, headers = {} } = {}, timeout = 15_000) {
  const h = { ...headers }
  const tok = token ?? (user ? mintJwt(user) : undefined)
  if (tok) h.authorization = `Bearer ${tok}`
  if (source) h['oversync-source-id'] = source
  if (body !== undefined && !h['content-type']) h['content-type'] = 'application/json'
  return request(`${ELECTRIC_URL}${path}`, { method, headers: h, body }, timeout)
}

// ---------------------------------------------------------------------------------------------
// Misc
// ---------------------------------------------------------------------------------------------

/** The superuser-only settings restorer: ALTER SYSTEM SET now, RESET at the end (t.after). */
export async function alterSystem(t, settings) {
  for (const [k, v] of Object.entries(settings)) await sql(`ALTER SYSTEM SET ${k} = '${String(v).replace(/'/g, "''")}'`)
  await sql('SELECT pg_reload_conf()')
  t.after(async () => {
    for (const k of Object.keys(settings)) await sql(`ALTER SYSTEM RESET ${k}`).catch(() => {})
    await sql('SELECT pg_reload_conf()').catch(() => {})
  })
}

/** True when a GUC exists (a custom extension setting the server knows). */
export async function settingExists(name) {
  const rows = await sql(`SELECT count(*)::int AS n FROM pg_settings WHERE name = $1`, [name])
  return rows[0].n > 0
}
