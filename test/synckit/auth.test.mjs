// Tokens and permissions on /ws: a read-only token cannot write (ERROR PERMISSION_DENIED, no
// ACK, the table unchanged, the SDK's set() times out), a document outside canRead is refused on
// SUBSCRIBE and SYNC_REQUEST, prefix/exact patterns and isAdmin, no token with anonymous access
// off → AUTH_REQUIRED (then an AUTH frame authenticates), anonymous on, bad and expired tokens →
// AUTH_ERROR INVALID_TOKEN and close 1008, the auth timeout.
import { after } from 'node:test'
import assert from 'node:assert/strict'
import {
  skTest, newKit, openDoc, waitDocs, waitTable, docId, dropDocLater, tableDoc, closePool, sql,
  RawClient, rawClient, mintToken, T, withSettings, sleep, waitFor, metrics, kitState, describeFrame,
} from './lib.mjs'

after(() => closePool())

/** The value to give a duration setting given in ms, in the unit pg_settings says it has. */
async function durationSetting(name, ms) {
  const rows = await sql('SELECT unit FROM pg_settings WHERE name = $1', [`electric_sync.${name}`])
  assert.equal(rows.length, 1, `the setting electric_sync.${name} exists`)
  const unit = rows[0].unit
  if (unit === 's') return String(Math.max(1, Math.round(ms / 1000)))
  if (unit === 'min') return '1'
  return String(ms)
}

const expectError = async (c, from, code, what) => {
  const f = await c.waitFrame((x) => x.type === T.ERROR || x.type === T.AUTH_ERROR || x.type === T.SYNC_RESPONSE || x.type === T.ACK, {
    from,
    message: `${code} for ${what}`,
  })
  assert.equal(f.type === T.ERROR || f.type === T.AUTH_ERROR, true, `${what}: expected an error frame, got ${JSON.stringify(f.payload)} (type ${f.type})`)
  assert.equal(f.payload?.code, code, `${what}: error code (payload ${JSON.stringify(f.payload)})`)
  assert.equal(typeof f.payload?.error, 'string', `${what}: error message`)
  return f
}

skTest('auth: a canRead-only token cannot write: ERROR PERMISSION_DENIED, no ACK, table unchanged, counted in deltas_refused', async (t) => {
  const id = docId('ro')
  dropDocLater(t, id)
  const writer = await rawClient(t)
  await writer.subscribe(id)
  await writer.delta(id, 'title', 'original', { clientId: 'writer' })
  const ro = await rawClient(t, { token: mintToken({ userId: 'reader', canRead: ['*'], canWrite: [] }) })
  const { response } = await ro.subscribe(id)
  assert.equal(response.payload.documentId, id)
  const refusedBefore = (await metrics()).synckit?.deltas_refused ?? 0

  const m = ro.mark()
  ro.send(T.DELTA, { type: 'set', documentId: id, field: 'title', value: 'hacked', clock: { reader: 1 }, clientId: 'reader', timestamp: Date.now() + 60_000, messageId: 'ro-1' })
  await expectError(ro, m, 'PERMISSION_DENIED', 'a delta with a read-only token')
  await sleep(300)
  assert.equal(ro.since(m, (f) => f.type === T.ACK).length, 0, 'no ACK for a refused delta')
  assert.equal(ro.closed, null, 'the connection stays open after a refused delta')
  assert.deepEqual(await tableDoc(id), { title: 'original' }, 'the table is unchanged')
  assert.equal(writer.since(0, (f) => f.type === T.DELTA && f.payload?.value === 'hacked').length, 0, 'nobody received the refused value')
  const refusedAfter = (await metrics()).synckit?.deltas_refused
  assert.ok(refusedAfter >= refusedBefore + 1, `deltas_refused grew (${refusedBefore} -> ${refusedAfter})`)

  // a batch from the same token is refused as well
  const m2 = ro.mark()
  ro.send(T.DELTA_BATCH, { documentId: id, messageId: 'ro-batch', deltas: [{ type: 'set', field: 'x', value: 1, clientId: 'reader', timestamp: Date.now(), clock: { reader: 2 } }] })
  await expectError(ro, m2, 'PERMISSION_DENIED', 'a DELTA_BATCH with a read-only token')
  assert.deepEqual(await tableDoc(id), { title: 'original' })
})

