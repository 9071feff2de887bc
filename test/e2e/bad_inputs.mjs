// Deterministic generator of bad HTTP requests for security_corpus.test.mjs. Every case is a
// complete raw HTTP/1.1 request (bytes), sent on its own TCP connection, so that nothing
// (undici's header validation, URL normalization) cleans the input before the server sees it.
//
// A case: { category, name, method, target (for reports), bytes | chunks, head, framing,
//           responses (how many answers the bytes ask for), halfClose }.
// Categories: query, body, oversync, headers, jwt, framing, encoding.
//
// Every case is built to be invalid whatever the server's validation order: either the value
// under test is invalid for its parameter by itself (a table that does not exist, an offset that
// is not an offset, a where on an unknown column, ...), or the request also names a table that
// does not exist ("base B"). Empty values, unknown parameter names and ignorable headers are only
// ever combined with base B, because the protocol treats blank parameters as absent and ignores
// unknown ones.

/** mulberry32: small seeded PRNG (deterministic corpus). */
export function prng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const UNRESERVED = /[A-Za-z0-9\-._~]/

/** Percent-encodes the UTF-8 bytes of a JS string (lone surrogates become U+FFFD bytes). */
export function pct(s) {
  const b = Buffer.from(String(s), 'utf8')
  let out = ''
  for (const byte of b) {
    const ch = String.fromCharCode(byte)
    out += byte < 0x80 && UNRESERVED.test(ch) ? ch : '%' + byte.toString(16).toUpperCase().padStart(2, '0')
  }
  return out
}

/** A value either given already encoded ({ raw }) or as text to percent-encode. */
const enc = (v) => (v && typeof v === 'object' && 'raw' in v ? v.raw : pct(v))
const show = (v) => (v && typeof v === 'object' && 'raw' in v ? `raw:${v.raw}` : JSON.stringify(v))

/** Query string from [name, value] pairs (names and values encoded with `enc`; names may be raw). */
export function qs(pairs) {
  return pairs.map(([k, v]) => (v === undefined ? enc(k) : `${enc(k)}=${enc(v)}`)).join('&')
}

/**
 * Serializes a request. `headers` is a list of [name, value] (strings or Buffers, sent as is).
 * Adds Host and Connection: close unless `raw` headers are given, and Content-Length for a body
 * unless the headers already frame it.
 */
