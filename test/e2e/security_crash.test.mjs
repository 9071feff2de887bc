// Inputs that used to take the worker down (stack exhaustion in recursive parsers, overlong
// identifiers): deep JSON in a subset POST body and in an oversync push chunk, and overlong
// quoted identifiers in subset__order_by. Each must get a 4xx with a JSON body, and the worker
// and the postmaster must be alive and unchanged afterwards.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { setup, sql, closePool, shapeUrl, qi, TEST_TIMEOUT } from './lib.mjs'
import { survivalBaseline, assertSurvived, request, assertJson4xx, assertValidation400, syncRequest } from './lib_security.mjs'

after(closePool)

const DEPTH = 100_000

async function changesOnlyShape(ctx, prefix) {
  const table = await ctx.table(prefix, 'id int PRIMARY KEY, title text')
  await sql(`INSERT INTO ${qi(table)} SELECT g, 't' || g FROM generate_series(1, 20) g`)
  const r = await request(shapeUrl({ table, offset: '-1', log: 'changes_only' }))
  assert.equal(r.status, 200, r.text)
  return { table, log: 'changes_only', handle: r.headers.get('electric-handle'), offset: r.headers.get('electric-offset') }
}

test(`crash: a POST subset body nesting ${DEPTH} JSON arrays -> 400/413 JSON, worker alive`, { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const sub = await changesOnlyShape(ctx, 'crash_deep')
  const base = await survivalBaseline()
  const body = '{"where":' + '['.repeat(DEPTH) + ']'.repeat(DEPTH) + '}'
  const r = await request(shapeUrl(sub), { method: 'POST', headers: { 'content-type': 'application/json' }, body })
  await assertSurvived(base, `deep JSON subset body (it answered ${r.status} ${r.error?.cause?.code ?? ''})`)
  assertJson4xx(r, 'deep JSON subset body', [400, 413])
  // deep objects too, and deep arrays in another member
  const base2 = await survivalBaseline()
  const r2 = await request(shapeUrl(sub), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"params":' + '{"a":'.repeat(DEPTH) + '1' + '}'.repeat(DEPTH) + '}' })
  await assertSurvived(base2, `deep JSON objects in params (it answered ${r2.status} ${r2.error?.cause?.code ?? ''})`)
  assertJson4xx(r2, 'deep JSON objects in params', [400, 413])
})

test('crash: subset__order_by with a 15,000-character quoted identifier (GET) -> 400, worker alive', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const sub = await changesOnlyShape(ctx, 'crash_ident')
  const base = await survivalBaseline()
  const ident = '"' + 'a'.repeat(15_000) + '"'
  const r = await request(shapeUrl({ ...sub, subset__order_by: ident, subset__limit: '5' }))
  await assertSurvived(base, `GET 15k quoted identifier in subset__order_by (it answered ${r.status} ${r.error?.cause?.code ?? ''})`)
  assertValidation400(r, 'GET 15k quoted identifier in subset__order_by')
})

test('crash: order_by with a 20,000-character quoted identifier (POST) -> 400, worker alive', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const sub = await changesOnlyShape(ctx, 'crash_ident2')
  const base = await survivalBaseline()
  const ident = '"' + 'b'.repeat(20_000) + '"'
  const r = await request(shapeUrl(sub), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ order_by: ident, limit: 5 }) })
  await assertSurvived(base, `POST 20k quoted identifier in order_by (it answered ${r.status} ${r.error?.cause?.code ?? ''})`)
  assertValidation400(r, 'POST 20k quoted identifier in order_by')
})

test(`crash: an oversync push chunk whose payload nests ${DEPTH} levels (valid JWT) -> 4xx JSON, worker alive`, { timeout: TEST_TIMEOUT }, async (t) => {
  const user = `e2e-sec-crash-${process.pid}-${Date.now()}`
  const source = 'sec-crash-src'
  t.after(async () => {
    await sql(`DELETE FROM electric_sync.os_push_sessions WHERE user_id = $1`, [user]).catch(() => {})
    await sql(`DELETE FROM electric_sync.os_source_state WHERE user_id = $1`, [user]).catch(() => {})
    await sql(`DELETE FROM electric_sync.os_scope_state WHERE user_id = $1`, [user]).catch(() => {})
  })
  const c = await syncRequest('POST', '/sync/connect', { user, source, body: JSON.stringify({ has_local_pending_rows: false }) })
  assert.equal(c.status, 200, `connect: ${c.status} ${c.text}`)
  const s = await syncRequest('POST', '/sync/push-sessions', { user, source, body: JSON.stringify({ source_bundle_id: 1, planned_row_count: 1 }) })
  assert.equal(s.status, 200, `push-sessions: ${s.status} ${s.text}`)
  const pushId = s.body.push_id
  assert.ok(pushId, s.text)

  const base = await survivalBaseline()
  const deep = '['.repeat(DEPTH) + ']'.repeat(DEPTH)
  const body =
    `{"start_row_ordinal":0,"rows":[{"schema":"app","table":"users","key":{"id":"6f1c1a3e-8a7b-4d2c-9e0f-0123456789ab"},` +
    `"op":"INSERT","base_row_version":0,"payload":{"name":${deep}}}]}`
  const r = await syncRequest('POST', `/sync/push-sessions/${pushId}/chunks`, { user, source, body })
  await assertSurvived(base, `deep JSON push chunk (it answered ${r.status} ${r.error?.cause?.code ?? ''})`)
  assertJson4xx(r, 'deep JSON push chunk')

  const base2 = await survivalBaseline()
  const r2 = await syncRequest('POST', `/sync/push-sessions/${pushId}/chunks`, { user, source, body: '{"start_row_ordinal":0,"rows":' + deep + '}' })
  await assertSurvived(base2, `deep JSON rows member (it answered ${r2.status} ${r2.error?.cause?.code ?? ''})`)
  assertJson4xx(r2, 'deep JSON rows member')

  const base3 = await survivalBaseline()
  const r3 = await syncRequest('POST', '/sync/connect', { user, source, body: '{"has_local_pending_rows":' + '{"x":'.repeat(DEPTH) + 'false' + '}'.repeat(DEPTH) + '}' })
  await assertSurvived(base3, `deep JSON connect body (it answered ${r3.status} ${r3.error?.cause?.code ?? ''})`)
  assertJson4xx(r3, 'deep JSON connect body')
})
