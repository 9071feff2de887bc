// SQL injection through where texts: the shape where, the subset where (GET subset__where and
// POST {"where"}) and subset__order_by must never leave their expression. A comment, an
// unbalanced quote or parenthesis, a ';', or dollar quoting must not let a request read
// settings (electric_sync.jwt_secret), return made-up rows, or run a second statement. And a
// hostile text must not poison the shape cache: a later well-formed request of an equivalent
// definition is answered normally.
//
// Accepted answers for a hostile text: a 4xx with a JSON body, or a 200 whose rows are real
// rows of the table (never id -1, never the secret). Never a 5xx. The worker survives.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { setup, sql, closePool, getShape, shapeUrl, uniqueName, qi, TEST_TIMEOUT } from './lib.mjs'
import { survivalBaseline, assertSurvived, request } from './lib_security.mjs'

after(closePool)

const LEAK = `current_setting('electric_sync.jwt_secret')`

async function secretValue() {
  const [{ v }] = await sql(`SELECT current_setting('electric_sync.jwt_secret', true) AS v`)
  assert.ok(v && v.length >= 8, 'the cluster must have electric_sync.jwt_secret set (the test looks for it in responses)')
  return v
}

async function itemsTable(ctx, prefix) {
  const t = await ctx.table(prefix, 'id int PRIMARY KEY, title text, done boolean, created_at timestamptz DEFAULT now()')
  await sql(`INSERT INTO ${qi(t)} (id, title, done) SELECT g, 'item ' || g, g % 2 = 0 FROM generate_series(1, 50) g`)
  await sql(`INSERT INTO ${qi(t)} (id, title, done) VALUES (42, 'the answer', true) ON CONFLICT (id) DO NOTHING`)
  return t
}

/** Every row value found in a shape/subset body (array of messages or {data:[...]}). */
function rowsOf(body) {
  const msgs = Array.isArray(body) ? body : Array.isArray(body?.data) ? body.data : []
  return msgs.filter((m) => m && m.value).map((m) => m.value)
}

/**
 * The answer to a hostile request is safe: 4xx JSON or 200 with only real rows; no secret
 * anywhere in the body or headers.
 */
function assertSafe(r, label, secret, realIds) {
  const all = r.text + JSON.stringify([...r.headers.entries()])
  if (all.includes(secret)) {
    const i = r.text.indexOf(secret)
    const around = i >= 0 ? r.text.slice(Math.max(0, i - 300), i + secret.length + 100).split(secret).join('<JWT SECRET>') : '(in a header)'
    assert.fail(`${label}: the response contains the jwt secret (status ${r.status}): ...${around}...`)
  }
  assert.ok(r.status !== 0, `${label}: no answer (${r.error?.message})`)
  assert.ok(r.status < 500, `${label}: ${r.status} ${r.text.slice(0, 400)}`)
  if (r.status >= 400) {
    assert.ok(r.status < 500 && r.body && typeof r.body === 'object', `${label}: ${r.status} must carry a JSON body: ${r.text.slice(0, 400)}`)
    return
  }
  assert.ok([200, 204].includes(r.status), `${label}: unexpected status ${r.status} ${r.text.slice(0, 300)}`)
  for (const v of rowsOf(r.body)) {
    assert.notEqual(String(v.id), '-1', `${label}: a made-up row with id -1 was returned: ${JSON.stringify(v)}`)
    assert.ok(realIds.has(String(v.id)), `${label}: row ${JSON.stringify(v)} is not a row of the table`)
  }
}

async function realIdSet(t) {
  return new Set((await sql(`SELECT id::text AS id FROM ${qi(t)}`)).map((r) => r.id))
}

const postJson = (url, obj) =>
  request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof obj === 'string' ? obj : JSON.stringify(obj) })

test('injection: the reported reproduction (changes_only shape "id > 0 --" + POST subset with a comment/UNION) leaks nothing', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const base = await survivalBaseline()
  const secret = await secretValue()
  const table = await itemsTable(ctx, 'inj_repro')
  const ids = await realIdSet(table)
  const W = 'id > 0 --'
  const url = shapeUrl({ table, offset: '-1', log: 'changes_only', where: W })
  // literally the curl reproduction: first the GET, then the POST to the same URL
  const g = await request(url)
  assertSafe(g, 'GET changes_only where="id > 0 --"', secret, ids)
  const body = `{"where":"true /*\\n)) UNION ALL SELECT -1, current_setting('electric_sync.jwt_secret'), true, now() -- */"}`
  assert.equal(JSON.parse(body).where, "true /*\n)) UNION ALL SELECT -1, current_setting('electric_sync.jwt_secret'), true, now() -- */")
  const p = await postJson(url, body)
  assertSafe(p, 'POST subset where="true /*\\n)) UNION ALL SELECT -1, <secret> ..."', secret, ids)
  // and through the GET subset parameters with the same text
  if (g.status === 200) {
    const handle = g.headers.get('electric-handle')
    const offset = g.headers.get('electric-offset')
    const gs = await request(shapeUrl({ table, log: 'changes_only', where: W, handle, offset, subset__where: JSON.parse(body).where }))
    assertSafe(gs, 'GET subset__where with the same text', secret, ids)
  }
  await assertSurvived(base, 'injection reproduction')
})

