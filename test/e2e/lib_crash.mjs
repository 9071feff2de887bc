// Helpers for the destructive tests that crash and restart the cluster (destructive/crash) or load it
// heavily (destructive/no_stall): postmaster kill -9 and restart, /v1/health waits, SQL that tolerates
// the server going away, and a writer connection that reconnects.
import { execFile } from 'node:child_process'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { promisify } from 'node:util'
import pg from 'pg'
import { ELECTRIC_URL, DATABASE_URL, ES_TEST_DIR, ES_PG_BIN, sleep, waitFor, http } from './lib.mjs'

const execFileP = promisify(execFile)

export const DATA_DIR = ES_TEST_DIR ? `${ES_TEST_DIR}/data` : ''
export const PG_LOG = ES_TEST_DIR ? `${ES_TEST_DIR}/postgres.log` : ''
/** True when the test knows the cluster folder (needed to kill and restart it). */
export const clusterKnown = Boolean(DATA_DIR && existsSync(`${DATA_DIR}/PG_VERSION`))

// ---------------------------------------------------------------------------------------------
// Health
// ---------------------------------------------------------------------------------------------

/** GET /v1/health: { status, text } (status 0 when the connection fails). */
export async function health(timeout = 2_000) {
  try {
    const res = await http(`${ELECTRIC_URL}/v1/health`, {}, timeout)
    return { status: res.status, text: await res.text() }
  } catch (e) {
    return { status: 0, text: e?.cause?.code || e?.message || String(e) }
  }
}

/** Waits for /v1/health 200; returns the time it took (ms). */
export async function waitHealthy(timeout = 60_000, label = 'health') {
  const t0 = Date.now()
  let last
  await waitFor(
    async () => {
      last = await health()
      return last.status === 200
    },
    { timeout, interval: 50, message: `${label}: /v1/health 200 (last: ${last?.status} ${last?.text ?? ''})` },
  )
  return Date.now() - t0
}

// ---------------------------------------------------------------------------------------------
// Connection errors and SQL that survives a restart
// ---------------------------------------------------------------------------------------------

/** Errors that mean "the server went away or is (re)starting". */
export function isConnectionError(e) {
  const code = String(e?.code || '')
  return (
    /^(ECONN|EPIPE|ETIMEDOUT|EHOSTUNREACH)/.test(code) ||
    code.startsWith('08') ||
    ['57P01', '57P02', '57P03'].includes(code) ||
    /Connection terminated|terminating connection|timeout expired|the database system is|Client has encountered a connection error|not queryable|server closed the connection/i.test(
      String(e?.message),
    )
  )
}

const pgConfig = {
  connectionString: DATABASE_URL,
  connectionTimeoutMillis: 5_000,
  statement_timeout: 30_000,
  query_timeout: 35_000,
}

/** A new connected pg.Client whose 'error' events are swallowed (a killed backend must not crash node). */
export async function connect() {
  const c = new pg.Client(pgConfig)
  c.on('error', () => {})
  try {
    await c.connect()
  } catch (e) {
    c.end().catch(() => {})
    throw e
  }
  return c
}

/** One statement on a one-off connection, retried on connection errors for up to `timeout` ms. */
export async function sqlRetry(text, params = [], timeout = 60_000) {
  const deadline = Date.now() + timeout
  for (;;) {
    let c
    try {
      c = await connect()
      return (await c.query(text, params)).rows
    } catch (e) {
      if (!isConnectionError(e) || Date.now() > deadline) throw e
      await sleep(100)
    } finally {
      if (c) c.end().catch(() => {})
    }
  }
}

/**
 * A connection that reconnects: `query` retries the connection (not the statement) until it
 * gets a connected client, then runs the statement once; a connection error during the statement
 * is thrown (with `.connectionLost = true`) so the caller decides what an unknown outcome means.
 */
export class ReconnectingClient {
  constructor({ reconnectTimeout = 90_000 } = {}) {
    this.client = null
    this.reconnectTimeout = reconnectTimeout
    this.reconnects = 0
  }

  async ensure() {
    if (this.client) return this.client
    const deadline = Date.now() + this.reconnectTimeout
    for (;;) {
      try {
        this.client = await connect()
        return this.client
      } catch (e) {
        if (!isConnectionError(e) || Date.now() > deadline) throw e
        this.reconnects++
        await sleep(50)
      }
    }
  }

  async query(text, params) {
    const c = await this.ensure()
    try {
      return await c.query(text, params)
    } catch (e) {
      if (isConnectionError(e)) {
        this.drop()
        e.connectionLost = true
      }
      throw e
    }
  }

