// A corpus of bad requests (bad_inputs.mjs: query parameters, bodies, oversync bodies, headers,
// JWTs, raw framing, encodings; generated deterministically from a fixed seed), each sent on its
// own TCP connection with bounded concurrency and a per-request timeout.
//
// Rule for a case to pass:
//   - the server answers every request the bytes contain with a 4xx status (1xx interim answers
//     are ignored) and, except for HEAD, a body that parses as JSON; or
//   - for framing cases only (malformed or truncated messages, bad Content-Length or
//     Transfer-Encoding: the ones marked `framing`), the server closes the connection without
//     sending any byte (it could not frame a request to answer). A response that is cut off, a
//     close after partial bytes, or a connection reset before any answer on a non-framing case
//     is a failure ("other").
//   - 5xx is a failure; no complete answer and no close within the per-request timeout is a
//     "hang" (failure); a 2xx/3xx or a non-JSON 4xx body is "other" (failure).
// Requests cut off by a crash caused by another request in flight are sent again alone (see the
// confirmation pass); a crash always fails the test through the survival check anyway.
// At the end the worker pid and the postmaster must be unchanged and the log must have no
// "terminated by signal" (lib_security.assertSurvived).
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { setup, sql, closePool, uniqueName, qi, getShape } from './lib.mjs'
import { survivalBaseline, assertSurvived, mintJwt, b64url, syncRequest, HTTP_HOST, HTTP_PORT, JWT_SECRET } from './lib_security.mjs'
import { generateBadInputs } from './bad_inputs.mjs'
import { createHmac } from 'node:crypto'

after(closePool)

const CONCURRENCY = 16
const REQUEST_TIMEOUT = 10_000

/** Parses as many complete HTTP responses as `buf` holds. */
function parseResponses(buf, head) {
  const out = []
  let pos = 0
  for (;;) {
    const sep = buf.indexOf('\r\n\r\n', pos, 'latin1')
    if (sep < 0) return { responses: out, rest: buf.length - pos }
    const headText = buf.subarray(pos, sep).toString('latin1')
    const m = headText.match(/^HTTP\/1\.[01] (\d{3})/)
    if (!m) return { responses: out, rest: buf.length - pos, garbage: true }
    const status = Number(m[1])
    const headers = {}
    for (const line of headText.split('\r\n').slice(1)) {
      const i = line.indexOf(':')
      if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim()
    }
    let bodyStart = sep + 4
    let body
    if (status < 200 || status === 204 || status === 304 || head) {
      body = Buffer.alloc(0)
    } else if (/chunked/i.test(headers['transfer-encoding'] || '')) {
      const parts = []
      let p = bodyStart
      let complete = false
      for (;;) {
        const le = buf.indexOf('\r\n', p, 'latin1')
        if (le < 0) break
        const size = parseInt(buf.subarray(p, le).toString('latin1'), 16)
        if (!Number.isFinite(size)) return { responses: out, rest: buf.length - pos, garbage: true }
        if (size === 0) {
          const end = buf.indexOf('\r\n\r\n', le, 'latin1')
          if (end < 0) break
          p = end + 4
          complete = true
          break
        }
        if (buf.length < le + 2 + size + 2) break
        parts.push(buf.subarray(le + 2, le + 2 + size))
        p = le + 2 + size + 2
      }
      if (!complete) return { responses: out, rest: buf.length - pos }
      body = Buffer.concat(parts)
      bodyStart = p
      out.push({ status, headers, body })
      pos = p
      continue
    } else if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length'])
      if (buf.length < bodyStart + n) return { responses: out, rest: buf.length - pos }
      body = buf.subarray(bodyStart, bodyStart + n)
      bodyStart += n
    } else {
      // no framing: the body runs to the close; only complete once the connection closed
      out.push({ status, headers, body: buf.subarray(bodyStart), toClose: true })
      return { responses: out, rest: 0 }
    }
    out.push({ status, headers, body })
    pos = bodyStart
  }
}