test('injection: comments, quotes, parentheses, ";" and dollar quoting in shape where / subset where / order_by never leak or run a second statement', { timeout: 60_000 }, async (t) => {
  const ctx = setup(t)
  const base = await survivalBaseline()
  const secret = await secretValue()
  const table = await itemsTable(ctx, 'inj_var')
  const ids = await realIdSet(table)
  // marker: an injected INSERT or DROP must never take effect
  const marker = await ctx.table('inj_marker', 'n int')
  const M = qi(marker)
  const U = `SELECT -1, ${LEAK}, true, now()`
  const ins = (n) => `INSERT INTO ${M} VALUES (${n})`
  const wheres = [
    `true) UNION ALL ${U} --`,
    `true)) UNION ALL ${U} --`,
    `true /*\n)) UNION ALL ${U} -- */`,
    `true --\n) UNION ALL ${U}`,
    `true */ ) UNION ALL ${U} /*`,
    `true /* unterminated`,
    `id > 0 --`,
    `id > 0 -- ) OR (true`,
    `true; ${ins(1)}`,
    `true; ${ins(2)}; --`,
    `true); ${ins(3)}; SELECT (1`,
    `true)); ${ins(4)}; SELECT ((1`,
    `true; DROP TABLE ${M}`,
    `true); DROP TABLE ${M}; --`,
    `title = 'x'; ${ins(5)}; --'`,
    `title = 'x`,
    `title = 'x'' OR ''1''=''1`,
    `title = E'\\'' ) UNION ALL ${U} --'`,
    `title = $$x$$) UNION ALL ${U} --`,
    `title = $$ ; ${ins(6)}; $$`,
    `title = $q$ $$ ) UNION ALL ${U} -- $q$`,
    `$$) UNION ALL ${U} --$$ = title`,
    `title = $a$unterminated`,
    `true) OR (true`,
    `(((true`,
    `true)))`,
    `id IN (SELECT -1 UNION ALL SELECT 1)`,
    `title = ${LEAK}`,
    `title = (SELECT ${LEAK})`,
    `id = 1 UNION ALL ${U}`,
    `"id" > 0 --"`,
    `"id) UNION ALL ${U} --" > 0`,
    `U&"\\0069d" > 0 ) UNION ALL ${U} --`,
    `true \\; ${ins(7)}`,
    `true\u0000) UNION ALL ${U} --`,
  ]
  const orderBys = [
    `id; ${ins(11)}`,
    `id); ${ins(12)}; --`,
    `id) UNION ALL ${U} --`,
    `id --`,
    `id /*`,
    `id */`,
    `"id`,
    `id, (SELECT ${LEAK})`,
    `${LEAK}`,
    `id $$`,
    `id; DROP TABLE ${M}`,
    `1) t; ${ins(13)}; SELECT * FROM (SELECT 1`,
  ]

  const results = []
  for (const w of wheres) {
    results.push([`shape where ${JSON.stringify(w)}`, await request(shapeUrl({ table, offset: '-1', where: w }))])
    results.push([`changes_only shape where ${JSON.stringify(w)}`, await request(shapeUrl({ table, offset: '-1', log: 'changes_only', where: w }))])
  }
  // subsets on changes_only shapes whose own where is plain or ends in an open comment / quote
  // (the subset query combines both texts)
  const shapeWheres = [undefined, 'id > 0', 'id > 0 --', 'id > 0 /*', `id > 0 -- '`, 'id > 0 /* $$', 'id > 0 --)']
  for (const sw of shapeWheres) {
    const r0 = await request(shapeUrl({ table, offset: '-1', log: 'changes_only', where: sw }))
    results.push([`changes_only shape where ${JSON.stringify(sw)}`, r0])
    if (r0.status !== 200) continue
    const sub = { table, log: 'changes_only', where: sw, handle: r0.headers.get('electric-handle'), offset: r0.headers.get('electric-offset') }
    const subUrl = shapeUrl(sub)
    const on = `(shape where ${JSON.stringify(sw)})`
    for (const w of wheres) {
      results.push([`GET subset__where ${JSON.stringify(w)} ${on}`, await request(shapeUrl({ ...sub, subset__where: w }))])
      results.push([`POST where ${JSON.stringify(w)} ${on}`, await postJson(subUrl, { where: w })])
    }
    for (const o of orderBys) {
      results.push([`GET subset__order_by ${JSON.stringify(o)} ${on}`, await request(shapeUrl({ ...sub, subset__order_by: o, subset__limit: '5' }))])
      results.push([`POST order_by ${JSON.stringify(o)} ${on}`, await postJson(subUrl, { order_by: o, limit: 5 })])
      results.push([`POST where+order_by ${JSON.stringify(o)} ${on}`, await postJson(subUrl, { where: 'true --', order_by: o, limit: 5 })])
    }
  }
  const failures = []
  for (const [label, r] of results) {
    try {
      assertSafe(r, label, secret, ids)
    } catch (e) {
      failures.push(e.message.split('\n')[0].slice(0, 300))
    }
  }
  // no second statement ran: the marker table exists and is empty; the items are untouched
  const exists = (await sql(`SELECT to_regclass($1) IS NOT NULL AS ok`, [marker]))[0].ok
  assert.ok(exists, `an injected DROP TABLE took effect (${marker} is gone)`)
  const n = (await sql(`SELECT count(*)::int AS n FROM ${M}`))[0].n
  assert.equal(n, 0, `an injected INSERT took effect (${n} marker rows)`)
  assert.equal((await realIdSet(table)).size, ids.size, 'the items table is unchanged')
  assert.deepEqual(failures, [], `${failures.length} of ${results.length} hostile requests were unsafe:\n${failures.join('\n')}`)
  await assertSurvived(base, 'injection variations')
})

