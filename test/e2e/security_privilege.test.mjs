// Privilege escalation through where clauses: a where is evaluated by the worker (a superuser
// connection) or by create_shape's caller, so a function an unprivileged role wrote must not be
// callable from a where unless a superuser allow-listed it, and even then it must not run with
// superuser rights. The attack: role mallory owns schema mal and writes
//   mal.doit(int)  VOLATILE: EXECUTE 'ALTER ROLE mallory SUPERUSER'
//   mal.evil(int)  IMMUTABLE: PERFORM mal.doit($1); RETURN true
// then asks for where=mal.evil(1) (folded when the shape is defined) or mal.evil(id::int) (run
// for every change). mallory must never become superuser, and the request is refused with a 400
// naming the function as not allowed. Also refused: SECURITY DEFINER functions, reg* casts
// (catalog lookups by name, e.g. 'pg_authid'::regclass), and columns of another table.
//
// The allow-list test uses the new API electric_sync.allow_where_function(regprocedure) /
// disallow_where_function(regprocedure) (it fails with a clear message where they are missing).
import { test, after, before } from 'node:test'
import assert from 'node:assert/strict'
import pg from 'pg'
import { setup, sql, closePool, getShape, DATABASE_URL, qi, sleep, TEST_TIMEOUT } from './lib.mjs'
import { survivalBaseline, assertSurvived, errorText } from './lib_security.mjs'

const ROLE = 'mallory'

async function asMallory(text) {
  const u = new URL(DATABASE_URL)
  u.username = ROLE
  u.password = ''
  const c = new pg.Client({ connectionString: u.toString(), connectionTimeoutMillis: 10_000, statement_timeout: 20_000 })
  c.on('error', () => {})
  await c.connect()
  try {
    return (await c.query(text)).rows
  } finally {
    await c.end().catch(() => {})
  }
}

async function dropMallory() {
  const exists = (await sql(`SELECT count(*)::int AS n FROM pg_roles WHERE rolname = $1`, [ROLE]))[0].n > 0
  if (!exists) return
  await sql(`ALTER ROLE ${ROLE} NOSUPERUSER`)
  // allow-list entries (new API) refer to mallory's functions: remove them first when possible
  await sql(
    `DO $$ DECLARE f regprocedure; BEGIN
       IF to_regprocedure('electric_sync.disallow_where_function(regprocedure)') IS NOT NULL THEN
         FOR f IN SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'mal' LOOP
           BEGIN EXECUTE format('SELECT electric_sync.disallow_where_function(%L::regprocedure)', f::text); EXCEPTION WHEN others THEN NULL; END;
         END LOOP;
       END IF; END $$`,
  ).catch(() => {})
  await sql(`DROP OWNED BY ${ROLE} CASCADE`)
  await sql(`DROP ROLE ${ROLE}`)
}

before(async () => {
  await dropMallory()
  await sql(`CREATE ROLE ${ROLE} LOGIN NOSUPERUSER`)
  await sql(`CREATE SCHEMA mal AUTHORIZATION ${ROLE}`)
  await asMallory(`CREATE FUNCTION mal.doit(int) RETURNS void LANGUAGE plpgsql AS $$BEGIN EXECUTE 'ALTER ROLE mallory SUPERUSER'; END$$`)
  await asMallory(`CREATE FUNCTION mal.evil(int) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$BEGIN PERFORM mal.doit($1); RETURN true; END$$`)
  await asMallory(`CREATE FUNCTION mal.secdef(int) RETURNS boolean LANGUAGE sql IMMUTABLE SECURITY DEFINER AS $$SELECT $1 > 0$$`)
  await asMallory(`CREATE FUNCTION mal.secdef_evil(int) RETURNS boolean LANGUAGE plpgsql IMMUTABLE SECURITY DEFINER AS $$BEGIN PERFORM mal.doit($1); RETURN true; END$$`)
})

after(async () => {
  try {
    await dropMallory()
  } finally {
    await closePool()
  }
})

async function isSuper() {
  return (await sql(`SELECT rolsuper FROM pg_roles WHERE rolname = $1`, [ROLE]))[0]?.rolsuper === true
}

/** Fails (and resets the role, so later tests start clean) if mallory became superuser. */
async function assertNotSuper(label) {
  if (await isSuper()) {
    await sql(`ALTER ROLE ${ROLE} NOSUPERUSER`)
    assert.fail(`${label}: mallory became SUPERUSER`)
  }
}

/** Watches rolsuper for `ms` (a per-change evaluation runs asynchronously). */
async function assertNeverSuperFor(ms, label) {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    await assertNotSuper(label)
    await sleep(100)
  }
  await assertNotSuper(label)
}

async function items(ctx, prefix) {
  const t = await ctx.table(prefix, 'id int PRIMARY KEY, title text, done boolean, created_at timestamptz DEFAULT now()')
  await sql(`INSERT INTO ${qi(t)} (id, title, done) SELECT g, 't' || g, false FROM generate_series(1, 5) g`)
  return t
}