export function httpRequest(method, target, { headers = [], body = null, host = 'localhost', close = true, version = 'HTTP/1.1', noDefaults = false } = {}) {
  const hs = [...headers]
  const has = (n) => hs.some(([k]) => String(k).toLowerCase() === n)
  if (!noDefaults) {
    if (!has('host')) hs.unshift(['Host', host])
    if (close && !has('connection')) hs.push(['Connection', 'close'])
    if (body !== null && !has('content-length') && !has('transfer-encoding')) hs.push(['Content-Length', String(Buffer.byteLength(body))])
  }
  const head = Buffer.from(`${method} ${target} ${version}\r\n`, 'latin1')
  const lines = hs.map(([k, v]) => Buffer.concat([Buffer.from(String(k), 'latin1'), Buffer.from(': '), Buffer.isBuffer(v) ? v : Buffer.from(String(v), 'latin1'), Buffer.from('\r\n')]))
  return Buffer.concat([head, ...lines, Buffer.from('\r\n'), body === null ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8')])
}

const MB = 1024 * 1024

/** Bad values for a query parameter, [label, value]; `raw` values are sent as given. */
function badValues(rand) {
  const v = []
  v.push(['empty', ''])
  v.push(['1MB', 'a'.repeat(MB)])
  v.push(['1MB-encoded', { raw: '%41'.repeat(MB / 3) }])
  v.push(['70KB', 'x'.repeat(70 * 1024)])
  for (const p of ['%', '%G', '%zz', '%%', '%1', 'a%', '%%41', '%u0041', '%-1', '%+1']) v.push([`bad-pct ${p}`, { raw: p }])
  for (const u of ['%FF', '%C3%28', '%ED%A0%80', '%F4%90%80%80', '%C0%80', '%C0%AF', '%E0%80%AF', '%F8%88%80%80%80', '%FE%FF', '%80', 'id%C3', '%EF%BF%BE']) v.push([`bad-utf8 ${u}`, { raw: u }])
  v.push(['nul', { raw: '%00' }])
  v.push(['nul-inside', { raw: 'a%00b' }])
  v.push(['nul-tail', { raw: 'id%00' }])
  for (let c = 1; c < 32; c++) v.push([`ctl %${c.toString(16).padStart(2, '0')}`, { raw: `a%${c.toString(16).toUpperCase().padStart(2, '0')}b` }])
  v.push(['del', { raw: '%7F' }])
  for (const n of ['9'.repeat(30), '18446744073709551616', '18446744073709551615', '9223372036854775808', '-9223372036854775809', '1e400', '0x10', '1_2_3', '99999999999999999999_99999999999999999999', '1.5', 'NaN', 'Infinity', '-Infinity', '+1', '00000000000000000001'])
    v.push([`number ${n.slice(0, 24)}`, n])
  for (const n of ['-1', '-2', '-0', '-1_-1', '-99999999999']) v.push([`negative ${n}`, n])
  for (const w of ['true', 'false', 'null', '[]', '{}', '[1,2]', '{"a":1}', '"str"', 'undefined']) v.push([`type ${w}`, w])
  for (const q of ['"', '"a', 'a"', '""', '"a""', '"a"b"', 'public."x', '"pub"."', '.', '..', 'a.b.c', '"a"."b"."c"', '"\u0000"', '`x`', "'x'", '[x]', 'x;y', 'x y', '"x" "y"'])
    v.push([`ident ${q}`, q])
  for (const s of ['\u202e', '\ufeff', '\u200b', 'ｔａｂｌｅ', '\u{1F600}', 'é', 'e\u0301', '\ud800', '\udfff']) v.push([`unicode ${JSON.stringify(s)}`, s])
  // seeded random byte strings, percent-encoded (any byte, including invalid UTF-8)
  for (let i = 0; i < 6; i++) {
    const len = 1 + Math.floor(rand() * 40)
    let raw = ''
    for (let j = 0; j < len; j++) raw += '%' + Math.floor(rand() * 256).toString(16).toUpperCase().padStart(2, '0')
    v.push([`random-bytes ${i}`, { raw }])
  }
  return v
}

/** Where texts that are invalid (syntax, unknown columns, refused constructs) — never valid SQL for the table. */
export function hostileWheres(table) {
  const U = `SELECT -1, current_setting('electric_sync.jwt_secret')`
  return [
    'nope = 1', 'title = = 1', '(((', ')))', "title = 'x", 'title = "x', 'id = $1', 'id = $0', 'id = $99999999999',
    `true) UNION ALL ${U} --`, `true; DROP TABLE ${table}`, `id IN (SELECT 1)`, `EXISTS (SELECT 1)`, `(SELECT 1) = 1`,
    `pg_sleep(1) IS NULL`, `random() > 0.5`, `now() > '2000-01-01'`, `txid_current() > 0`, `nextval('x') > 0`,
    `set_config('a.b', 'c', false) = 'c'`, `pg_read_file('/etc/passwd') <> ''`, `lo_import('/etc/passwd') > 0`,
    `dblink('x', 'y') IS NULL`, `id = ANY(ARRAY(SELECT 1))`, `count(*) > 0`, `sum(id) > 0`, `row_number() OVER () > 0`,
    `id::regclass IS NULL`, `'pg_authid'::regclass IS NULL`, `title COLLATE "nope" = 'x'`, `title ~ '(' AND nope`,
    `1/0 = 1 AND nope`, `$$`, `$a$`, `/*`, `*/`, `--`, `;`, `\\`, `E'\\`, `U&"\\0000"`, `id >`, `id = 1 ORDER BY id`,
    `id = 1 LIMIT 1`, `id = 1 GROUP BY id`, `id = 1 FOR UPDATE`, `id = 1 RETURNING *`, `INSERT INTO x VALUES (1)`,
    `id = (VALUES (1))`, `id = 1 UNION SELECT 1`, `title = 'a' ESCAPE`, `NOT`, `AND`, `OR id`, `id IS`, `id BETWEEN`,
    `CASE`, `CASE WHEN nope THEN 1 END = 1`, `ROW(`, `ARRAY[`, `id = ${'('.repeat(5000)}1${')'.repeat(5000)} AND nope`,
    `${'NOT '.repeat(20000)}true`, `${Array.from({ length: 3000 }, (_, i) => `nope${i} = ${i}`).join(' OR ')}`,
    `title = '${'x'.repeat(100_000)}`, `"${'q'.repeat(20_000)}" = 1`, `id IN (${Array.from({ length: 20000 }, (_, i) => i).join(',')}, nope)`,
  ]
}

/**
 * Builds the corpus. ctx: { table (real, id int PK + title text), missing (a table name that does
 * not exist), sub: { handle, offset } of a changes_only shape on `table`, pushId, jwt (valid
 * token), jwtFor(claims, opts) , badJwts (list of [label, token]) }.
 */
export function generateBadInputs(ctx, { seed = 0x5ec0121 } = {}) {
  const rand = prng(seed)
  const cases = []
  const add = (c) => cases.push({ responses: 1, framing: false, head: false, halfClose: false, ...c })
  const T = ctx.table
  const NOPE = ctx.missing
  const values = badValues(rand)

  // ---- query parameters ------------------------------------------------------------------
  const shapeParams = ['table', 'offset', 'handle', 'live', 'where', 'params', 'params[1]', 'params[]', 'columns', 'replica', 'log', 'cursor',
    'live_sse', 'experimental_live_sse', 'secret', 'api_secret', 'subset__where', 'subset__params', 'subset__order_by', 'subset__limit', 'subset__offset',
    'subset__where_expr', 'subset__order_by_expr']
  // parameters whose bad (non-blank) values are invalid by themselves on a real table (base A)
  const selfInvalid = new Set(['table', 'offset', 'where', 'columns', 'replica', 'log'])
  const baseA = (p) => (p === 'table' ? [['offset', '-1']] : p === 'offset' ? [['table', T]] : [['table', T], ['offset', '-1']])
  const baseB = (p) => [['table', NOPE], ...(p === 'offset' ? [] : [['offset', '-1']])].filter(([k]) => k !== p)
  for (const p of shapeParams) {
    for (const [label, val] of values) {
      const isBlank = val === '' || (typeof val === 'object' && /^(%20|%09)*$/.test(val.raw))
      // base B always; base A also when the value alone is invalid for p
      const bases = [['B', baseB(p)]]
      const validWhere = p === 'where' && ['true', 'false', 'null'].includes(String(val))
      if (selfInvalid.has(p) && !isBlank && !validWhere && !(p === 'offset' && /^(-1|now)$/.test(String(val)))) bases.push(['A', baseA(p)])
      for (const [bn, base] of bases) {
        const q = qs([...base, [{ raw: p.replace('[', '%5B').replace(']', '%5D') }, val]])
        const target = `/v1/shape?${q}`
        add({ category: 'query', name: `${p}=${label} (${bn})`, method: 'GET', target, bytes: httpRequest('GET', target) })
      }
    }
  }
  // duplicated parameters (base B keeps them invalid whichever copy wins)
  for (const p of shapeParams) {
    const target = `/v1/shape?${qs([...baseB(p), [p, 'x'], [p, 'y'], [p, '']])}&table=${pct(NOPE)}`
    add({ category: 'query', name: `duplicate ${p}`, method: 'GET', target, bytes: httpRequest('GET', target) })
  }
  for (const dup of [[['table', NOPE], ['table', T]], [['table', T], ['table', NOPE]]]) {
    const target = `/v1/shape?${qs([...dup, ['offset', '-1'], ['offset', 'bogus']])}`
    add({ category: 'query', name: 'duplicate table+bad offset', method: 'GET', target, bytes: httpRequest('GET', target) })
  }
  // unknown tables and schemas, quoted and unbalanced identifiers, always on a missing relation
  const names = [NOPE, `public.${NOPE}`, `"${NOPE}"`, `nope_schema.${T}`, `"nope_schema"."${T}"`, `pg_catalog.${NOPE}`, `information_schema.${NOPE}`,
    `${T}.${T}`, `"${T}`, `${T}"`, `"${T}""`, `"public".${NOPE}`, `public."${NOPE}`, `public..${T}`, `.${T}`, `${T}.`, `a.b.c.${T}`, `"${T.toUpperCase()}"`,
    `pg_temp.${NOPE}`, `"${'n'.repeat(200)}"`, 'n'.repeat(64), `${NOPE}%`, `${NOPE}*`, `${NOPE}' OR '1'='1`, `${NOPE}; DROP TABLE ${T}`]
  for (const n of names) {
    for (const extra of [[], [['where', 'nope = 1']], [['columns', 'nope']], [['replica', 'full']], [['log', 'changes_only']]]) {
      const target = `/v1/shape?${qs([['table', n], ['offset', '-1'], ...extra])}`
      add({ category: 'query', name: `table ${n.slice(0, 40)} ${extra.map((e) => e[0]).join(',')}`, method: 'GET', target, bytes: httpRequest('GET', target) })
    }
  }
  // hostile where texts on the real table, as shape where, GET subset where and subset order_by
  for (const w of hostileWheres(T)) {
    for (const log of [undefined, 'changes_only']) {
      const target = `/v1/shape?${qs([['table', T], ['offset', '-1'], ...(log ? [['log', log]] : []), ['where', w]])}`
      add({ category: 'query', name: `where ${w.slice(0, 40)} ${log || ''}`, method: 'GET', target, bytes: httpRequest('GET', target) })
    }
    const t2 = `/v1/shape?${qs([['table', T], ['log', 'changes_only'], ['handle', ctx.sub.handle], ['offset', ctx.sub.offset], ['subset__where', w]])}`
    add({ category: 'query', name: `subset__where ${w.slice(0, 40)}`, method: 'GET', target: t2, bytes: httpRequest('GET', t2) })
  }
  for (const o of ['nope', 'id; DROP TABLE x', '"id', 'id))', 'id DESC DESC', 'id NULLS', '1/0', '(SELECT 1)', 'random()', 'id, nope', 'id USING <', `"${'o'.repeat(15000)}"`]) {
    const t2 = `/v1/shape?${qs([['table', T], ['log', 'changes_only'], ['handle', ctx.sub.handle], ['offset', ctx.sub.offset], ['subset__order_by', o], ['subset__limit', '3']])}`
    add({ category: 'query', name: `subset__order_by ${o.slice(0, 30)}`, method: 'GET', target: t2, bytes: httpRequest('GET', t2) })
  }
  for (const [k, v] of [['subset__limit', '-1'], ['subset__limit', 'x'], ['subset__limit', '1e99'], ['subset__limit', '99999999999999999999'], ['subset__offset', '-5'], ['subset__offset', 'x'],
    ['subset__params', '{'], ['subset__params', '[1]'], ['subset__params', '{"1":{}}'], ['subset__params', '{"x":"1"}'], ['subset__where', 'id = $1']]) {
    const extra = k === 'subset__limit' || k === 'subset__offset' ? [['subset__order_by', 'id']] : k === 'subset__params' ? [['subset__where', 'id = $1']] : []
    const t2 = `/v1/shape?${qs([['table', T], ['log', 'changes_only'], ['handle', ctx.sub.handle], ['offset', ctx.sub.offset], ...extra, [k, v]])}`
    add({ category: 'query', name: `${k}=${v}`, method: 'GET', target: t2, bytes: httpRequest('GET', t2) })
  }
  // bad live / handle combinations on the real table (each invalid by the protocol)
  for (const pairs of [[['offset', '-1'], ['live', 'true']], [['offset', '0_0']], [['offset', '0_0'], ['handle', '']], [['offset', '-1'], ['live_sse', 'true']],
    [['offset', '0_inf']], [['offset', '-1_0']], [['offset', '1_2_3']], [['offset', ' -1']], [['offset', '-1 ']]]) {
    const target = `/v1/shape?${qs([['table', T], ...pairs])}`
    add({ category: 'query', name: `combo ${pairs.map((p) => p.join('=')).join('&')}`, method: 'GET', target, bytes: httpRequest('GET', target) })
  }
  // the same through other methods (HEAD: status only) on missing tables
  const sample = cases.filter((c) => c.category === 'query').filter((_, i) => i % 25 === 0)
  for (const c of sample) {
    if (c.target.length > 60_000) continue
    const bad = c.target.replace(/table=[^&]*/, `table=${pct(NOPE)}`).replace(/handle=[^&]*/, 'handle=bogus-handle')
    add({ category: 'query', name: `HEAD ${c.name}`, method: 'HEAD', target: bad, head: true, bytes: httpRequest('HEAD', bad) })
    add({ category: 'query', name: `DELETE ${c.name}`, method: 'DELETE', target: bad, bytes: httpRequest('DELETE', bad) })
    add({ category: 'query', name: `PUT ${c.name}`, method: 'PUT', target: bad, bytes: httpRequest('PUT', bad, { body: '{}', headers: [['Content-Type', 'application/json']] }) })
  }

  // ---- bodies: POST subset requests on the changes_only shape -------------------------------
  const subTarget = `/v1/shape?${qs([['table', T], ['log', 'changes_only'], ['handle', ctx.sub.handle], ['offset', ctx.sub.offset]])}`
  const deep = (n, open = '[', close = ']', inner = '') => open.repeat(n) + inner + close.repeat(n)
  const badJson = [
    '{', '}', '[', ']', '{"where":}', '{"where":"x"', '{"where":"x"}}', '{"where":"id > 1"} trailing', '{where:"x"}', "{'where':'x'}",
    '{"where":"x",}', '{"where":"x" /* c */}', '{"where":NaN}', '{"where":Infinity}', '{"limit":01}', '{"limit":1e99999}', '{"limit":-0.0e+}',
    'nul', 'tru', 'null', 'true', '1', '"str"', '[]', '[{"where":"true"}]', '\ufeff{"where":"nope = 1"}', '{"where":"\\ud800"}', '{"where":"\\u00"}',
    '{"where":"\\x41"}', '{"where":"a\u0000b"}', '{"where":"\\u0000"}', '{"\\u0000":1, "where": "nope = 1"}', '{"where":"nope = 1","where":"nope = 2"}',
    deep(1000), deep(10000), deep(100000), `{"where":${deep(100000)}}`, `{"where":"nope = 1","a":${deep(1000, '{"a":', '}', '1')}}`, `{"where":"nope = 1","a":${deep(100000, '{"a":', '}', '1')}}`, `{"where":${deep(100000, '{"a":', '}', '1')}}`, `{"where":${deep(50000)}}`, `{"where":"id = $1 AND nope","params":${deep(50000, '{"1":', '}', '"x"')}}`,
    `{"where":"${'x'.repeat(MB)}"}`, `{"where":"nope = 1","pad":"${'p'.repeat(2 * MB)}"}`, `{"params":[${Array.from({ length: 100000 }, (_, i) => i).join(',')}],"where":"nope = 1"}`,
    `{"where":"nope = 1","x":${JSON.stringify(Object.fromEntries(Array.from({ length: 20000 }, (_, i) => [`k${i}`, i])))}}`,
  ]
  for (const b of badJson) add({ category: 'body', name: `json ${JSON.stringify(b.slice(0, 40))} (${b.length} chars)`, method: 'POST', target: subTarget, bytes: httpRequest('POST', subTarget, { body: b, headers: [['Content-Type', 'application/json']] }) })
  // deeply nested / very long where expressions through the body (too long for a GET's headers)
  for (const w of [`${'NOT '.repeat(20000)}nope`, `id = ${'('.repeat(100000)}1${')'.repeat(100000)}`, `id = ${'(-'.repeat(50000)}1${')'.repeat(50000)}`,
    `${Array.from({ length: 100000 }, (_, i) => `id <> ${i}`).join(' AND ')} AND nope`, `id = ${'ARRAY['.repeat(20000)}1${']'.repeat(20000)}[1]`,
    `${'('.repeat(20000)}nope${')'.repeat(20000)}`, `${'NOT ('.repeat(10000)}nope${')'.repeat(10000)}`, `id IN (${Array.from({ length: 200000 }, (_, i) => i).join(',')}) AND nope`]) {
    add({ category: 'body', name: `deep where ${w.slice(0, 30)} (${w.length} chars)`, method: 'POST', target: subTarget, bytes: httpRequest('POST', subTarget, { body: JSON.stringify({ where: w }), headers: [['Content-Type', 'application/json']] }) })
  }
  // invalid UTF-8 bytes inside JSON strings
  for (const bytes of [[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xc0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0x80]]) {
    const body = Buffer.concat([Buffer.from('{"where":"title = \''), Buffer.from(bytes), Buffer.from('\'"}')])
    add({ category: 'body', name: `json invalid utf8 ${bytes.map((x) => x.toString(16)).join(' ')}`, method: 'POST', target: subTarget, bytes: httpRequest('POST', subTarget, { body, headers: [['Content-Type', 'application/json']] }) })
  }
  // wrong types for subset members
  const members = {
    where: [1, 1.5, [], {}, ['id > 1'], { a: 1 }, 'nope = 1', 'id = $1'],
    params: ['x', 1, true, [[]], [{}], { 1: {} }, { 1: [] }, { x: '1' }, { 0: '1' }, { '-1': '1' }, { 99999999999: '1' }],
    limit: [-1, 'x', 1.5, 1e309, '10', true, [], {}, -9999999999999],
    offset: [-1, 'x', 1.5, true, [], {}],
    order_by: [1, true, [], {}, 'nope', 'id;', '"id', `"${'z'.repeat(20000)}"`],
    where_expr: [1, 'x', [], { type: 'nope' }],
    order_by_expr: [1, 'x', {}, [1]],
  }
  for (const [k, vals] of Object.entries(members)) {
    for (const v of vals) {
      const obj = { [k]: v }
      if (k === 'limit' || k === 'offset') obj.order_by = 'nope'
      if (k === 'params') obj.where = 'id = $1 AND nope'
      if (k !== 'where' && k !== 'params') obj.where = 'nope = 1'
      const body = JSON.stringify(obj) ?? '{}'
      add({ category: 'body', name: `member ${k}=${JSON.stringify(v)?.slice(0, 30)}`, method: 'POST', target: subTarget, bytes: httpRequest('POST', subTarget, { body, headers: [['Content-Type', 'application/json']] }) })
    }
  }
  // wrong content types (the body is invalid anyway: unknown column)
  for (const ct of [null, 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=latin1', 'application/xml',
    'application/json\u0000', '*/*', '', 'application/json, text/plain', 'APPLICATION/JSON', `application/${'j'.repeat(10000)}`]) {
    const headers = ct === null ? [] : [['Content-Type', ct]]
    for (const body of ['{"where":"nope = 1"}', 'where=nope%20%3D%201', '--x\r\nContent-Disposition: form-data; name="where"\r\n\r\nnope = 1\r\n--x--']) {
      add({ category: 'body', name: `content-type ${String(ct).slice(0, 30)} body ${body.slice(0, 15)}`, method: 'POST', target: subTarget, bytes: httpRequest('POST', subTarget, { body, headers }) })
    }
  }
  // POST on shapes that are not changes_only / missing tables
  for (const target of [`/v1/shape?${qs([['table', NOPE], ['offset', '-1']])}`, `/v1/shape?${qs([['table', T], ['offset', '-1'], ['where', 'nope = 1']])}`, `/v1/shape`]) {
    for (const body of ['{"where":"id > 1"}', '{', deep(5000)]) {
      add({ category: 'body', name: `POST ${target.slice(0, 40)} ${body.slice(0, 10)}`, method: 'POST', target, bytes: httpRequest('POST', target, { body, headers: [['Content-Type', 'application/json']] }) })
    }
  }

  // ---- oversync bodies (valid JWT, wrong shapes) ---------------------------------------------
  const auth = [['Authorization', `Bearer ${ctx.jwt}`], ['Oversync-Source-ID', ctx.source], ['Content-Type', 'application/json']]
  const osBodies = {
    '/sync/connect': ['{', '[]', '1', '"x"', 'null', '{"has_local_pending_rows":"yes"}', '{"has_local_pending_rows":1}', '{"has_local_pending_rows":[]}',
      deep(100000), `{"has_local_pending_rows":${deep(10000)}}`, '{"has_local_pending_rows":false} {}', '{"has_local_pending_rows":tru}'],
    '/sync/push-sessions': ['{', '[]', '{"source_bundle_id":"1","planned_row_count":1}', '{"source_bundle_id":0,"planned_row_count":1}', '{"source_bundle_id":1,"planned_row_count":-1}',
      '{"source_bundle_id":1.5,"planned_row_count":1}', '{"source_bundle_id":1e400,"planned_row_count":1}', '{"source_bundle_id":-1,"planned_row_count":1}',
      '{"source_bundle_id":99999999999999999999,"planned_row_count":1}', '{"source_bundle_id":1,"planned_row_count":"x"}', '{"source_bundle_id":1,"planned_row_count":99999999999}',
      '{"source_bundle_id":null,"planned_row_count":null}', '{"source_bundle_id":1}', '{"planned_row_count":1}', '{"source_bundle_id":1,"planned_row_count":1,"initialization_id":"not-a-uuid"}',
      '{"source_bundle_id":1,"planned_row_count":1,"initialization_id":5}', deep(100000)],
    [`/sync/push-sessions/${ctx.pushId}/chunks`]: ['{', '[]', '{"start_row_ordinal":0,"rows":[]}', '{"start_row_ordinal":"0","rows":[]}', '{"start_row_ordinal":-1,"rows":[{}]}',
      '{"start_row_ordinal":0,"rows":{}}', '{"start_row_ordinal":0,"rows":"x"}', '{"start_row_ordinal":0,"rows":[1]}', '{"start_row_ordinal":0,"rows":[[]]}', '{"start_row_ordinal":0,"rows":[null]}',
      '{"start_row_ordinal":0,"rows":[{"schema":1,"table":"t","key":{},"op":"INSERT"}]}', '{"start_row_ordinal":0,"rows":[{"schema":"app","table":"nope","key":{"id":"x"},"op":"INSERT","payload":{}}]}',
      '{"start_row_ordinal":0,"rows":[{"schema":"app","table":"users","key":"x","op":"INSERT","payload":{}}]}', '{"start_row_ordinal":0,"rows":[{"schema":"app","table":"users","key":{"id":"x"},"op":"MERGE","payload":{}}]}',
      '{"start_row_ordinal":0,"rows":[{"schema":"app","table":"users","key":{"id":"x"},"op":"INSERT","payload":"x"}]}', '{"start_row_ordinal":0,"rows":[{"schema":"app","table":"users","key":{"id":"x"},"op":"INSERT","base_row_version":-1,"payload":{}}]}',
      '{"start_row_ordinal":0,"rows":[{"schema":"\\u0000","table":"\\u0000","key":{"\\u0000":"\\u0000"},"op":"INSERT","payload":{}}]}', '{"start_row_ordinal":99999999999999999999,"rows":[{}]}',
      `{"start_row_ordinal":0,"rows":[${Array.from({ length: 7000 }, () => '{}').join(',')}]}`, `{"start_row_ordinal":0,"rows":[{"schema":"app","table":"users","key":{"id":"x"},"op":"INSERT","payload":{"name":${deep(100000)}}}]}`,
      `{"start_row_ordinal":0,"rows":[{"schema":"${'s'.repeat(MB)}","table":"t","key":{},"op":"INSERT"}]}`, deep(100000, '{"a":', '}', '1')],
    '/sync/snapshot-sessions': ['{', '[]', '{"bogus":1}', '{} {}', '1', deep(100000), '{"source_replacement":"x"}', '{"source_replacement":{"previous_source_id":1}}'],
  }
  for (const [path, bodies] of Object.entries(osBodies)) {
    for (const b of bodies) add({ category: 'oversync', name: `POST ${path.replace(ctx.pushId, '{id}')} ${JSON.stringify(b.slice(0, 40))}`, method: 'POST', target: path, bytes: httpRequest('POST', path, { body: b, headers: auth }) })
  }
  const osGets = ['/sync/pull?max_bundles=0', '/sync/pull?max_bundles=5001', '/sync/pull?after_bundle_seq=abc', '/sync/pull?after_bundle_seq=-1', '/sync/pull?after_bundle_seq=99999999999999999999999',
    '/sync/pull?after_bundle_seq=%FF', '/sync/pull?max_bundles=%00', '/sync/pull?target_bundle_seq=x', '/sync/committed-bundles/0/rows', '/sync/committed-bundles/abc/rows', '/sync/committed-bundles/-1/rows',
    '/sync/committed-bundles/99999999999999999999999/rows', '/sync/committed-bundles/1/rows?max_rows=0', '/sync/committed-bundles/1/rows?after_row_ordinal=x', `/sync/snapshot-sessions/not-a-uuid`,
    '/sync/snapshot-sessions/%FF', '/sync/snapshot-sessions/00000000-0000-0000-0000-000000000000?max_rows=x', '/sync/push-sessions/not-a-uuid/chunks', '/sync/nope', '/sync/', '/sync/watch?after_bundle_seq=x', '/syncx/nope']
  for (const path of osGets) add({ category: 'oversync', name: `GET ${path}`, method: 'GET', target: path, bytes: httpRequest('GET', path, { headers: auth.slice(0, 2) }) })
  for (const [m, path] of [['PUT', '/sync/connect'], ['PATCH', '/sync/push-sessions'], ['GET', '/sync/connect'], ['DELETE', '/sync/push-sessions/not-a-uuid'], ['POST', '/sync/pull'], ['TRACE', '/sync/capabilities']])
    add({ category: 'oversync', name: `${m} ${path}`, method: m, target: path, bytes: httpRequest(m, path, { headers: auth, body: '{}' }) })
  // missing / bad source id with a valid token
  for (const src of [null, '', ' ', '\u0000', 'x'.repeat(10000), 'a\u0001b']) {
    const hs = [['Authorization', `Bearer ${ctx.jwt}`], ...(src === null ? [] : [['Oversync-Source-ID', Buffer.from(src, 'latin1')]])]
    add({ category: 'oversync', name: `source id ${JSON.stringify(src)?.slice(0, 20)}`, method: 'GET', target: '/sync/capabilities', bytes: httpRequest('GET', '/sync/capabilities', { headers: hs }) })
  }

  // ---- JWTs ------------------------------------------------------------------------------------
  for (const [label, tok] of ctx.badJwts) {
    for (const path of ['/sync/capabilities', '/sync/connect']) {
      const m = path === '/sync/connect' ? 'POST' : 'GET'
      const hs = [['Authorization', Buffer.from(tok, 'latin1')], ['Oversync-Source-ID', ctx.source], ['Content-Type', 'application/json']]
      add({ category: 'jwt', name: `${label} ${path}`, method: m, target: path, bytes: httpRequest(m, path, { headers: hs, body: m === 'POST' ? '{"has_local_pending_rows":false}' : null }) })
    }
  }

  // ---- headers ---------------------------------------------------------------------------------
  const badGet = `/v1/shape?${qs([['table', NOPE], ['offset', '-1']])}`
  const headerCases = [
    ['huge header 100KB', [['X-Big', 'a'.repeat(100 * 1024)]]],
    ['huge header 1MB', [['X-Big', 'a'.repeat(MB)]]],
    ['huge header name', [['X-' + 'n'.repeat(70 * 1024), '1']]],
    ['many headers 3000', Array.from({ length: 3000 }, (_, i) => [`X-H${i}`, 'v'.repeat(20)])],
    ['many headers 200', Array.from({ length: 200 }, (_, i) => [`X-H${i}`, 'v'])],
    ['many cookies', Array.from({ length: 500 }, (_, i) => ['Cookie', `c${i}=${'v'.repeat(100)}`])],
    ['huge cookie', [['Cookie', 'a='.padEnd(80 * 1024, 'b')]]],
    ['huge authorization', [['Authorization', 'Bearer ' + 'a'.repeat(70 * 1024)]]],
    ['huge if-none-match', [['If-None-Match', '"' + 'e'.repeat(70 * 1024) + '"']]],
    ['bad if-none-match', [['If-None-Match', '\u0000\u0001']]],
    ['header with NUL', [['X-A', Buffer.from('a\u0000b', 'latin1')]]],
    ['header with CR', [['X-A', Buffer.from('a\rb', 'latin1')]]],
    ['header with 8-bit', [['X-A', Buffer.from([0xff, 0xfe, 0x80])]]],
    ['header name with space', [['X A', '1']]],
    ['header name with colon only', [['', '1']]],
    ['header name with 8-bit', [[Buffer.from([0xe9]).toString('latin1'), '1']]],
    ['duplicate host', [['Host', 'a'], ['Host', 'b']]],
    ['empty host', [['Host', '']]],
    ['host with NUL', [['Host', Buffer.from('a\u0000b', 'latin1')]]],
    ['expect 100-continue', [['Expect', '100-continue']]],
    ['expect garbage', [['Expect', 'garbage']]],
    ['upgrade websocket', [['Upgrade', 'websocket'], ['Connection', 'Upgrade']]],
    ['upgrade h2c', [['Upgrade', 'h2c'], ['HTTP2-Settings', 'AAMAAABkAARAAAAAAAIAAAAA'], ['Connection', 'Upgrade, HTTP2-Settings']]],
    ['connection garbage', [['Connection', 'garbage, close']]],
    ['accept-encoding garbage', [['Accept-Encoding', 'x'.repeat(5000)]]],
    ['range header', [['Range', 'bytes=0-0,1-1,2-2']]],
    ['origin huge', [['Origin', 'http://' + 'o'.repeat(60 * 1024)]]],
  ]
  for (const [label, hs] of headerCases) add({ category: 'headers', name: label, method: 'GET', target: badGet, bytes: httpRequest('GET', badGet, { headers: hs }) })
  // Content-Length / Transfer-Encoding framing on a POST (body invalid anyway). Requests the
  // server cannot frame may be answered 400 or closed without an answer (framing rule).
  const body = '{"where":"nope = 1"}'
  const cl = (v) => [['Content-Type', 'application/json'], ['Content-Length', v]]
  const framingHeaderCases = [
    ['CL abc', cl('abc'), body],
    ['CL -1', cl('-1'), body],
    ['CL 1e3', cl('1e3'), body],
    ['CL huge', cl('99999999999999999999'), body],
    ['CL 2^64', cl('18446744073709551616'), body],
    ['CL space', cl(' 20'), body],
    ['CL 5 5', cl('5 5'), body],
    ['CL 0x14', cl('0x14'), body],
    ['CL +20', cl('+20'), body],
    ['CL empty', cl(''), body],
    ['CL 100MB (no body)', cl(String(100 * MB)), ''],
    ['CL larger than body', cl('1000'), body],
    ['CL smaller than body', cl('3'), body],
    ['duplicate CL same', [...cl('20'), ['Content-Length', '20']], body],
    ['duplicate CL different', [...cl('20'), ['Content-Length', '21']], body],
    ['CL list', cl('20, 20'), body],
    ['CL list different', cl('20, 5'), body],
    ['TE gzip', [['Content-Type', 'application/json'], ['Transfer-Encoding', 'gzip']], body],
    ['TE chunked, gzip', [['Content-Type', 'application/json'], ['Transfer-Encoding', 'chunked, gzip']], `14\r\n${body}\r\n0\r\n\r\n`],
    ['TE xchunked', [['Content-Type', 'application/json'], ['Transfer-Encoding', 'xchunked']], body],
    ['TE chunked twice', [['Content-Type', 'application/json'], ['Transfer-Encoding', 'chunked'], ['Transfer-Encoding', 'chunked']], `14\r\n${body}\r\n0\r\n\r\n`],
    ['TE + CL', [['Content-Type', 'application/json'], ['Transfer-Encoding', 'chunked'], ['Content-Length', '20']], `14\r\n${body}\r\n0\r\n\r\n`],
    ['TE chunked bad size', [['Content-Type', 'application/json'], ['Transfer-Encoding', 'chunked']], `zz\r\n${body}\r\n0\r\n\r\n`],
    ['TE chunked size overflow', [['Content-Type', 'application/json'], ['Transfer-Encoding', 'chunked']], `ffffffffffffffffffff\r\n${body}\r\n0\r\n\r\n`],
    ['TE chunked negative', [['Content-Type', 'application/json'], ['Transfer-Encoding', 'chunked']], `-14\r\n${body}\r\n0\r\n\r\n`],
    ['TE chunked missing CRLF', [['Content-Type', 'application/json'], ['Transfer-Encoding', 'chunked']], `14\r\n${body}0\r\n\r\n`],
    ['TE chunked huge extension', [['Content-Type', 'application/json'], ['Transfer-Encoding', 'chunked']], `14;${'e'.repeat(100000)}\r\n${body}\r\n0\r\n\r\n`],
    ['TE chunked bad trailer', [['Content-Type', 'application/json'], ['Transfer-Encoding', 'chunked']], `14\r\n${body}\r\n0\r\nbad trailer\r\n\r\n`],
    ['TE chunked LF only', [['Content-Type', 'application/json'], ['Transfer-Encoding', 'chunked']], `14\n${body}\n0\n\n`],
    ['TE chunked 100 MB size', [['Content-Type', 'application/json'], ['Transfer-Encoding', 'chunked']], `6400000\r\n${body}`],
    ['TE identity', [['Content-Type', 'application/json'], ['Transfer-Encoding', 'identity']], body],
    ['TE empty', [['Content-Type', 'application/json'], ['Transfer-Encoding', '']], body],
    ['Content-Encoding gzip (not gzip)', [['Content-Type', 'application/json'], ['Content-Encoding', 'gzip']], body],
    ['Content-Encoding garbage', [['Content-Type', 'application/json'], ['Content-Encoding', 'x, y, z']], body],
  ]
  for (const [label, hs, b] of framingHeaderCases) {
    for (const target of [subTarget, '/sync/connect']) {
      const hs2 = target === '/sync/connect' ? [['Authorization', `Bearer ${ctx.jwt}`], ['Oversync-Source-ID', ctx.source], ...hs] : hs
      const bb = target === '/sync/connect' ? b.replace(body, '{"has_local_pending_rows":"x"}').replace(/^14/, '1e').replace(/^-14/, '-1e') : b
      add({ category: 'headers', name: `${label} -> ${target.slice(0, 12)}`, method: 'POST', target, framing: true, halfClose: true, bytes: httpRequest('POST', target, { headers: hs2, body: bb }) })
    }
  }

  // ---- framing: raw request lines and messages -------------------------------------------------
  const H = 'Host: localhost\r\nConnection: close\r\n'
  const bad = `/v1/shape?table=${pct(NOPE)}&offset=-1`
  const frames = [
    ['empty line', '\r\n\r\n'],
    ['method only', 'GET\r\n\r\n'],
    ['no version', `GET ${bad}\r\n${H}\r\n`],
    ['HTTP/0.9', `GET ${bad}\r\n`],
    ['HTTP/9.9', `GET ${bad} HTTP/9.9\r\n${H}\r\n`],
    ['HTTP/2.0 text', `GET ${bad} HTTP/2.0\r\n${H}\r\n`],
    ['HTTP/1.12', `GET ${bad} HTTP/1.12\r\n${H}\r\n`],
    ['http/1.1 lowercase', `GET ${bad} http/1.1\r\n${H}\r\n`],
    ['HTTP/1', `GET ${bad} HTTP/1\r\n${H}\r\n`],
    ['HTTP/a.b', `GET ${bad} HTTP/a.b\r\n${H}\r\n`],
    ['extra token', `GET ${bad} HTTP/1.1 extra\r\n${H}\r\n`],
    ['two spaces', `GET  ${bad}  HTTP/1.1\r\n${H}\r\n`],
    ['leading space', ` GET ${bad} HTTP/1.1\r\n${H}\r\n`],
    ['tab separators', `GET\t${bad}\tHTTP/1.1\r\n${H}\r\n`],
    ['lowercase method', `get ${bad} HTTP/1.1\r\n${H}\r\n`],
    ['unknown method', `FOO ${bad} HTTP/1.1\r\n${H}\r\n`],
    ['method with NUL', `G\u0000T ${bad} HTTP/1.1\r\n${H}\r\n`],
    ['huge method', `${'G'.repeat(100000)} ${bad} HTTP/1.1\r\n${H}\r\n`],
    ['absolute URI', `GET http://localhost${bad} HTTP/1.1\r\n${H}\r\n`],
    ['asterisk', `GET * HTTP/1.1\r\n${H}\r\n`],
    ['CONNECT authority', `CONNECT localhost:80 HTTP/1.1\r\n${H}\r\n`],
    ['target without slash', `GET v1/shape?table=x HTTP/1.1\r\n${H}\r\n`],
    ['space in target', `GET /v1/shape?table=a b HTTP/1.1\r\n${H}\r\n`],
    ['NUL in target', `GET /v1/shape?table=a\u0000b&offset=-1 HTTP/1.1\r\n${H}\r\n`],
    ['CTL in target', `GET /v1/shape?table=a\u0001b&offset=-1 HTTP/1.1\r\n${H}\r\n`],
    ['DEL in target', `GET /v1/shape?table=a\u007fb&offset=-1 HTTP/1.1\r\n${H}\r\n`],
    ['8-bit in target', Buffer.concat([Buffer.from('GET /v1/shape?table='), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), Buffer.from(`&offset=-1 HTTP/1.1\r\n${H}\r\n`)])],
    ['fragment in target', `GET ${bad}#frag HTTP/1.1\r\n${H}\r\n`],
    ['huge target 100KB', `GET /v1/shape?table=${'t'.repeat(100000)} HTTP/1.1\r\n${H}\r\n`],
    ['response as request', `HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n`],
    ['bare LF', `GET ${bad} HTTP/1.1\nHost: localhost\nConnection: close\n\n`],
    ['bare CR', `GET ${bad} HTTP/1.1\rHost: localhost\rConnection: close\r\r`],
    ['mixed LF', `GET ${bad} HTTP/1.1\r\nHost: localhost\nConnection: close\r\n\n`],
    ['obs-fold', `GET ${bad} HTTP/1.1\r\nHost: localhost\r\nX-A: a\r\n b\r\nConnection: close\r\n\r\n`],
    ['obs-fold first', `GET ${bad} HTTP/1.1\r\n X-A: a\r\n${H}\r\n`],
    ['header no colon', `GET ${bad} HTTP/1.1\r\n${H}NoColonHere\r\n\r\n`],
    ['space before colon', `GET ${bad} HTTP/1.1\r\n${H}X-A : b\r\n\r\n`],
    ['empty header name', `GET ${bad} HTTP/1.1\r\n${H}: b\r\n\r\n`],
    ['header NUL', `GET ${bad} HTTP/1.1\r\n${H}X-A: a\u0000b\r\n\r\n`],
    ['TLS ClientHello', Buffer.from('16030100a5010000a10303' + '00'.repeat(32) + '000004c02fc030010000740000000e000c0000096c6f63616c686f7374', 'hex')],
    ['HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
    ['only CRLFs', '\r\n'.repeat(1000)],
  ]
  for (const [label, data] of frames) {
    add({ category: 'framing', name: label, method: 'RAW', target: label, framing: true, halfClose: true, bytes: Buffer.isBuffer(data) ? data : Buffer.from(data, 'latin1') })
  }
  // seeded binary garbage
  for (let i = 0; i < 40; i++) {
    const len = 1 + Math.floor(rand() * 2000)
    const b = Buffer.alloc(len)
    for (let j = 0; j < len; j++) b[j] = Math.floor(rand() * 256)
    if (i % 2 === 0) b.write('GET /', 0, 'latin1') // some look like a request start
    add({ category: 'framing', name: `random bytes ${i} (${len} B)`, method: 'RAW', target: `random ${i}`, framing: true, halfClose: true, bytes: b })
  }
  // truncated requests (the client half-closes after sending a prefix)
  const full = httpRequest('POST', subTarget, { body: '{"where":"nope = 1"}', headers: [['Content-Type', 'application/json']] })
  for (const cut of [1, 3, 10, 20, 40, full.indexOf('\r\n') + 1, full.indexOf('\r\n\r\n'), full.indexOf('\r\n\r\n') + 2, full.length - 5, full.length - 1]) {
    add({ category: 'framing', name: `truncated at ${cut}/${full.length}`, method: 'RAW', target: `truncated ${cut}`, framing: true, halfClose: true, bytes: full.subarray(0, cut) })
  }
  // pipelining: several bad requests in one write, answered in order (or closed)
  const one = (t, close = false) => `GET ${t} HTTP/1.1\r\nHost: localhost\r\n${close ? 'Connection: close\r\n' : ''}\r\n`
  add({ category: 'framing', name: 'pipelined 3 bad', method: 'RAW', target: 'pipelined 3', framing: true, responses: 3, bytes: Buffer.from(one(bad) + one('/nope') + one(bad, true)) })
  add({ category: 'framing', name: 'pipelined 10 bad', method: 'RAW', target: 'pipelined 10', framing: true, responses: 10, bytes: Buffer.from(Array.from({ length: 9 }, () => one(bad)).join('') + one('/nope', true)) })
  add({ category: 'framing', name: 'pipelined bad then garbage', method: 'RAW', target: 'pipelined garbage', framing: true, halfClose: true, bytes: Buffer.from(one(bad) + 'GARBAGE\r\n\r\n') })
  add({ category: 'framing', name: 'pipelined bad POST then bad GET', method: 'RAW', target: 'pipelined post', framing: true, responses: 2, bytes: Buffer.concat([httpRequest('POST', subTarget, { body: '{', headers: [['Content-Type', 'application/json']], close: false }), Buffer.from(one(bad, true))]) })
  add({ category: 'framing', name: 'pipelined 50 /nope', method: 'RAW', target: 'pipelined 50', framing: true, responses: 50, bytes: Buffer.from(Array.from({ length: 49 }, () => one('/nope')).join('') + one('/nope', true)) })
  // byte-by-byte delivery of a bad request
  const slow = Buffer.from(one(bad, true))
  add({ category: 'framing', name: 'byte by byte', method: 'RAW', target: 'byte by byte', framing: true, chunks: [...slow].map((b) => Buffer.from([b])), bytes: slow })

  // ---- encodings: paths and names ------------------------------------------------------------------
  const q = `?${qs([['table', NOPE], ['offset', '-1']])}`
  for (const path of ['/v1/%73hape', '/v1/shape%00', '/v1/shape/..', '/v1/./shape', '//v1/shape', '/V1/SHAPE', '/v1/shape;x', '/v1/shape%2F', '/v1/shape/', '/v1/shape%20',
    '/v1%2Fshape', '/v1/shap%65', '/%2e%2e/v1/shape', '/v1/shape%C0%AF', '/v1/shape%252F', '/v1/shape%FF', '/v1/shape/%2e%2e/health', '/v1/health/../shape', '/v1/\u00e9', '/v1/shape\\',
    '/v1/metrics/x', '/v1/health%00', '/%00', '/', '/..', '/v1', '/v1/']) {
    const target = path.includes('?') ? path : path + q
    add({ category: 'encoding', name: `path ${path}`, method: 'GET', target, bytes: httpRequest('GET', target.replace(/[\u0080-\uffff]/g, (c) => pct(c))) })
  }
  // the table name in many encodings of the same (missing) name
  for (const [label, raw] of [['plus for space', `${NOPE}+x`], ['double-encoded', pct(pct(NOPE))], ['fullwidth', pct('ｔａｂｌｅ')], ['zero-width', `${NOPE}%E2%80%8B`], ['rtl', `%E2%80%AE${NOPE}`],
    ['overlong slash', `public%C0%AF${NOPE}`], ['encoded dot', `public%2E${NOPE}`], ['encoded quote', `%22${NOPE}%22`], ['latin1 byte', `${NOPE}%E9`], ['utf16', `${NOPE}%FF%FE`], ['surrogate', `${NOPE}%ED%B0%80`],
    ['emoji', `${NOPE}%F0%9F%98%80`], ['nul', `${NOPE}%00x`], ['encoded ampersand', `${NOPE}%26offset%3D-1`], ['encoded equals', `${NOPE}%3Dx`], ['semicolon', `${NOPE};offset=-1`], ['hash', `${NOPE}%23x`]]) {
    const target = `/v1/shape?table=${raw}&offset=-1`
    add({ category: 'encoding', name: `table ${label}`, method: 'GET', target, bytes: httpRequest('GET', target) })
  }
  // query string oddities
  for (const s of ['', '&&&', '=', '==', '&=&', 'table', 'table=&&offset', '?table=x', 'table=x?offset=-1', '%3D%3D', 'table%3Dx%26offset%3D-1', ';', 'a[b]=1&a[b][c]=2', 'params[=1', 'params]=1', 'params[1=1',
    'params[%00]=1', 'params[1][2]=1', `${'k'.repeat(1000)}=v`, Array.from({ length: 5000 }, (_, i) => `k${i}=v`).join('&'), Array.from({ length: 3000 }, () => 'table=x').join('&')]) {
    const target = `/v1/shape?${s}${s ? '&' : ''}table=${pct(NOPE)}&offset=-1`
    add({ category: 'encoding', name: `query ${s.slice(0, 30)}`, method: 'GET', target, bytes: httpRequest('GET', target) })
  }
  return cases
}
