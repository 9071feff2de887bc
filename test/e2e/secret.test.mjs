// The shared secret (electric_sync.secret): without it or with a wrong one, 401 with Electric's
// JSON body; `secret` and `api_secret` both work; the real client passes it as a param.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { setup, sql, closePool, getShape, waitFor, waitForShapeRows, TEST_TIMEOUT } from './lib.mjs'

after(closePool)

test('secret: 401 without or with a wrong secret, 200 with secret or api_secret, client works', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('sec', 'id int PRIMARY KEY')
  await sql(`INSERT INTO ${table} VALUES (1)`)
  t.after(async () => {
    await sql(`ALTER SYSTEM RESET electric_sync.secret`)
    await sql(`SELECT pg_reload_conf()`)
    await waitFor(async () => (await getShape({ table, offset: '-1' })).status !== 401, { timeout: 10_000, message: 'secret removed' })
  })
  await sql(`ALTER SYSTEM SET electric_sync.secret = 's3cret'`)
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