function assertFunctionRefused(r, fname, label) {
  assert.equal(r.status, 400, `${label}: ${r.status} ${r.text}`)
  const txt = errorText(r.body)
  assert.ok(r.body?.errors?.where, `${label}: errors.where in ${r.text}`)
  assert.match(txt, new RegExp(fname.replace('.', '\\.?')), `${label}: the message names ${fname}: ${r.text}`)
  assert.match(txt, /not allowed|not permitted|allow-?list/i, `${label}: the message says the function is not allowed: ${r.text}`)
}

test('privilege: where=mal.evil(1) (folded at definition) is refused with 400 naming the function; mallory stays non-superuser', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const base = await survivalBaseline()
  await sql(`ALTER ROLE ${ROLE} NOSUPERUSER`)
  const table = await items(ctx, 'priv_fold')
  const r = await getShape({ table, offset: '-1', where: 'mal.evil(1)' })
  await assertNeverSuperFor(300, `where=mal.evil(1) (it answered ${r.status})`)
  assertFunctionRefused(r, 'mal.evil', 'where=mal.evil(1)')
  const r2 = await getShape({ table, offset: '-1', log: 'changes_only', where: 'id > 0 AND mal.evil(1)' })
  await assertNotSuper('changes_only where=id > 0 AND mal.evil(1)')
  assertFunctionRefused(r2, 'mal.evil', 'changes_only where=... AND mal.evil(1)')
  await assertSurvived(base, 'mal.evil(1)')
})

test('privilege: where=mal.evil(id::int) (run per change) is refused; inserts afterwards never make mallory superuser', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const base = await survivalBaseline()
  await sql(`ALTER ROLE ${ROLE} NOSUPERUSER`)
  const table = await items(ctx, 'priv_row')
  const r = await getShape({ table, offset: '-1', where: 'mal.evil(id::int)' })
  const rc = await getShape({ table, offset: '-1', log: 'changes_only', where: 'mal.evil(id::int)' })
  await sql(`INSERT INTO ${qi(table)} (id, title, done) SELECT g, 'late', true FROM generate_series(100, 104) g`)
  await sql(`UPDATE ${qi(table)} SET title = 'changed' WHERE id = 1`)
  await assertNeverSuperFor(1_500, `where=mal.evil(id::int) + inserts (it answered ${r.status} / changes_only ${rc.status})`)
  assertFunctionRefused(r, 'mal.evil', 'where=mal.evil(id::int)')
  assertFunctionRefused(rc, 'mal.evil', 'changes_only where=mal.evil(id::int)')
  await assertSurvived(base, 'mal.evil(id::int)')
})

test('privilege: electric_sync.create_shape(...) from SQL with where mal.evil(...) is refused; mallory stays non-superuser', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  await sql(`ALTER ROLE ${ROLE} NOSUPERUSER`)
  const table = await items(ctx, 'priv_sql')
  for (const w of ['mal.evil(1)', 'mal.evil(id::int)']) {
    let err = null
    try {
      await sql(`SELECT electric_sync.create_shape($1, $2)`, [table, w])
    } catch (e) {
      err = e
    }
    await sql(`INSERT INTO ${qi(table)} (id, title) VALUES ((SELECT max(id) + 1 FROM ${qi(table)}), 'x')`)
    await assertNeverSuperFor(500, `create_shape(where ${w}) (${err ? 'raised: ' + err.message : 'returned a handle'})`)
    assert.ok(err, `create_shape(where ${w}) must raise`)
    assert.match(err.message, /evil/, `create_shape(where ${w}): the error names the function: ${err.message}`)
    assert.match(err.message, /not allowed|not permitted|allow-?list/i, `create_shape(where ${w}): ${err.message}`)
  }
})

test('privilege: SECURITY DEFINER functions are refused in a where', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const base = await survivalBaseline()
  await sql(`ALTER ROLE ${ROLE} NOSUPERUSER`)
  const table = await items(ctx, 'priv_secdef')
  const r = await getShape({ table, offset: '-1', where: 'mal.secdef(id)' })
  const r2 = await getShape({ table, offset: '-1', where: 'mal.secdef_evil(1)' })
  await assertNeverSuperFor(300, 'SECURITY DEFINER')
  for (const [w, x] of [['mal.secdef(id)', r], ['mal.secdef_evil(1)', r2]]) {
    assert.equal(x.status, 400, `where=${w}: ${x.status} ${x.text.slice(0, 300)}`)
    assert.ok(x.body?.errors?.where, `where=${w}: errors.where in ${x.text.slice(0, 300)}`)
    assert.match(errorText(x.body), /not allowed|not permitted|security definer|allow-?list/i, `where=${w}: the message says it is refused: ${x.text.slice(0, 300)}`)
  }
  await assertSurvived(base, 'security definer')
})

