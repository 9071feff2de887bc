// Observability of the SyncKit endpoint: electric_sync.clients shows a row of kind 'synckit'
// (client_id synckit:<n>, the token's userId) per connection; GET /v1/metrics has a "synckit"
// object whose counts follow what the clients do; the documents are readable as an Electric shape.
import { after } from 'node:test'
import assert from 'node:assert/strict'
import {
  skTest, closePool, rawClient, mintToken, T, metrics, waitFor, sql, docId, dropDocLater, newKit, openDoc, http,
  ELECTRIC_URL, sleep,
} from './lib.mjs'

after(() => closePool())

const KEYS = ['connections', 'subscriptions', 'documents', 'deltas_applied', 'deltas_refused', 'messages_in', 'messages_out', 'errors', 'closed_by_limit']

skTest('observe: electric_sync.clients has a synckit row for a connected client, with the token\'s userId', async (t) => {
  const user = `obs-user-${process.pid}`
  const c = await rawClient(t, { token: mintToken({ userId: user }) })
  const m = c.mark()
  c.send(T.PING, {})
  await c.waitFrame((f) => f.type === T.PONG, { from: m })
  const row = await waitFor(async () => (await sql(`SELECT client_id, kind, user_id, status FROM electric_sync.clients WHERE kind = 'synckit' AND user_id = $1`, [user]))[0], {
    timeout: 10_000,
    message: `a synckit row for ${user} in electric_sync.clients`,
  })
  assert.equal(row.kind, 'synckit')
  assert.match(row.client_id, /^synckit:\d+$/)
  // the real SDK shows up too
  const kit = await newKit(t, { clientId: 'obs-sdk', token: mintToken({ userId: `${user}-sdk` }) })
  await openDoc(kit, docId('obs'))
  await waitFor(async () => (await sql(`SELECT 1 FROM electric_sync.clients WHERE kind = 'synckit' AND user_id = $1`, [`${user}-sdk`])).length === 1, {
    timeout: 10_000,
    message: 'a synckit row for the SDK client',
  })
})

skTest('observe: /v1/metrics has a synckit object whose counts follow the traffic', async (t) => {
  const m0 = (await metrics()).synckit
  assert.ok(m0 && typeof m0 === 'object', `/v1/metrics has "synckit": ${JSON.stringify(m0)}`)
  for (const k of KEYS) assert.ok(Number.isInteger(m0[k]) && m0[k] >= 0, `synckit.${k} is a count: ${JSON.stringify(m0)}`)

  const id = docId('metrics')
  dropDocLater(t, id)
  const a = await rawClient(t)
  const b = await rawClient(t)
  await a.subscribe(id)
  await b.subscribe(id)
  await a.delta(id, 'f', 1, { clientId: 'mx' })
  await a.delta(id, 'f', 2, { clientId: 'mx' })
  const e = a.mark()
  a.send(T.SUBSCRIBE, { documentId: 5 }) // an error
  await a.waitFrame((f) => f.type === T.ERROR, { from: e })
  const m1 = await waitFor(async () => {
    const m = (await metrics()).synckit
    return m.deltas_applied >= m0.deltas_applied + 2 && m.errors >= m0.errors + 1 ? m : null
  }, { timeout: 5_000, message: 'deltas_applied +2 and errors +1' })
  assert.ok(m1.connections >= 2, `connections ${m1.connections}`)
  assert.ok(m1.subscriptions >= 2, `subscriptions ${m1.subscriptions}`)
  assert.ok(m1.documents >= 1, `documents ${m1.documents}`)
  assert.ok(m1.messages_in >= m0.messages_in + 5, `messages_in ${m0.messages_in} -> ${m1.messages_in}`)
  assert.ok(m1.messages_out >= m0.messages_out + 6, `messages_out ${m0.messages_out} -> ${m1.messages_out}`)
  a.close()
  b.close()
  await waitFor(async () => (await metrics()).synckit.connections <= m1.connections - 2, { timeout: 5_000, message: 'connections to drop by 2 after the close' })
})

skTest('observe: a document is readable as an Electric shape of electric_sync_docs.fields', async (t) => {
  const id = docId('shape')
  dropDocLater(t, id)
  const c = await rawClient(t)
  await c.delta(id, 'title', 'via shape', { clientId: 'sh' })
  await c.delta(id, 'n', 3, { clientId: 'sh' })
  const u = new URL(`${ELECTRIC_URL}/v1/shape`)
  u.searchParams.set('table', 'electric_sync_docs.fields')
  u.searchParams.set('where', `document_id = '${id}'`)
  u.searchParams.set('offset', '-1')
  const r = await http(u.toString())
  const text = await r.text()
  assert.equal(r.status, 200, text.slice(0, 300))
  const rows = JSON.parse(text).filter((msg) => msg.value).map((msg) => msg.value)
  const byField = Object.fromEntries(rows.map((v) => [v.field, v]))
  assert.deepEqual(Object.keys(byField).sort(), ['n', 'title'])
  // jsonb travels as its JSON text (Electric's format), or already parsed
  const v = byField.title.value
  let parsed = v
  try {
    parsed = typeof v === 'string' ? JSON.parse(v) : v
  } catch {}
  assert.equal(parsed, 'via shape', `the value column: ${JSON.stringify(v)}`)
  assert.equal(byField.title.client_id, 'sh')
})

skTest('observe: a live Electric shape of one document follows writes made over /ws', async (t) => {
  const id = docId('liveshape')
  dropDocLater(t, id)
  const c = await rawClient(t)
  await c.delta(id, 'first', 1, { clientId: 'ls' })
  const base = { table: 'electric_sync_docs.fields', where: `document_id = '${id}'` }
  const get = async (params, timeout = 10_000) => {
    const u = new URL(`${ELECTRIC_URL}/v1/shape`)
    for (const [k, v] of Object.entries({ ...base, ...params })) u.searchParams.set(k, v)
    const r = await http(u.toString(), {}, timeout)
    const body = await r.text()
    assert.equal(r.status, 200, `${u}: ${r.status} ${body.slice(0, 200)}`)
    return { r, msgs: body ? JSON.parse(body) : [] }
  }
  let offset = '-1'
  let handle
  const rows = new Map()
  for (let i = 0; i < 20; i++) {
    const { r, msgs } = await get({ offset, ...(handle ? { handle } : {}) })
    handle = r.headers.get('electric-handle')
    offset = r.headers.get('electric-offset')
    for (const m of msgs) if (m.value) rows.set(m.value.field, m.value)
    if (msgs.some((m) => m.headers?.control === 'up-to-date')) break
  }
  assert.deepEqual([...rows.keys()], ['first'])
  const live = get({ offset, handle, live: 'true' }, 30_000)
  await sleep(300)
  await c.delta(id, 'second', 'two', { clientId: 'ls' })
  const { msgs } = await live
  const fields = msgs.filter((m) => m.value).map((m) => m.value.field)
  assert.ok(fields.includes('second'), `the live request returned the new field: ${JSON.stringify(msgs).slice(0, 300)}`)
})