skTest('auth: the real SDK with a read-only token: reads live, its set() is never ACKed and changes nothing', async (t) => {
  const id = docId('rosdk')
  dropDocLater(t, id)
  const w = await newKit(t, { clientId: 'rosdk-w' })
  const dw = await openDoc(w, id)
  await dw.set('a', 1)
  const r = await newKit(t, { clientId: 'rosdk-r', token: mintToken({ userId: 'reader', canRead: [id], canWrite: [] }) })
  const dr = await openDoc(r, id)
  await waitDocs([dr], { a: 1 }, { message: 'the reader to see the document' })
  await assert.rejects(dr.set('a', 999), /ACK timeout/, 'the SDK\'s set() fails by ACK timeout')
  assert.deepEqual(await tableDoc(id), { a: 1 }, 'the table is unchanged')
  await sleep(300)
  assert.equal(dw.get().a, 1, 'the writer never saw 999')
  await dw.set('a', 2)
  await waitDocs([dw, dr], { a: 2 }, { message: 'the reader still receives live writes' })
})

skTest('auth: a document outside canRead is refused on SUBSCRIBE and SYNC_REQUEST; prefix and exact patterns', async (t) => {
  const base = docId('pat')
  const team = `${base}_team1:`
  dropDocLater(t, `${team}x`, `${base}_exact`, `${base}_exact2`)
  const c = await rawClient(t, { token: mintToken({ userId: 'pat', canRead: [`${team}*`, `${base}_exact`], canWrite: [`${team}*`] }) })

  await c.subscribe(`${team}x`) // prefix match
  await c.subscribe(`${base}_exact`) // exact match
  for (const [type, docid] of [[T.SUBSCRIBE, `${base}_team2:x`], [T.SUBSCRIBE, `${base}_exact2`], [T.SYNC_REQUEST, `${base}_other`], [T.SUBSCRIBE, base]]) {
    const m = c.mark()
    c.send(type, { documentId: docid, requestId: 'r1' })
    await expectError(c, m, 'PERMISSION_DENIED', `${type === T.SUBSCRIBE ? 'SUBSCRIBE' : 'SYNC_REQUEST'} of ${docid}`)
    assert.equal(c.since(m, (f) => f.type === T.SYNC_RESPONSE).length, 0, `no SYNC_RESPONSE for ${docid}`)
  }
  // canWrite by prefix: inside writes, outside (even where readable) refused
  await c.delta(`${team}x`, 'f', 1, { clientId: 'pat' })
  const m = c.mark()
  c.send(T.DELTA, { type: 'set', documentId: `${base}_exact`, field: 'f', value: 1, clock: { pat: 2 }, clientId: 'pat', timestamp: Date.now(), messageId: 'w-out' })
  await expectError(c, m, 'PERMISSION_DENIED', 'a delta outside canWrite')
  assert.deepEqual(await tableDoc(`${base}_exact`), {})
  assert.deepEqual(await tableDoc(`${team}x`), { f: 1 })
})

skTest('auth: the SDK subscribing to a document outside canRead gets no SYNC_RESPONSE (its sync state becomes error)', { timeout: 40_000 }, async (t) => {
  const id = docId('sdkdeny')
  const k = await newKit(t, { clientId: 'deny-k', token: mintToken({ userId: 'deny', canRead: ['somewhere-else'], canWrite: [] }) })
  k.document(id)
  await waitFor(() => k.getSyncState(id)?.state === 'error', { timeout: 15_000, message: 'the SDK subscription to fail (it waits 10 s for SYNC_RESPONSE)' })
  assert.match(k.getSyncState(id).error, /timeout/i)
  assert.equal(kitState(k), 'connected', 'the connection itself stays up')
})

skTest('auth: isAdmin reads and writes every document with empty canRead/canWrite', async (t) => {
  const id = docId('admin')
  dropDocLater(t, id)
  const c = await rawClient(t, { token: mintToken({ userId: 'boss', canRead: [], canWrite: [], isAdmin: true }) })
  await c.subscribe(id)
  const { ack, echo } = await c.delta(id, 'f', 'by admin', { clientId: 'boss' })
  assert.equal(ack.payload.messageId !== undefined, true)
  assert.equal(echo?.payload?.value, 'by admin', 'the sender gets its winning value as a DELTA before the ACK')
  assert.deepEqual(await tableDoc(id), { f: 'by admin' })
})

