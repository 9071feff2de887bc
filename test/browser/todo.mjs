// Browser test of examples/todo: two tabs of the app in headless Chromium (puppeteer-core)
// against a running electric_sync. Rows written in SQL must show in both tabs, in both views
// (the TanStack DB collection and useShape), within 2 s; a todo added, toggled and deleted in a
// tab must reach the table through the oversync push path and the other tab within 2 s.
// Environment: ELECTRIC_URL, DATABASE_URL (required); BROWSER_ARTIFACTS (screenshot folder),
// CHROMIUM (default /usr/bin/chromium), TODO_PORT / TODO_PORT_LAST (static server ports,
// default 8151..8159), BROWSER_DEADLINE_MS (default 2000).
// Prints one line per check and closes with "N passed, M failed".
import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import puppeteer from 'puppeteer-core'

const here = dirname(fileURLToPath(import.meta.url))
const appDir = resolve(here, '../../examples/todo')
const ELECTRIC_URL = process.env.ELECTRIC_URL?.replace(/\/$/, '')
const DATABASE_URL = process.env.DATABASE_URL
const DEADLINE = Number(process.env.BROWSER_DEADLINE_MS || 2000)
const artifacts = process.env.BROWSER_ARTIFACTS || mkdtempSync(join(tmpdir(), 'electric_sync-browser-'))
mkdirSync(artifacts, { recursive: true })

process.stdout.on('error', () => {}) // a reader that went away (| head) must not crash the run

let passed = 0
let failed = 0
const screenshots = []
function finish() {
  console.log(`screenshots (${screenshots.length}) in ${artifacts}:`)
  for (const s of screenshots) console.log(`  ${s}`)
  console.log(`${passed} passed, ${failed} failed`)
}
async function check(name, fn) {
  const t0 = Date.now()
  try {
    const detail = await fn()
    passed++
    console.log(`ok   - ${name}${detail ? ` (${detail})` : ''} [${Date.now() - t0} ms]`)
    return true
  } catch (e) {
    failed++
    console.log(`FAIL - ${name}: ${e?.message ?? e}`)
    return false
  }
}

if (!ELECTRIC_URL || !DATABASE_URL) {
  console.log('FAIL - ELECTRIC_URL and DATABASE_URL are required')
  failed++
  finish()
  process.exit(1)
}

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms))
const db = new pg.Client({ connectionString: DATABASE_URL })
const user = `browser-${process.pid}-${Date.now()}`
const sql = (text, params) => db.query(text, params)
let server = null
let browser = null
let userDataDir = null
const pageErrors = []

// The rows a list shows: [{ id, title, done }].
const rowsOf = (page, list) =>
  page.$$eval(`[data-testid="${list}"] > li`, (els) =>
    els.map((e) => ({ id: e.dataset.id, title: e.querySelector('.title')?.textContent ?? '', done: e.dataset.done === 'true' })))

// Polls until pred(rows) holds in each (page, list), or throws after ms with what was seen.
async function waitRows(targets, pred, ms, what) {
  const t0 = Date.now()
  let last = []
  for (;;) {
    last = await Promise.all(targets.map(([p, list]) => rowsOf(p.page, list).catch(() => [])))
    if (last.every((rows) => pred(rows))) return Date.now() - t0
    if (Date.now() - t0 > ms) {
      const seen = targets.map(([p, list], i) => `${p.name}/${list}: ${JSON.stringify(last[i].map((r) => `${r.title}${r.done ? ' [done]' : ''}`))}`)
      throw new Error(`${what}: not seen within ${ms} ms; ${seen.join('; ')}`)
    }
    await sleep(25)
  }
}

async function waitSql(query, params, pred, ms, what) {
  const t0 = Date.now()
  let rows = []
  for (;;) {
    rows = (await sql(query, params)).rows
    if (pred(rows)) return Date.now() - t0
    if (Date.now() - t0 > ms) throw new Error(`${what}: not in the table within ${ms} ms (rows: ${JSON.stringify(rows)})`)
    await sleep(25)
  }
}