test('privilege: reg* casts (catalog lookups by name) are refused with 400', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const base = await survivalBaseline()
  const table = await items(ctx, 'priv_reg')
  const wheres = [
    `'pg_authid'::regclass IS NOT NULL`,
    `'pg_authid'::regclass::oid > 0`,
    `'x'::regclass IS NULL`,
    `'now'::regproc IS NOT NULL`,
    `'now()'::regprocedure IS NOT NULL`,
    `'int4'::regtype IS NOT NULL`,
    `'public'::regnamespace IS NOT NULL`,
    `'postgres'::regrole IS NOT NULL`,
    `'='::regoper IS NOT NULL`,
    `'+(int4,int4)'::regoperator IS NOT NULL`,
    `'english'::regconfig IS NOT NULL`,
    `'simple'::regdictionary IS NOT NULL`,
    `'C'::regcollation IS NOT NULL`,
    `CAST('pg_authid' AS regclass) IS NOT NULL`,
    `regclass('pg_authid') IS NOT NULL`,
    `to_regclass('pg_authid') IS NOT NULL`,
    `title::regclass IS NOT NULL`,
    `id::regtype IS NOT NULL`,
    `id::oid::regclass IS NOT NULL`,
  ]
  const bad = []
  for (const w of wheres) {
    const r = await getShape({ table, offset: '-1', where: w })
    if (r.status !== 400 || !r.body?.errors) bad.push(`${w} -> ${r.status} ${r.text.slice(0, 200)}`)
  }
  assert.deepEqual(bad, [], `reg* casts accepted:\n${bad.join('\n')}`)
  await assertSurvived(base, 'reg* casts')
})

test('privilege: a where naming another table\'s column -> 400 about referencing another table', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const base = await survivalBaseline()
  const table = await items(ctx, 'priv_items')
  const secrets = await ctx.table('priv_secrets', 'id int PRIMARY KEY, s text')
  await sql(`INSERT INTO ${qi(secrets)} VALUES (1, 'hidden')`)
  for (const w of [`${secrets}.id = 1`, `${qi(secrets)}.s = 'hidden'`, `public.${secrets}.id = 1`]) {
    const r = await getShape({ table, offset: '-1', where: w })
    assert.equal(r.status, 400, `${w}: ${r.status} ${r.text}`)
    assert.ok(r.body?.errors?.where, `${w}: errors.where in ${r.text}`)
    const txt = errorText(r.body)
    assert.doesNotMatch(txt, /Table .* does not exist/i, `${w}: the message must not claim the shape's table is missing: ${r.text}`)
    assert.match(txt, /another table|other table|referenc|FROM-clause/i, `${w}: the message is about referencing another table: ${r.text}`)
  }
  await assertSurvived(base, 'other table column')
})

// ---- depends on the NEW API: electric_sync.allow_where_function / disallow_where_function ----
test('privilege [new API allow_where_function]: an allow-listed mal.evil(int) runs without superuser rights; mallory stays non-superuser', { timeout: TEST_TIMEOUT }, async (t) => {
  const ctx = setup(t)
  const base = await survivalBaseline()
  await sql(`ALTER ROLE ${ROLE} NOSUPERUSER`)
  const [{ allow, disallow }] = await sql(
    `SELECT to_regprocedure('electric_sync.allow_where_function(regprocedure)') IS NOT NULL AS allow,
            to_regprocedure('electric_sync.disallow_where_function(regprocedure)') IS NOT NULL AS disallow`,
  )
  assert.ok(allow && disallow, 'this test depends on the new API electric_sync.allow_where_function(regprocedure) and electric_sync.disallow_where_function(regprocedure), which do not exist')
  await sql(`SELECT electric_sync.allow_where_function('mal.evil(int)'::regprocedure)`)
  t.after(() => sql(`SELECT electric_sync.disallow_where_function('mal.evil(int)'::regprocedure)`).catch(() => {}))
  const table = await items(ctx, 'priv_allow')
  const r1 = await getShape({ table, offset: '-1', where: 'mal.evil(1)' })
  const r2 = await getShape({ table, offset: '-1', where: 'mal.evil(id::int)' })
  await sql(`INSERT INTO ${qi(table)} (id, title) SELECT g, 'late' FROM generate_series(200, 203) g`)
  await assertNeverSuperFor(1_500, 'allow-listed mal.evil')
  for (const [w, r] of [['mal.evil(1)', r1], ['mal.evil(id::int)', r2]]) {
    // 400 (the evaluation fails: permission denied, read-only...) or 200: either is fine
    assert.ok([200, 400].includes(r.status), `allow-listed ${w}: 200 or 400 (evaluation failed without superuser rights), got ${r.status} ${r.text}`)
    if (r.status === 400) assert.ok(r.body && typeof r.body === 'object', `allow-listed ${w}: JSON body: ${r.text}`)
  }
  // disallowing it again refuses it again
  await sql(`SELECT electric_sync.disallow_where_function('mal.evil(int)'::regprocedure)`)
  const r3 = await getShape({ table, offset: '-1', where: 'mal.evil(id::int) AND id > 1' })
  assertFunctionRefused(r3, 'mal.evil', 'after disallow_where_function')
  await assertNotSuper('after disallow')
  await assertSurvived(base, 'allow-list')
})
