// Secrets from files (electric_sync.secret_file, electric_sync.jwt_secret_file): Postgres logs
// "parameter X changed to Y" with the value for every setting a reload changes, so a secret set
// with ALTER SYSTEM lands in the server log. A file named by the *_file setting is read by the
// worker at start and on every reload instead: the secret works for /v1/shape, /v1/metrics and
// the write path's tokens, a rewritten file takes effect on reload, an unreadable file refuses
// every request (fail closed), and neither value ever appears in $ES_TEST_DIR/postgres.log.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac, randomBytes } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { writeFileSync, readFileSync, statSync, chownSync, rmSync, existsSync } from 'node:fs'
import { setup, sql, closePool, getShape, waitFor, http, ELECTRIC_URL, ES_TEST_DIR } from './lib.mjs'

after(closePool)

const PG_LOG = ES_TEST_DIR ? `${ES_TEST_DIR}/postgres.log` : ''
const known = Boolean(ES_TEST_DIR && existsSync(PG_LOG))

function writeSecret(path, value) {
  writeFileSync(path, value + '\n', { mode: 0o600 })
  if (process.getuid && process.getuid() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim())
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim())
    chownSync(path, uid, gid)
  }
}

const b64 = (s) => Buffer.from(s).toString('base64url')
function token(secret, sub = 'e2e-user') {
  const head = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))
  const body = b64(JSON.stringify({ sub, exp: Math.floor(Date.now() / 1000) + 600 }))
  const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url')
  return `${head}.${body}.${sig}`
}
/** A write-path request: 401 if the token is refused; past authentication, 400 (no source id). */
async function writeStatus(tok) {
  const res = await http(`${ELECTRIC_URL}/sync/upload`, { method: 'POST', headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' }, body: '{}' })
  await res.text()
  return res.status
}

test('secret files: used for auth, re-read on reload, fail closed, never logged', { timeout: 90_000, skip: !known && 'ES_TEST_DIR not set' }, async (t) => {
  const ctx = setup(t)
  const table = await ctx.table('secf', 'id int PRIMARY KEY')
  await sql(`INSERT INTO ${table} VALUES (1)`)
  const secretPath = `${ES_TEST_DIR}/e2e_secret_${process.pid}`
  const jwtPath = `${ES_TEST_DIR}/e2e_jwt_secret_${process.pid}`
  const s1 = `shape-secret-${randomBytes(12).toString('hex')}`
  const s2 = `shape-secret-${randomBytes(12).toString('hex')}`
  const j1 = `jwt-secret-${randomBytes(12).toString('hex')}`
  const logStart = statSync(PG_LOG).size
  const jwtBefore = (await sql(`SELECT current_setting('electric_sync.jwt_secret') AS v`))[0].v
  t.after(async () => {
    await sql(`ALTER SYSTEM RESET electric_sync.secret_file`)
    await sql(`ALTER SYSTEM RESET electric_sync.read_auth`)
    await sql(`ALTER SYSTEM RESET electric_sync.jwt_secret_file`)
    await sql(`SELECT pg_reload_conf()`)
    await waitFor(async () => (await getShape({ table, offset: '-1' })).status !== 401, { timeout: 10_000, message: 'secret removed' })
    rmSync(secretPath, { force: true })
    rmSync(jwtPath, { force: true })
  })

  writeSecret(secretPath, s1)
  writeSecret(jwtPath, j1)
  await sql(`ALTER SYSTEM SET electric_sync.secret_file = '${secretPath}'`)
  await sql(`ALTER SYSTEM SET electric_sync.read_auth = 'secret'`)
  await sql(`ALTER SYSTEM SET electric_sync.jwt_secret_file = '${jwtPath}'`)
  await sql(`SELECT pg_reload_conf()`)
  await waitFor(async () => (await getShape({ table, offset: '-1', secret: s1 })).status === 200 &&
    (await getShape({ table, offset: '-1' })).status === 401, { timeout: 10_000, message: 'the file secret to be required' })

  assert.deepEqual((await getShape({ table, offset: '-1' })).body, { message: 'Unauthorized - Invalid API secret' })
  assert.equal((await getShape({ table, offset: '-1', secret: 'wrong' })).status, 401)
  assert.equal((await getShape({ table, offset: '-1', api_secret: s1 })).status, 200)
  assert.equal((await http(`${ELECTRIC_URL}/v1/metrics?secret=${s1}`)).status, 200)
  assert.equal((await http(`${ELECTRIC_URL}/v1/metrics`)).status, 401)
  // the write path: tokens signed with the file's secret pass, the direct setting's do not
  assert.equal(await writeStatus(token(j1)), 400)
  if (jwtBefore) assert.equal(await writeStatus(token(jwtBefore)), 401)
  assert.equal(await writeStatus(token('wrong')), 401)

  // rotation: rewrite the file, reload
  writeSecret(secretPath, s2)
  await sql(`SELECT pg_reload_conf()`)
  await waitFor(async () => (await getShape({ table, offset: '-1', secret: s2 })).status === 200, { timeout: 10_000, message: 'the rotated secret' })
  assert.equal((await getShape({ table, offset: '-1', secret: s1 })).status, 401)

  // an unreadable file: nothing gets through (not even without a secret)
  await sql(`ALTER SYSTEM SET electric_sync.secret_file = '${secretPath}.missing'`)
  await sql(`ALTER SYSTEM SET electric_sync.read_auth = 'secret'`)
  await sql(`SELECT pg_reload_conf()`)
  await waitFor(async () => (await getShape({ table, offset: '-1', secret: s2 })).status === 401, { timeout: 10_000, message: 'a missing file to refuse' })
  assert.equal((await getShape({ table, offset: '-1' })).status, 401)
  assert.equal((await getShape({ table, offset: '-1', secret: '' })).status, 401)

  // the log: the reloads are there (with the paths), the secrets are not
  await waitFor(() => readFileSync(PG_LOG, 'utf8').slice(logStart).includes('electric_sync.secret_file'), { timeout: 5_000, message: 'the reload in the log' })
  const log = readFileSync(PG_LOG, 'utf8').slice(logStart)
  assert.match(log, /parameter "electric_sync\.secret_file" changed to/)
  assert.match(log, /could not open electric_sync\.secret_file/)
  for (const v of [s1, s2, j1]) assert.ok(!log.includes(v), `a secret value is in the server log`)
})