/** Sends one case; resolves { kind, statuses, detail }. */
function send(c) {
  return new Promise((resolve) => {
    const chunks = []
    let done = false
    let connected = false
    const sock = net.connect({ host: HTTP_HOST, port: HTTP_PORT })
    const finish = (why, err) => {
      if (done) return
      done = true
      clearTimeout(timer)
      sock.destroy()
      resolve(classify(c, Buffer.concat(chunks), why, err))
    }
    const timer = setTimeout(() => finish('timeout'), REQUEST_TIMEOUT)
    sock.on('connect', async () => {
      connected = true
      try {
        if (c.chunks) {
          for (const ch of c.chunks) {
            if (done) return
            sock.write(ch)
            await new Promise((r) => setImmediate(r))
          }
        } else {
          sock.write(c.bytes)
        }
        if (c.halfClose) sock.end()
      } catch {}
    })
    sock.on('data', (d) => {
      chunks.push(d)
      const { responses } = parseResponses(Buffer.concat(chunks), c.head)
      const complete = responses.filter((r) => !r.toClose)
      const finals = complete.filter((r) => r.status >= 200)
      if (finals.length >= c.responses || complete.some((r) => r.status >= 500)) finish('complete')
    })
    sock.on('end', () => finish('closed'))
    sock.on('close', () => finish('closed'))
    sock.on('error', (e) => {
      if (!connected && e.code === 'ECONNREFUSED' && !done) {
        // nothing was sent: the worker is down (restarting after a crash); the caller resends
        done = true
        clearTimeout(timer)
        sock.destroy()
        resolve({ refused: true })
        return
      }
      finish('error', e)
    })
  })
}

async function healthStatus() {
  try {
    const res = await fetch(`http://${HTTP_HOST}:${HTTP_PORT}/v1/health`, { signal: AbortSignal.timeout(3_000) })
    await res.text()
    return res.status
  } catch {
    return 0
  }
}

async function waitHealthy200(timeout = 60_000) {
  const deadline = Date.now() + timeout
  while (Date.now() < deadline) {
    if ((await healthStatus()) === 200) return true
    await new Promise((r) => setTimeout(r, 100))
  }
  return false
}

/** Waits until the HTTP port accepts connections again (after a worker crash). */
async function waitPortOpen(timeout = 60_000) {
  const deadline = Date.now() + timeout
  while (Date.now() < deadline) {
    const ok = await new Promise((r) => {
      const s = net.connect({ host: HTTP_HOST, port: HTTP_PORT })
      s.on('connect', () => (s.destroy(), r(true)))
      s.on('error', () => r(false))
    })
    if (ok) return true
    await new Promise((r) => setTimeout(r, 100))
  }
  return false
}

function classify(c, buf, why, err) {
  const { responses, garbage } = parseResponses(buf, c.head)
  const finals = responses.filter((r) => r.status >= 200)
  const statuses = finals.map((r) => r.status)
  const snippet = buf.toString('latin1').slice(0, 160).replace(/\r\n/g, '\\r\\n')
  if (finals.some((r) => r.status >= 500)) return { kind: '5xx', statuses, detail: snippet }
  if (buf.length === 0) {
    if (why === 'timeout') return { kind: 'hang', statuses, detail: 'no answer and no close' }
    if (c.framing) return { kind: 'closed', statuses, detail: why + (err ? ` ${err.code}` : '') }
    return { kind: 'other', statuses, detail: `closed without an answer (${why}${err ? ` ${err.code}` : ''})` }
  }
  if (garbage) return { kind: 'other', statuses, detail: `unparsable answer: ${snippet}` }
  const needed = c.framing ? 1 : c.responses
  if (finals.length < needed) {
    if (why === 'timeout') return { kind: 'hang', statuses, detail: `incomplete answer: ${snippet}` }
    return { kind: 'other', statuses, detail: `cut-off answer (${why}${err ? ` ${err.code}` : ''}): ${snippet}` }
  }
  for (const r of finals) {
    if (r.status < 400 || r.status >= 500) return { kind: 'other', statuses, detail: snippet }
    if (!c.head) {
      try {
        const j = JSON.parse(r.body.toString('utf8'))
        if (j === null || typeof j !== 'object') throw new Error('not an object')
      } catch {
        return { kind: 'other', statuses, detail: `non-JSON ${r.status} body: ${r.body.toString('latin1').slice(0, 100)}` }
      }
    }
  }
  return { kind: '4xx', statuses, detail: '' }
}

