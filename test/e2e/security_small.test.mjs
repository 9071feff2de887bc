// Smaller findings of the security review: invalid UTF-8 in columns/params is a 400 (not a
// 503), an out-of-range offset is a 400, JWTs are parsed strictly (no base64 padding, no
// standard-alphabet '+' '/'), and the shared secret also guards /v1/metrics and DELETE /v1/shape.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { setup, sql, closePool, getShape, syncRaw, waitFor, qi, SHAPE_URL, ELECTRIC_URL, uniqueName, TEST_TIMEOUT } from './lib.mjs'
import { survivalBaseline, assertSurvived, request, assertValidation400, assertJson4xx, mintJwt, syncRequest } from './lib_security.mjs'

after(closePool)

/** Runs every check, then fails once with all the messages (so one run shows every finding). */
function checks() {
  const failures = []
  return {
    check(fn) {
      try {
        fn()
      } catch (e) {
        failures.push(e.message.split('\n')[0].slice(0, 300))
      }
    },
    done() {
      assert.deepEqual(failures, [], failures.join('\n'))
    },
  }
}

async function table(ctx, prefix) {
  const t = await ctx.table(prefix, 'id int PRIMARY KEY, title text')
  await sql(`INSERT INTO ${qi(t)} VALUES (1, 'a'), (2, 'b')`)
  return t
}

test('small: invalid UTF-8 in columns -> 400 errors.columns (not 503)', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const base = await survivalBaseline()
  const tb = await table(ctx, 'utf8col')
  const c = checks()
  for (const raw of ['id,%FF', 'id,%C3%28', 'id,%ED%A0%80', '%FF', 'id,%C0%AF', 'id,"%FF"']) {
    const r = await request(`${SHAPE_URL}?table=${tb}&offset=-1&columns=${raw}`)
    c.check(() => assertValidation400(r, `columns=${raw}`, 'columns'))
  }
  c.done()
  await assertSurvived(base, 'invalid UTF-8 in columns')
})

test('small: invalid UTF-8 in params -> 400 (not 503)', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const base = await survivalBaseline()
  const tb = await table(ctx, 'utf8par')
  const w = encodeURIComponent('title = $1')
  const c = checks()
  for (const raw of ['params%5B1%5D=%C3%28', 'params[1]=%C3%28', 'params[1]=%FF', 'params=' + encodeURIComponent('{"1":"') + '%C3%28' + encodeURIComponent('"}')]) {
    const r = await request(`${SHAPE_URL}?table=${tb}&offset=-1&where=${w}&${raw}`)
    c.check(() => assertValidation400(r, raw, ['params', 'where']))
  }
  c.done()
  await assertSurvived(base, 'invalid UTF-8 in params')
})

test('small: offset=0_18446744073709551615 with a valid handle -> 400 errors.offset', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const base = await survivalBaseline()
  const tb = await table(ctx, 'bigoff')
  const { handle } = await syncRaw({ table: tb })
  const c = checks()
  for (const offset of ['0_18446744073709551615', '18446744073709551615_0', '0_18446744073709551616', '99999999999999999999_0', '0_-1']) {
    const r = await getShape({ table: tb, handle, offset })
    c.check(() => assertValidation400(r, `offset=${offset}`, 'offset'))
  }
  c.done()
  await assertSurvived(base, 'huge offsets')
})