async function shoot(tab, label) {
  const file = join(artifacts, `${String(screenshots.length + 1).padStart(2, '0')}-${tab.name}-${label}.png`)
  try {
    await tab.page.screenshot({ path: file, fullPage: true })
    screenshots.push(file)
  } catch (e) {
    console.log(`# screenshot ${file} failed: ${e.message}`)
  }
}

async function appEvents(tab) {
  return tab.page.$$eval('[data-testid="events"] > li', (els) => els.map((e) => ({ text: e.textContent, error: e.classList.contains('error') }))).catch(() => [])
}

function startServer(token) {
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, [join(appDir, 'server.mjs')], {
      env: {
        ...process.env,
        TODO_ELECTRIC_URL: ELECTRIC_URL,
        TODO_TOKEN: token,
        TODO_USER: user,
        TODO_PORT: process.env.TODO_PORT || '8151',
        TODO_PORT_LAST: process.env.TODO_PORT_LAST || '8159',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    process.on('exit', () => child.kill('SIGTERM')) // also when this process dies of an error
    let out = ''
    const timer = setTimeout(() => fail(new Error(`static server did not start: ${out}`)), 10000)
    const onData = (d) => {
      out += d
      const m = /on (http:\/\/[^/\s]+\/)/.exec(out)
      if (m) { clearTimeout(timer); ok({ child, url: m[1] }) }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', (d) => { out += d })
    child.on('exit', (code) => { clearTimeout(timer); fail(new Error(`static server exited with ${code}: ${out}`)) })
  })
}

// Each page gets its own window: the Electric client pauses a shape stream while its document
// is hidden, which a background tab of the same window is.
async function openTab(name, url) {
  const page = await browser.newPage({ type: 'window' })
  await page.setViewport({ width: 1100, height: 700 })
  page.on('pageerror', (e) => pageErrors.push(`${name}: ${e.message}`))
  page.on('console', (m) => { if (m.type() === 'error') console.log(`# ${name} console: ${m.text()}`) })
  await page.goto(url, { waitUntil: 'load' })
  return { name, page }
}

// The write went through the push path: the user's history has n bundles from the tab's source.
async function bundlesFrom(tab, n) {
  const r = await sql(`SELECT count(*)::int AS n FROM electric_sync.oversync_bundles WHERE user_id = $1 AND source_id = $2`, [user, tab.source])
  if (r.rows[0].n < n) throw new Error(`${r.rows[0].n} bundle(s) from ${tab.name}'s source ${tab.source}, want ${n}`)
}

const titles = (rows) => rows.map((r) => r.title)
const has = (t) => (rows) => titles(rows).includes(t)
// gone, while the seed rows are still there (an empty list proves nothing)
const hasNot = (t) => (rows) => !titles(rows).includes(t) && rows.length >= 2
const both = (tabs) => tabs.flatMap((t) => [[t, 'todo-list'], [t, 'shape-list']])

async function main() {
  let A, B, token
  const seed = ['Buy milk', 'Write the report', 'Call the plumber']
  await check('the app bundles one copy of @tanstack/db and of @electric-sql/client (npm ls)', async () => {
    const out = []
    for (const pkg of ['@tanstack/db', '@electric-sql/client']) {
      const r = spawnSync('npm', ['ls', pkg, '--all', '--parseable'], { cwd: appDir, encoding: 'utf8' })
      const copies = r.stdout.split('\n').filter((l) => l.trim())
      if (copies.length !== 1) throw new Error(`${pkg}: ${copies.length} copies: ${copies.join(', ')} ${r.stderr}`)
      out.push(`${pkg} ${JSON.parse(readFileSync(join(copies[0], 'package.json'), 'utf8')).version}`)
    }
    return out.join(', ')
  })
  const ready = await check('setup: table public.todos registered, seed rows and a dev token for a new user', async () => {
    await db.connect()
    await sql(readFileSync(join(appDir, 'schema.sql'), 'utf8'))
    for (const [i, t] of seed.entries()) {
      await sql(`INSERT INTO public.todos (_sync_scope_id, id, title, done, created_at)
                 VALUES ($1, gen_random_uuid(), $2, $3, now() - make_interval(mins => $4))`, [user, t, i === 1, 10 - i])
    }
    token = (await sql(`SELECT electric_sync.oversync_dev_token($1, '1 hour') AS t`, [user])).rows[0].t
    return `user ${user}`
  })
  if (!ready) return
  if (!(await check('static server serves the built app', async () => {
    server = await startServer(token)
    const r = await fetch(server.url + 'config.json')
    const c = await r.json()
    const js = await fetch(server.url + 'app.js')
    if (c.userId !== user || !c.sourceId || !js.ok) throw new Error(`config ${JSON.stringify(c)}, app.js ${js.status}`)
    return server.url
  }))) return
  if (!(await check('headless Chromium starts', async () => {
    userDataDir = mkdtempSync(join(tmpdir(), 'electric_sync-chromium-'))
    browser = await puppeteer.launch({
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      userDataDir,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
      protocolTimeout: 60000,
    })
    return await browser.version()
  }))) return

  await check('two tabs load the app with their own oversync source ids', async () => {
    A = await openTab('tabA', server.url)
    B = await openTab('tabB', server.url)
    const ids = await Promise.all([A, B].map((t) => t.page.waitForSelector('[data-testid="source"]', { timeout: 10000 })
      .then(() => t.page.$eval('[data-testid="source"]', (e) => e.textContent))))
    if (!ids[0] || ids[0] === ids[1]) throw new Error(`source ids ${JSON.stringify(ids)}`)
    A.source = ids[0]
    B.source = ids[1]
    const vis = await Promise.all([A, B].map((t) => t.page.evaluate(() => document.visibilityState)))
    if (vis.some((v) => v !== 'visible')) throw new Error(`visibility ${vis}: a hidden page's shape stream pauses`)
    return ids.join(', ')
  })
  if (!A || !B) return

  await check('initial rows appear in both tabs, in the collection list and the useShape list', async () => {
    const ms = await waitRows(both([A, B]), (rows) => seed.every((t) => titles(rows).includes(t)) && rows.length === seed.length, 15000, 'seed rows')
    const rows = await rowsOf(A.page, 'todo-list')
    if (!rows.find((r) => r.title === 'Write the report')?.done) throw new Error(`done flag not shown: ${JSON.stringify(rows)}`)
    return `${ms} ms after load`
  })
  await shoot(A, 'initial')
  await shoot(B, 'initial')

  // Live changes written in SQL.
  let sqlId
  await check(`SQL INSERT shows in both tabs within ${DEADLINE} ms`, async () => {
    sqlId = (await sql(`INSERT INTO public.todos (_sync_scope_id, id, title) VALUES ($1, gen_random_uuid(), 'Added in SQL') RETURNING id`, [user])).rows[0].id
    return `${await waitRows(both([A, B]), has('Added in SQL'), DEADLINE, 'inserted row')} ms`
  })
  await check(`SQL UPDATE shows in both tabs within ${DEADLINE} ms`, async () => {
    await sql(`UPDATE public.todos SET title = 'Edited in SQL', done = true WHERE _sync_scope_id = $1 AND id = $2`, [user, sqlId])
    return `${await waitRows(both([A, B]), (rows) => rows.some((r) => r.title === 'Edited in SQL' && r.done) && hasNot('Added in SQL')(rows), DEADLINE, 'updated row')} ms`
  })
  await shoot(A, 'after-sql-update')
  await check(`SQL DELETE shows in both tabs within ${DEADLINE} ms`, async () => {
    await sql(`DELETE FROM public.todos WHERE _sync_scope_id = $1 AND id = $2`, [user, sqlId])
    return `${await waitRows(both([A, B]), hasNot('Edited in SQL'), DEADLINE, 'deleted row')} ms`
  })

  // Writes from the page, through the oversync push path.
  const title = `From tab A ${Date.now() % 100000}`
  let added = false
  await check(`a todo added in tab A is in the table within ${DEADLINE} ms, pushed as a bundle of tab A's source`, async () => {
    await A.page.type('[data-testid="new-title"]', title)
    const t0 = Date.now()
    await A.page.click('[data-testid="add"]')
    const ms = await waitSql(`SELECT id, done FROM public.todos WHERE _sync_scope_id = $1 AND title = $2`, [user, title], (r) => r.length === 1, DEADLINE, 'pushed row')
    await bundlesFrom(A, 1)
    added = true
    return `${Date.now() - t0} ms after the click (${ms} ms polling)`
  })
  await check(`the todo added in tab A shows in tab B within ${DEADLINE} ms (and in tab A's shape stream)`, async () => {
    if (!added) throw new Error('not added')
    return `${await waitRows([...both([B]), [A, 'shape-list']], has(title), DEADLINE, 'row from tab A')} ms`
  })
  await shoot(A, 'after-add')
  await shoot(B, 'after-add')

  await check(`toggling it done in tab A updates the table and tab B within ${DEADLINE} ms`, async () => {
    const t0 = Date.now()
    if (!(await A.page.evaluate((t) => {
      const li = [...document.querySelectorAll('[data-testid="todo-list"] > li')].find((e) => e.querySelector('.title')?.textContent === t)
      if (!li) return false
      li.querySelector('[data-testid="toggle"]').click()
      return true
    }, title))) throw new Error(`"${title}" is not in tab A's list`)
    await waitSql(`SELECT done FROM public.todos WHERE _sync_scope_id = $1 AND title = $2`, [user, title], (r) => r.length === 1 && r[0].done === true, DEADLINE, 'done = true')
    await waitRows(both([B]), (rows) => rows.some((r) => r.title === title && r.done), DEADLINE - (Date.now() - t0), 'done in tab B')
    await bundlesFrom(A, 2)
    return `${Date.now() - t0} ms after the click`
  })
  await check(`deleting it in tab B removes it from the table and tab A within ${DEADLINE} ms`, async () => {
    const t0 = Date.now()
    if (!(await B.page.evaluate((t) => {
      const li = [...document.querySelectorAll('[data-testid="todo-list"] > li')].find((e) => e.querySelector('.title')?.textContent === t)
      if (!li) return false
      li.querySelector('[data-testid="delete"]').click()
      return true
    }, title))) throw new Error(`"${title}" is not in tab B's list`)
    await waitSql(`SELECT 1 FROM public.todos WHERE _sync_scope_id = $1 AND title = $2`, [user, title], (r) => r.length === 0, DEADLINE, 'row deleted')
    await waitRows(both([A]), hasNot(title), DEADLINE - (Date.now() - t0), 'gone from tab A')
    await bundlesFrom(B, 1)
    return `${Date.now() - t0} ms after the click`
  })
  await shoot(A, 'final')
  await shoot(B, 'final')

  await check('no page errors and no failed writes in either tab', async () => {
    const bad = [...pageErrors]
    for (const t of [A, B]) for (const e of await appEvents(t)) if (e.error) bad.push(`${t.name}: ${e.text}`)
    if (bad.length) throw new Error(bad.join('; '))
    const ev = (await appEvents(A)).map((e) => e.text)
    return `tab A: ${ev.filter((e) => /pushed|connect/.test(e)).join(' | ')}`
  })
}

try {
  await main()
} catch (e) {
  failed++
  console.log(`FAIL - unexpected error: ${e?.stack ?? e}`)
} finally {
  if (failed && browser) {
    for (const p of await browser.pages().catch(() => [])) {
      const ev = await p.$$eval('[data-testid="events"] > li', (els) => els.map((e) => e.textContent)).catch(() => [])
      if (ev.length) console.log(`# ${p.url()} events: ${ev.join(' | ')}`)
    }
  }
  await browser?.close().catch(() => {})
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true })
  server?.child.kill('SIGTERM')
  await sql(`SELECT electric_sync.oversync_reset($1, true)`, [user]).catch(() => {})
  await db.end().catch(() => {})
  finish()
  process.exit(failed ? 1 : 0)
}