skTest('auth: no token with anonymous access off → AUTH_REQUIRED (PING still answered); an AUTH frame then authenticates', async (t) => {
  await withSettings(t, { synckit_anonymous: 'off' }, {
    probe: async () => {
      const p = await RawClient.open({ token: null })
      try {
        const m = p.mark()
        p.send(T.SUBSCRIBE, { documentId: 'probe' })
        const f = await p.waitFrame((x) => x.type !== T.PONG, { from: m, timeout: 2_000, allowClosed: true })
        return f.payload?.code === 'AUTH_REQUIRED'
      } finally {
        p.close()
      }
    },
  })
  const id = docId('anonoff')
  dropDocLater(t, id)
  const c = await RawClient.open({ token: null })
  t.after(() => c.close())
  let m = c.mark()
  c.send(T.PING, {})
  await c.waitFrame((f) => f.type === T.PONG, { from: m, message: 'PONG without a token' })
  m = c.mark()
  c.send(T.SUBSCRIBE, { documentId: id })
  const e = await expectError(c, m, 'AUTH_REQUIRED', 'SUBSCRIBE without a token')
  assert.equal(e.type, T.AUTH_ERROR, 'AUTH_REQUIRED comes as AUTH_ERROR')
  m = c.mark()
  c.send(T.DELTA, { type: 'set', documentId: id, field: 'f', value: 1, clock: { anon: 1 }, clientId: 'anon', timestamp: Date.now(), messageId: 'anon-1' })
  await expectError(c, m, 'AUTH_REQUIRED', 'DELTA without a token')
  assert.deepEqual(await tableDoc(id), {})

  m = c.mark()
  c.send(T.AUTH, { token: mintToken({ userId: 'late-auth', canRead: [id], canWrite: [id] }) })
  const ok = await c.waitFrame((f) => f.type === T.AUTH_SUCCESS || f.type === T.AUTH_ERROR, { from: m, message: 'AUTH_SUCCESS' })
  assert.equal(ok.type, T.AUTH_SUCCESS, JSON.stringify(ok.payload))
  assert.equal(ok.payload.userId, 'late-auth')
  assert.deepEqual(ok.payload.permissions.canRead, [id])
  assert.deepEqual(ok.payload.permissions.canWrite, [id])
  assert.equal(ok.payload.permissions.isAdmin, false)
  await c.subscribe(id)
  await c.delta(id, 'f', 'after auth', { clientId: 'late-auth' })
  assert.deepEqual(await tableDoc(id), { f: 'after auth' })
})

skTest('auth: a token with "sub" and no "userId" authenticates as sub; awareness needs canRead', async (t) => {
  const id = docId('sub')
  const c = await rawClient(t, { token: mintToken({ userId: null, canRead: ['other'], canWrite: [], claims: { sub: 'subject-7' } }) })
  let m = c.mark()
  c.send(T.AUTH, { token: mintToken({ userId: null, canRead: ['other'], canWrite: [], claims: { sub: 'subject-7' } }) })
  const ok = await c.waitFrame((f) => f.type === T.AUTH_SUCCESS || f.type === T.AUTH_ERROR, { from: m })
  assert.equal(ok.type, T.AUTH_SUCCESS, JSON.stringify(ok.payload))
  assert.equal(ok.payload.userId, 'subject-7')
  for (const [type, payload, what] of [
    [T.AWARENESS_SUBSCRIBE, { documentId: id }, 'AWARENESS_SUBSCRIBE'],
    [T.AWARENESS_UPDATE, { documentId: id, clientId: 'x', state: { here: true }, clock: 1 }, 'AWARENESS_UPDATE'],
  ]) {
    m = c.mark()
    c.send(type, payload)
    await expectError(c, m, 'PERMISSION_DENIED', `${what} outside canRead`)
    assert.equal(c.since(m, (f) => f.type === T.AWARENESS_STATE || f.type === T.AWARENESS_UPDATE).length, 0)
  }
})

skTest('auth: with anonymous access on, a connection without a token reads and writes', async (t) => {
  await withSettings(t, { synckit_anonymous: 'on' }, {
    probe: async () => {
      const p = await RawClient.open({ token: null })
      try {
        const m = p.mark()
        p.send(T.SUBSCRIBE, { documentId: docId('probe') })
        const f = await p.waitFrame((x) => x.type !== T.PONG, { from: m, timeout: 2_000, allowClosed: true })
        return f.type === T.SYNC_RESPONSE
      } finally {
        p.close()
      }
    },
  })
  const id = docId('anonon')
  dropDocLater(t, id)
  const k = await newKit(t, { clientId: 'anon-sdk', token: null })
  const dk = await openDoc(k, id)
  await dk.set('who', 'anonymous')
  await waitTable(id, { who: 'anonymous' })
  await waitDocs([dk], { who: 'anonymous' })
})