async function runPool(items, n, fn) {
  const results = new Array(items.length)
  let next = 0
  await Promise.all(
    Array.from({ length: n }, async () => {
      for (;;) {
        const i = next++
        if (i >= items.length) return
        results[i] = await fn(items[i], i)
      }
    }),
  )
  return results
}

function badJwts(user) {
  const valid = mintJwt(user)
  const [h, p, s] = valid.split('.')
  const sign = (hh, pp, secret = JWT_SECRET, alg = 'sha256') => b64url(createHmac(alg, secret).update(`${hh}.${pp}`).digest())
  const hdr = (o) => b64url(JSON.stringify(o))
  const pay = (o) => b64url(JSON.stringify(o))
  const exp = Math.floor(Date.now() / 1000) + 3600
  const tok = (header, payload, secret, alg) => {
    const hh = typeof header === 'string' ? header : hdr(header)
    const pp = typeof payload === 'string' ? payload : pay(payload)
    return `${hh}.${pp}.${sign(hh, pp, secret, alg)}`
  }
  const list = [
    ['no scheme', valid],
    ['empty', ''],
    ['Bearer only', 'Bearer'],
    ['Bearer space', 'Bearer '],
    ['Basic', 'Basic dXNlcjpwYXNz'],
    ['one segment', 'Bearer abc'],
    ['two segments', 'Bearer abc.def'],
    ['three garbage', 'Bearer abc.def.ghi'],
    ['four segments', `Bearer ${valid}.x`],
    ['dots only', 'Bearer ..'],
    ['three dots', 'Bearer ...'],
    ['wrong secret', `Bearer ${tok({ alg: 'HS256', typ: 'JWT' }, { sub: user, exp }, 'wrong-secret')}`],
    ['expired', `Bearer ${tok({ alg: 'HS256', typ: 'JWT' }, { sub: user, exp: 1000 })}`],
    ['exp string', `Bearer ${tok({ alg: 'HS256', typ: 'JWT' }, { sub: user, exp: 'tomorrow' })}`],
    ['exp negative', `Bearer ${tok({ alg: 'HS256', typ: 'JWT' }, { sub: user, exp: -1 })}`],
    ['sub missing', `Bearer ${tok({ alg: 'HS256', typ: 'JWT' }, { exp })}`],
    ['sub number', `Bearer ${tok({ alg: 'HS256', typ: 'JWT' }, { sub: 42, exp })}`],
    ['sub object', `Bearer ${tok({ alg: 'HS256', typ: 'JWT' }, { sub: { a: 1 }, exp })}`],
    ['sub empty', `Bearer ${tok({ alg: 'HS256', typ: 'JWT' }, { sub: '', exp })}`],
    ['sub null', `Bearer ${tok({ alg: 'HS256', typ: 'JWT' }, { sub: null, exp })}`],
    ['alg none', `Bearer ${hdr({ alg: 'none', typ: 'JWT' })}.${pay({ sub: user, exp })}.`],
    ['alg none with sig', `Bearer ${tok({ alg: 'none', typ: 'JWT' }, { sub: user, exp })}`],
    ['alg missing', `Bearer ${tok({ typ: 'JWT' }, { sub: user, exp })}`],
    ['alg HS512 header, HS256 sig', `Bearer ${tok({ alg: 'HS512', typ: 'JWT' }, { sub: user, exp })}`],
    ['alg RS256 header', `Bearer ${tok({ alg: 'RS256', typ: 'JWT' }, { sub: user, exp })}`],
    ['alg lowercase', `Bearer ${tok({ alg: 'hs256', typ: 'JWT' }, { sub: user, exp })}`],
    ['header not JSON', `Bearer ${tok(b64url('not json'), { sub: user, exp })}`],
    ['header array', `Bearer ${tok(b64url('[]'), { sub: user, exp })}`],
    ['payload not JSON', `Bearer ${tok({ alg: 'HS256' }, b64url('not json'))}`],
    ['payload array', `Bearer ${tok({ alg: 'HS256' }, b64url('[1,2]'))}`],
    ['payload deep', `Bearer ${tok({ alg: 'HS256' }, b64url('['.repeat(20000) + ']'.repeat(20000)))}`],
    ['payload deep object', `Bearer ${tok({ alg: 'HS256' }, b64url('{"a":'.repeat(5000) + '1' + '}'.repeat(5000)))}`],
    ['payload invalid utf8', `Bearer ${tok({ alg: 'HS256' }, b64url(Buffer.from([0x7b, 0x22, 0x73, 0x75, 0x62, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d])))}`],
    ['signature truncated', `Bearer ${h}.${p}.${s.slice(0, -2)}`],
    ['signature extra char', `Bearer ${h}.${p}.${s}A`],
    ['signature padded =', `Bearer ${valid}=`],
    ['signature padded ==', `Bearer ${valid}==`],
    ['signature std alphabet', `Bearer ${h}.${p}.${Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('base64')}`],
    ['signature empty', `Bearer ${h}.${p}.`],
    ['signature of other token', `Bearer ${h}.${pay({ sub: user + 'x', exp })}.${s}`],
    ['NUL inside', `Bearer ${h}.${p}\u0000.${s}`],
    ['space inside', `Bearer ${h}. ${p}.${s}`],
    ['non-ascii', `Bearer ${h}.${p}.${s}\u00e9`],
    ['trailing garbage', `Bearer ${valid} extra`],
    ['two tokens', `Bearer ${valid}, Bearer ${valid}`],
    ['huge token', `Bearer ${h}.${b64url('x'.repeat(40000))}.${s}`],
    ['huge invalid base64', `Bearer ${'!'.repeat(5000)}.${'!'.repeat(5000)}.${'!'.repeat(100)}`],
  ]
  return list
}