// JWT: the signature (and every segment) is base64url without padding; '=' padding and the
// standard alphabet's '+' '/' are not valid and must be refused (401), not decoded leniently.
test('small: oversync JWT with base64 padding or "+" "/" in the signature -> 401', { timeout: TEST_TIMEOUT }, async () => {
  const base = await survivalBaseline()
  const user = `e2e-sec-jwt-${process.pid}`
  const ok = await syncRequest('GET', '/sync/capabilities', { user })
  assert.equal(ok.status, 200, `a valid token works: ${ok.status} ${ok.text}`)

  const c = checks()
  const padded = mintJwt(user) + '='
  const r1 = await syncRequest('GET', '/sync/capabilities', { token: padded })
  c.check(() => assertJson4xx(r1, 'signature with "=" padding', 401))
  const r1b = await syncRequest('GET', '/sync/capabilities', { token: mintJwt(user) + '==' })
  c.check(() => assertJson4xx(r1b, 'signature with "==" padding', 401))

  // a token whose signature has '-' or '_' in base64url, rewritten with '+' '/'
  let tok = null
  for (let i = 0; i < 500 && !tok; i++) {
    const t = mintJwt(user, { claims: { n: i } })
    const sig = t.split('.')[2]
    if (/[-_]/.test(sig)) tok = t
  }
  assert.ok(tok, 'found a token whose signature has - or _')
  const [h, p, s] = tok.split('.')
  const std = `${h}.${p}.${s.replace(/-/g, '+').replace(/_/g, '/')}`
  assert.notEqual(std, tok)
  const r2 = await syncRequest('GET', '/sync/capabilities', { token: std })
  c.check(() => assertJson4xx(r2, 'signature in the standard base64 alphabet (+ /)', 401))
  const r3 = await syncRequest('GET', '/sync/capabilities', { token: `${h}.${p}.${Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('base64')}` })
  c.check(() => assertJson4xx(r3, 'signature in standard base64 with padding', 401))
  // padding in the header / payload segments
  const r4 = await syncRequest('GET', '/sync/capabilities', { token: `${h}=.${p}.${s}` })
  c.check(() => assertJson4xx(r4, 'header segment with padding', 401))
  c.done()
  await assertSurvived(base, 'JWT strictness')
})

test('small: with electric_sync.secret set, /v1/metrics and DELETE /v1/shape without it -> 401', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const base = await survivalBaseline()
  const tb = await table(ctx, 'secmetrics')
  const { handle } = await syncRaw({ table: tb })
  t.after(async () => {
    await sql(`ALTER SYSTEM RESET electric_sync.secret`)
    await sql(`ALTER SYSTEM RESET electric_sync.read_auth`)
    await sql(`SELECT pg_reload_conf()`)
    await waitFor(async () => (await getShape({ table: tb, offset: '-1' })).status !== 401, { timeout: 10_000, message: 'secret removed' })
  })
  await sql(`ALTER SYSTEM SET electric_sync.secret = 's3cret-small'`)
  await sql(`ALTER SYSTEM SET electric_sync.read_auth = 'secret'`)
  await sql(`SELECT pg_reload_conf()`)
  await waitFor(async () => (await getShape({ table: tb, offset: '-1' })).status === 401, { timeout: 10_000, message: 'the secret to be required' })

  const c = checks()
  const m = await request(`${ELECTRIC_URL}/v1/metrics`)
  c.check(() => assert.equal(m.status, 401, `/v1/metrics without the secret: ${m.status} ${m.text.slice(0, 200)}`))
  const mw = await request(`${ELECTRIC_URL}/v1/metrics?secret=wrong`)
  c.check(() => assert.equal(mw.status, 401, `/v1/metrics with a wrong secret: ${mw.status} ${mw.text.slice(0, 200)}`))
  const d = await request(`${SHAPE_URL}?table=${tb}&handle=${encodeURIComponent(handle)}`, { method: 'DELETE' })
  c.check(() => assert.equal(d.status, 401, `DELETE /v1/shape without the secret: ${d.status} ${d.text.slice(0, 200)}`))
  const d2 = await request(`${SHAPE_URL}?table=${uniqueName('nope')}&handle=x`, { method: 'DELETE' })
  c.check(() => assert.equal(d2.status, 401, `DELETE /v1/shape (unknown) without the secret: ${d2.status} ${d2.text.slice(0, 200)}`))
  // the shape was not deleted
  const [{ status }] = await sql(`SELECT status FROM electric_sync.shapes_view WHERE handle = $1`, [handle])
  c.check(() => assert.equal(status, 'active', 'the shape survived the unauthenticated DELETE'))
  // with the secret: served
  const ms = await request(`${ELECTRIC_URL}/v1/metrics?secret=s3cret-small`)
  c.check(() => assert.equal(ms.status, 200, `/v1/metrics with the secret: ${ms.status} ${ms.text.slice(0, 200)}`))
  c.done()
  await assertSurvived(base, 'secret on metrics/delete')
})

// /v1/health reporting "degraded" while the DB pool cannot work is tested in health.test.mjs.
