// Bad input surfaces in the client's error handling as a 400 FetchError carrying Electric's JSON
// body ({"message": ..., "errors": {field: [...]}}), never as a 5xx (which would be retried forever).
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { setup, sql, closePool, FetchError, getShape, waitForStreamError, recordingFetch, uniqueName, TEST_TIMEOUT } from './lib.mjs'

after(closePool)

async function expectClientError(ctx, params, field) {
  const fields = Array.isArray(field) ? field : [field]
  const log = []
  let onErrorCalls = 0
  const stream = ctx.stream({
    params,
    fetchClient: recordingFetch(log),
    onError: () => {
      onErrorCalls++
    }, // returning nothing: stop the stream
  })
  const got = ctx.collect(stream)
  const err = await waitForStreamError(stream, got, { timeout: 15_000 })
  assert.ok(err instanceof FetchError, `expected a FetchError, got ${err?.name}: ${err?.message}`)
  assert.equal(err.status, 400, `status ${err.status}: ${err.text ?? JSON.stringify(err.json)}`)
  assert.ok(err.json && typeof err.json === 'object', `error body must be JSON: ${err.text}`)
  assert.equal(typeof err.json.message, 'string')
  assert.ok(
    err.json.errors && fields.some((f) => Array.isArray(err.json.errors[f]) && err.json.errors[f].length > 0),
    `errors.${fields.join('|')} in ${JSON.stringify(err.json)}`,
  )
  assert.ok(onErrorCalls >= 1, 'onError was called')
  for (const e of log) assert.ok(e.status < 500, `${e.url} answered ${e.status}`)
  assert.equal(log.length, 1, 'a 4xx is not retried')
  return err
}

test('errors: unknown table -> 400 errors.table', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const err = await expectClientError(ctx, { table: uniqueName('missing') }, 'table')
  assert.match(err.json.errors.table[0], /does not exist/)
})

test('errors: bad where -> 400 errors.where', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('badwhere', 'id int PRIMARY KEY, title text')
  await expectClientError(ctx, { table, where: 'title = = x' }, 'where')
})

test('errors: where on an unknown column / with a type error -> 400 errors.where', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('badwhere2', 'id int PRIMARY KEY, title text')
  await expectClientError(ctx, { table, where: 'nope = 1' }, 'where')
  await expectClientError(ctx, { table, where: `id = 'abc'` }, 'where')
  await expectClientError(ctx, { table, where: 'id = $1' }, ['where', 'params']) // missing param
  await expectClientError(ctx, { table, where: 'id = $1', params: ['not a number'] }, ['where', 'params'])
})

test('errors: unknown column -> 400 errors.columns', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('badcol', 'id int PRIMARY KEY, title text')
  await expectClientError(ctx, { table, columns: ['id', 'nope'] }, 'columns')
})

test('errors: columns missing the primary key -> 400 errors.columns', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('badpk', 'a int, b int, title text, PRIMARY KEY (a, b)')
  const err = await expectClientError(ctx, { table, columns: ['a', 'title'] }, 'columns')
  assert.match(JSON.stringify(err.json.errors.columns), /primary key/i)
})

test('errors: bad replica / log values -> 400', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('badenum', 'id int PRIMARY KEY')
  await expectClientError(ctx, { table, replica: 'sometimes' }, 'replica')
  const r = await getShape({ table, offset: '-1', log: 'weird' })
  assert.equal(r.status, 400, r.text)
  assert.ok(r.body?.errors?.log, r.text)
})

test('errors: raw 400 responses are JSON with cache-control no-store', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('raw400', 'id int PRIMARY KEY')
  const cases = [
    [{ table: uniqueName('missing'), offset: '-1' }, 'table'],
    [{ table: '', offset: '-1' }, 'table'],
    [{ offset: '-1' }, 'table'],
    [{ table, offset: '-1', where: '(((' }, 'where'],
    [{ table, offset: '-1', columns: 'id,"nope"' }, 'columns'],
    [{ table, offset: '-1', columns: '' }, 'columns'],
    [{ table }, 'offset'],
  ]
  for (const [params, field] of cases) {
    const r = await getShape(params)
    assert.equal(r.status, 400, `${JSON.stringify(params)} -> ${r.status} ${r.text}`)
    assert.match(r.headers.get('content-type') || '', /application\/json/)
    assert.equal(r.headers.get('cache-control'), 'no-store', `${JSON.stringify(params)} cache-control`)
    assert.ok(r.body && r.body.errors && r.body.errors[field], `${JSON.stringify(params)}: errors.${field} in ${r.text}`)
  }
})

test('errors: a table dropped under a live stream ends with a 4xx/409, not a 5xx loop', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('dropped', 'id int PRIMARY KEY')
  await sql(`INSERT INTO ${table} VALUES (1)`)
  const log = []
  const stream = ctx.stream({ params: { table }, fetchClient: recordingFetch(log), onError: () => {} })
  const got = ctx.collect(stream)
  const { waitUpToDate } = await import('./lib.mjs')
  await waitUpToDate(stream)
  await sql(`DROP TABLE ${table}`)
  const err = await waitForStreamError(stream, got, { timeout: 15_000 })
  assert.ok(err instanceof FetchError, String(err))
  assert.ok(err.status >= 400 && err.status < 500, `status ${err.status}`)
  assert.ok(log.every((e) => e.status === null || e.status < 500), log.map((e) => e.status).join(','))
})

test('errors: a where clause that raises for some row -> 400 errors.where every time, never a hang (snapshot failure)', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('dz', 'id int PRIMARY KEY')
  await sql(`INSERT INTO "${table}" SELECT generate_series(1, 10)`)
  const params = { table, where: '100 / (id - 5) > 0', offset: '-1' }
  // Twice in a row, then three at once: each gets its answer (the failed shape used to stay
  // "loading" in memory and every later request waited on it forever).
  for (let i = 0; i < 2; i++) {
    const r = await getShape(params, {}, 10_000)
    assert.equal(r.status, 400, `attempt ${i + 1}: ${r.status} ${r.text}`)
    assert.match(JSON.stringify(r.body?.errors?.where ?? ""), /division by zero/)
    assert.equal(r.headers.get('cache-control'), 'no-store')
  }
  const all = await Promise.all([0, 1, 2].map(() => getShape(params, {}, 10_000)))
  for (const r of all) assert.equal(r.status, 400, `${r.status} ${r.text}`)
  // once the offending row is gone, the same shape is served
  await sql(`DELETE FROM "${table}" WHERE id = 5`)
  const ok = await getShape(params, {}, 10_000)
  assert.equal(ok.status, 200, ok.text)
  // and the client's error handling sees a 400 on a fresh shape with the same problem
  await sql(`INSERT INTO "${table}" VALUES (5)`)
  await expectClientError(ctx, { table, where: '100 / (id - 5) > 1' }, 'where')
})