test('injection: no cache poisoning: "id = 42 --" then "id = 42" answers 200 with the row', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const base = await survivalBaseline()
  const secret = await secretValue()
  const table = await itemsTable(ctx, 'inj_poison')
  const ids = await realIdSet(table)

  const first = await request(shapeUrl({ table, offset: '-1', where: 'id = 42 --' }))
  assertSafe(first, 'where="id = 42 --"', secret, ids)
  const second = await getShape({ table, offset: '-1', where: 'id = 42' })
  assert.equal(second.status, 200, `where="id = 42" after "id = 42 --" (which answered ${first.status}): ${second.status} ${second.text}`)
  assert.deepEqual(rowsOf(second.body).map((v) => String(v.id)), ['42'], second.text)
  await assertSurvived(base, 'poisoning')
})

test('injection: a failed request never blocks a later well-formed request of an equivalent definition', { timeout: 60_000 }, async (t) => {
  const ctx = setup(t)
  const base = await survivalBaseline()
  const secret = await secretValue()
  const table = await itemsTable(ctx, 'inj_poison2')
  const ids = await realIdSet(table)
  // [hostile text, well-formed equivalent] — each pair on its own definition (its own id)
  const pairs = [
    ['id = 7 --', 'id = 7'],
    ['id = 8 -- trailing comment', 'id = 8'],
    ['id = 9 /* open comment', 'id = 9'],
    ['id = 10 /* closed */', 'id = 10'],
    ['  id = 11  --', 'id = 11'],
    ['id = 12 --\n', 'id = 12'],
    ['(id = 13) --', '(id = 13)'],
    ['id = 14;', 'id = 14'],
    ['id = 15; --', 'id = 15'],
  ]
  const problems = []
  for (const log of ['full', 'changes_only']) {
    for (const [bad, good] of pairs) {
      const p = log === 'full' ? {} : { log }
      // the hostile one twice (and concurrently) first: a half-created shape must not stick
      const b = await Promise.all([0, 1].map(() => request(shapeUrl({ table, offset: '-1', where: bad, ...p }))))
      for (const r of b) {
        try {
          assertSafe(r, `${log} where=${JSON.stringify(bad)}`, secret, ids)
        } catch (e) {
          problems.push(e.message.split('\n')[0])
        }
      }
      const g = await getShape({ table, offset: '-1', where: good, ...p })
      if (g.status !== 200) {
        problems.push(`${log} where=${JSON.stringify(good)} after ${JSON.stringify(bad)} (${b[0].status}): ${g.status} ${g.text.slice(0, 200)}`)
        continue
      }
      if (log === 'full') {
        const got = rowsOf(g.body).map((v) => String(v.id))
        const want = [String(good.match(/\d+/)[0])]
        if (JSON.stringify(got) !== JSON.stringify(want)) problems.push(`${log} where=${JSON.stringify(good)}: rows ${JSON.stringify(got)}, want ${JSON.stringify(want)}`)
      }
    }
  }
  assert.deepEqual(problems, [], problems.join('\n'))
  await assertSurvived(base, 'poisoning pairs')
})
