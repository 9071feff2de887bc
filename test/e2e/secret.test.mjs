// The shared secret (electric_sync.secret): without it or with a wrong one, 401 with Electric's
// JSON body; `secret` and `api_secret` both work; the real client passes it as a param.
// /v1/metrics and DELETE /v1/shape need it as well.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { setup, sql, closePool, getShape, waitFor, waitForShapeRows, http, ELECTRIC_URL, TEST_TIMEOUT } from './lib.mjs'

after(closePool)

test('secret: 401 without or with a wrong secret, 200 with secret or api_secret, client works', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('sec', 'id int PRIMARY KEY')
  await sql(`INSERT INTO ${table} VALUES (1)`)
  t.after(async () => {
    await sql(`ALTER SYSTEM RESET electric_sync.secret`)
    await sql(`ALTER SYSTEM RESET electric_sync.read_auth`)
    await sql(`SELECT pg_reload_conf()`)
    await waitFor(async () => (await getShape({ table, offset: '-1' })).status !== 401, { timeout: 10_000, message: 'secret removed' })
  })
  await sql(`ALTER SYSTEM SET electric_sync.secret = 's3cret'`)
  await sql(`ALTER SYSTEM SET electric_sync.read_auth = 'secret'`)
  await sql(`SELECT pg_reload_conf()`)
  await waitFor(async () => (await getShape({ table, offset: '-1' })).status === 401, { timeout: 10_000, message: 'the secret to be required' })

  const none = await getShape({ table, offset: '-1' })
  assert.equal(none.status, 401)
  assert.deepEqual(none.body, { message: 'Unauthorized - Invalid API secret' })
  assert.match(none.headers.get('content-type') || '', /application\/json/)
  assert.equal((await getShape({ table, offset: '-1', secret: 'wrong' })).status, 401)
  assert.equal((await getShape({ table, offset: '-1', secret: 's3cret' })).status, 200)
  assert.equal((await getShape({ table, offset: '-1', api_secret: 's3cret' })).status, 200)
  // secrets are superuser-only settings
  assert.equal((await sql(`SELECT count(*)::int AS n FROM pg_settings WHERE name = 'electric_sync.secret' AND context = 'sighup'`))[0].n, 1)

  const shape = ctx.shape({ table, secret: 's3cret' })
  await waitForShapeRows(shape, `SELECT * FROM ${table}`)
})

test('secret: /v1/metrics and DELETE /v1/shape require it too (401 + JSON), and work with it', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('secm', 'id int PRIMARY KEY')
  await sql(`INSERT INTO ${table} VALUES (1)`)
  t.after(async () => {
    await sql(`ALTER SYSTEM RESET electric_sync.secret`)
    await sql(`ALTER SYSTEM RESET electric_sync.read_auth`)
    await sql(`SELECT pg_reload_conf()`)
    await waitFor(async () => (await getShape({ table, offset: '-1' })).status !== 401, { timeout: 10_000, message: 'secret removed' })
  })
  await sql(`ALTER SYSTEM SET electric_sync.secret = 'm3trics'`)
  await sql(`ALTER SYSTEM SET electric_sync.read_auth = 'secret'`)
  await sql(`SELECT pg_reload_conf()`)
  await waitFor(async () => (await getShape({ table, offset: '-1' })).status === 401, { timeout: 10_000, message: 'the secret to be required' })

  const metrics = async (q = '') => {
    const res = await http(`${ELECTRIC_URL}/v1/metrics${q}`)
    return { status: res.status, type: res.headers.get('content-type') || '', body: await res.json() }
  }
  for (const q of ['', '?secret=wrong', '?api_secret=wrong']) {
    const m = await metrics(q)
    assert.equal(m.status, 401, `/v1/metrics${q}`)
    assert.match(m.type, /application\/json/)
    assert.deepEqual(m.body, { message: 'Unauthorized - Invalid API secret' })
  }
  assert.equal((await metrics('?secret=m3trics')).status, 200)
  assert.equal((await metrics('?api_secret=m3trics')).status, 200)

  const first = await getShape({ table, offset: '-1', secret: 'm3trics' })
  assert.equal(first.status, 200)
  const handle = first.headers.get('electric-handle')
  const del = async (params) => {
    const r = await getShape(params, { method: 'DELETE' })
    return r
  }
  // every form of DELETE is refused without the secret, before any validation
  for (const params of [{ table }, { table, handle }, { handle }, { handle, secret: 'wrong' }, {}]) {
    const r = await del(params)
    assert.equal(r.status, 401, `DELETE ${JSON.stringify(params)} -> ${r.status} ${r.text}`)
    assert.deepEqual(r.body, { message: 'Unauthorized - Invalid API secret' })
    assert.match(r.headers.get('content-type') || '', /application\/json/)
  }
  // the shape is still there
  const again = await getShape({ table, offset: '-1', handle: undefined, secret: 'm3trics' })
  assert.equal(again.headers.get('electric-handle'), handle)
  // with the secret, DELETE works
  const ok = await del({ table, handle, secret: 'm3trics' })
  assert.ok(ok.status >= 200 && ok.status < 300, `DELETE with the secret -> ${ok.status} ${ok.text}`)
})