skTest('auth: a bad, expired or wrongly signed token in the URL → AUTH_ERROR INVALID_TOKEN, then close 1008', async (t) => {
  const tokens = {
    garbage: 'not-a-jwt',
    expired: mintToken({ exp: Math.floor(Date.now() / 1000) - 120 }), // past any clock-skew leeway (30 s for readers)
    'wrong secret': mintToken({ secret: 'some-other-secret' }),
    'alg none': `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from('{"userId":"x","permissions":{"isAdmin":true}}').toString('base64url')}.`,
  }
  for (const [what, token] of Object.entries(tokens)) {
    const c = await RawClient.open({ token, allowFail: true })
    t.after(() => c.close())
    assert.equal(c.opened, true, `${what}: the upgrade succeeds and the refusal is a frame (rejected: ${JSON.stringify(c.rejected)})`)
    c.send(T.SUBSCRIBE, { documentId: 'x' })
    const f = await c.waitFrame((x) => x.type === T.AUTH_ERROR || x.type === T.SYNC_RESPONSE, { message: `${what}: AUTH_ERROR`, allowClosed: true })
    assert.equal(f.type, T.AUTH_ERROR, `${what}: ${JSON.stringify(f.payload)}`)
    assert.equal(f.payload.code, 'INVALID_TOKEN', `${what}: ${JSON.stringify(f.payload)}`)
    const closed = await c.waitClose(5_000, `${what}: the close after INVALID_TOKEN`)
    assert.equal(closed.code, 1008, `${what}: close code`)
  }
})

skTest('auth: a bad token in an AUTH frame → AUTH_ERROR INVALID_TOKEN, then close 1008', async (t) => {
  await withSettings(t, { synckit_anonymous: 'off' })
  const c = await RawClient.open({ token: null })
  t.after(() => c.close())
  const m = c.mark()
  c.send(T.AUTH, { token: mintToken({ exp: Math.floor(Date.now() / 1000) - 120 }) }) // past any clock-skew leeway
  const f = await c.waitFrame((x) => x.type === T.AUTH_ERROR || x.type === T.AUTH_SUCCESS, { from: m, message: 'AUTH_ERROR', allowClosed: true })
  assert.equal(f.type, T.AUTH_ERROR)
  assert.equal(f.payload.code, 'INVALID_TOKEN')
  assert.equal((await c.waitClose(5_000)).code, 1008)
})

skTest('auth: a token that expires while connected ends the connection at the next request (AUTH_ERROR INVALID_TOKEN, 1008)', async (t) => {
  const id = docId('exp')
  const exp = Math.floor(Date.now() / 1000) + 2
  const c = await rawClient(t, { token: mintToken({ userId: 'short-lived', exp }) })
  await c.subscribe(id)
  await sleep(Math.max(0, exp * 1000 - Date.now()) + 1_200)
  const m = c.mark()
  c.send(T.SUBSCRIBE, { documentId: `${id}_2` })
  const f = await c.waitFrame((x) => x.type === T.AUTH_ERROR || x.type === T.SYNC_RESPONSE, { from: m, allowClosed: true, message: 'AUTH_ERROR for the expired token' })
  assert.equal(f.type, T.AUTH_ERROR, describeFrame(f))
  assert.equal(f.payload.code, 'INVALID_TOKEN')
  assert.equal((await c.waitClose(5_000)).code, 1008)
})

skTest('auth: without a token and without AUTH the connection is closed (1008) after synckit_auth_timeout', async (t) => {
  const v = await durationSetting('synckit_auth_timeout', 1500)
  await withSettings(t, { synckit_anonymous: 'off', synckit_auth_timeout: v })
  const c = await RawClient.open({ token: null })
  t.after(() => c.close())
  const opened = Date.now()
  const closed = await c.waitClose(10_000, 'the auth timeout to close the connection')
  assert.equal(closed.code, 1008)
  const after = closed.at - opened
  assert.ok(after >= 900 && after < 8_000, `closed after ${after} ms (timeout ${v})`)
  // an authenticated connection opened at the same time is not closed by it
  const ok = await rawClient(t)
  await sleep(2_500)
  assert.equal(ok.closed, null, 'a connection with a token stays open past the auth timeout')
})