  drop() {
    if (this.client) this.client.end().catch(() => {})
    this.client = null
  }
}

// ---------------------------------------------------------------------------------------------
// The cluster: postmaster pid, kill -9, restart
// ---------------------------------------------------------------------------------------------

/** The postmaster's pid (first line of postmaster.pid), or null. */
export function postmasterPid() {
  try {
    const pid = Number(readFileSync(`${DATA_DIR}/postmaster.pid`, 'utf8').split('\n')[0])
    return Number.isInteger(pid) && pid > 0 ? pid : null
  } catch {
    return null
  }
}

function procStat(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const rp = s.lastIndexOf(')')
    const f = s.slice(rp + 2).split(' ')
    return { state: f[0], ppid: Number(f[1]), comm: s.slice(s.indexOf('(') + 1, rp) }
  } catch {
    return null
  }
}

function cmdline(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim()
  } catch {
    return ''
  }
}

/** The pids of the direct children of `pid` (the postmaster's backends and workers). */
export function childPids(pid) {
  const out = []
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    const st = procStat(d)
    if (st && st.ppid === pid) out.push(Number(d))
  }
  return out
}

const isGone = (pid) => procStat(pid) === null

function pgctlArgs(args) {
  const cmd = `${ES_PG_BIN}/pg_ctl ${args}`
  return process.getuid && process.getuid() === 0 ? ['su', ['postgres', '-s', '/bin/sh', '-c', cmd]] : ['/bin/sh', ['-c', cmd]]
}

/** Runs pg_ctl as the postgres OS user (asynchronously: streams and the writer keep running). */
export async function pgctl(args, timeout = 90_000) {
  const [file, argv] = pgctlArgs(args)
  return execFileP(file, argv, { encoding: 'utf8', timeout })
}

export async function clusterRunning() {
  try {
    await pgctl(`-D '${DATA_DIR}' status`, 15_000)
    return true
  } catch {
    return false
  }
}

/**
 * kill -9 of the postmaster, then waits until it and all of its children are gone (reaped: a
 * zombie postmaster would make the next start refuse the lock file). Returns
 * { pid, children, exitMs, lingering } where `lingering` lists processes still alive after
 * `lingerTimeout` (they are then killed so the cluster can restart; the caller reports them).
 */
export async function killPostmaster({ lingerTimeout = 20_000 } = {}) {
  const pid = postmasterPid()
  if (!pid || isGone(pid)) throw new Error(`no running postmaster (postmaster.pid: ${pid})`)
  const children = childPids(pid).map((p) => ({ pid: p, cmd: cmdline(p) }))
  const t0 = Date.now()
  process.kill(pid, 'SIGKILL')
  const all = [pid, ...children.map((c) => c.pid)]
  const deadline = Date.now() + lingerTimeout
  let lingering = []
  for (;;) {
    // zombies have released everything but their pid; wait for the reaper too
    const alive = all.filter((p) => !isGone(p))
    if (!alive.length) break
    if (Date.now() > deadline) {
      lingering = alive
        .filter((p) => procStat(p)?.state !== 'Z')
        .map((p) => ({ pid: p, state: procStat(p)?.state, cmd: children.find((c) => c.pid === p)?.cmd || cmdline(p) }))
      for (const l of lingering) {
        try {
          process.kill(l.pid, 'SIGKILL')
        } catch {}
      }
      // give the reaper a moment, then go on whatever happens (start will say if it can't)
      await waitFor(() => all.every(isGone), { timeout: 10_000, interval: 50, message: 'killed processes to be reaped' }).catch(() => {})
      break
    }
    await sleep(20)
  }
  return { pid, children, exitMs: Date.now() - t0, lingering }
}

/** pg_ctl start (as postgres) and wait for /v1/health 200. Returns { startMs, healthMs }. */
export async function startCluster({ healthTimeout = 60_000 } = {}) {
  const t0 = Date.now()
  await pgctl(`-D '${DATA_DIR}' -l '${PG_LOG}' -w -t 60 start`)
  const startMs = Date.now() - t0
  const healthMs = await waitHealthy(healthTimeout, 'after restart')
  return { startMs, healthMs }
}

/** Leaves the cluster running with the extension and health 200 (for t.after). */
export async function ensureRunning() {
  if (clusterKnown && !(await clusterRunning())) {
    // a crash may have left reaped-but-listed pids; pg_ctl copes with a stale postmaster.pid
    await pgctl(`-D '${DATA_DIR}' -l '${PG_LOG}' -w -t 60 start`).catch(() => {})
  }
  await sqlRetry('CREATE EXTENSION IF NOT EXISTS electric_sync')
  await waitHealthy(60_000, 'ensure running')
}