test('corpus: 2,000+ bad requests are all answered 4xx with a JSON body (no 5xx, no hang, no crash)', { timeout: 120_000 }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('corpus', 'id int PRIMARY KEY, title text')
  await sql(`INSERT INTO ${qi(table)} SELECT g, 't' || g FROM generate_series(1, 20) g`)
  const r0 = await getShape({ table, offset: '-1', log: 'changes_only' })
  assert.equal(r0.status, 200, r0.text)
  const sub = { handle: r0.headers.get('electric-handle'), offset: r0.headers.get('electric-offset') }

  const user = `e2e-sec-corpus-${process.pid}-${Date.now()}`
  const source = 'sec-corpus-src'
  t.after(async () => {
    await sql(`DELETE FROM electric_sync.os_push_sessions WHERE user_id = $1`, [user]).catch(() => {})
    await sql(`DELETE FROM electric_sync.os_snapshot_sessions WHERE user_id = $1`, [user]).catch(() => {})
    await sql(`DELETE FROM electric_sync.os_source_state WHERE user_id = $1`, [user]).catch(() => {})
    await sql(`DELETE FROM electric_sync.os_scope_state WHERE user_id = $1`, [user]).catch(() => {})
  })
  const c1 = await syncRequest('POST', '/sync/connect', { user, source, body: '{"has_local_pending_rows":false}' })
  assert.equal(c1.status, 200, c1.text)
  const ps = await syncRequest('POST', '/sync/push-sessions', { user, source, body: '{"source_bundle_id":1,"planned_row_count":1}' })
  assert.equal(ps.status, 200, ps.text)

  const cases = generateBadInputs({
    table,
    missing: uniqueName('corpus_missing'),
    sub,
    pushId: ps.body.push_id,
    jwt: mintJwt(user),
    source,
    badJwts: badJwts(user),
  })
  assert.ok(cases.length >= 2000, `the corpus has ${cases.length} cases (want >= 2000)`)

  const base = await survivalBaseline()
  const t0 = Date.now()
  // A connection refused (or a 503 while /v1/health is not 200) means the worker is down or
  // starting (it crashed on an earlier case and is being restarted): that case was not really
  // served, so it is resent once the worker is healthy again. The crash
  // itself is caught by the cases that were cut off and by the survival check at the end.
  let resent = 0
  const results = await runPool(cases, CONCURRENCY, async (c) => {
    for (let attempt = 0; ; attempt++) {
      const r = await send(c)
      // a 503 while /v1/health is not 200: the worker is restarting after a crash -> resend too
      if (r.kind === '5xx' && r.statuses[0] === 503 && (await healthStatus()) !== 200) {
        if (attempt >= 3 || !(await waitHealthy200())) return r
        resent++
        continue
      }
      if (!r.refused) return r
      if (attempt >= 3 || !(await waitPortOpen()) || !(await waitHealthy200())) return { kind: 'other', statuses: [], detail: 'connection refused (worker down)' }
      resent++
    }
  })
  // Confirmation pass: a crash cuts off every request in flight at that moment, not only the one
  // that caused it. Requests that were cut off (closed/reset without a complete answer) are sent
  // again one at a time once the worker is healthy: the ones answered properly then were
  // collateral (the crash itself still fails the survival check), the others are confirmed.
  let collateral = 0
  const confirmDeadline = Date.now() + 30_000
  for (let i = 0; i < results.length; i++) {
    const r = results[i]
    if (r.kind !== 'other' || !/^(closed without an answer|cut-off answer|connection refused)/.test(r.detail)) continue
    if (Date.now() > confirmDeadline) break
    await waitHealthy200()
    const again = await send(cases[i])
    if (!again.refused && ['4xx', 'closed'].includes(again.kind)) {
      results[i] = again
      collateral++
    } else if (!again.refused) {
      results[i] = { ...again, detail: `${again.detail} (confirmed alone)` }
    }
  }
  const ms = Date.now() - t0

  const summary = {}
  const offending = []
  results.forEach((r, i) => {
    const c = cases[i]
    const s = (summary[c.category] ??= { sent: 0, '4xx': 0, closed: 0, '5xx': 0, hang: 0, other: 0 })
    s.sent++
    s[r.kind]++
    if (!['4xx', 'closed'].includes(r.kind)) offending.push({ c, r })
  })
  const total = { sent: 0, '4xx': 0, closed: 0, '5xx': 0, hang: 0, other: 0 }
  for (const s of Object.values(summary)) for (const k of Object.keys(total)) total[k] += s[k]
  const lines = [`corpus: ${cases.length} requests in ${ms} ms (concurrency ${CONCURRENCY}, timeout ${REQUEST_TIMEOUT} ms, ${resent} resent after connection refused, ${collateral} cut off by a concurrent crash then answered alone)`,
    `${'category'.padEnd(10)} ${['sent', '4xx', 'closed', '5xx', 'hang', 'other'].map((k) => k.padStart(6)).join(' ')}`]
  for (const [cat, s] of [...Object.entries(summary), ['TOTAL', total]]) lines.push(`${cat.padEnd(10)} ${['sent', '4xx', 'closed', '5xx', 'hang', 'other'].map((k) => String(s[k]).padStart(6)).join(' ')}`)
  console.log(lines.join('\n'))
  t.diagnostic(lines.join(' | '))

  const esc = (x) => String(x).replace(/[\u0000-\u001f\u007f-\uffff]/g, (ch) => `\\x${ch.charCodeAt(0).toString(16)}`)
  const describe = ({ c, r }) =>
    esc(`[${c.category}] ${c.method} ${String(c.target).slice(0, 90)} (${c.name.slice(0, 50)}) -> ${r.kind} ${r.statuses.join(',') || '-'} ${r.detail.slice(0, 120)}`)
  if (process.env.CORPUS_VERBOSE) console.log(offending.map(describe).join('\n'))
  const survived = assertSurvived(base, 'corpus').then(() => null, (e) => e)
  const survivalError = await survived
  assert.equal(offending.length, 0, `${offending.length} of ${cases.length} bad requests were not answered 4xx+JSON (${total['5xx']} 5xx, ${total.hang} hangs, ${total.other} other)` +
    `${survivalError ? `\nAND THE WORKER DID NOT SURVIVE: ${survivalError.message.split('\n')[0]}` : ''}\nfirst ${Math.min(20, offending.length)}:\n${offending.slice(0, 20).map(describe).join('\n')}`)
  if (survivalError) throw survivalError
})
