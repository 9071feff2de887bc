// Runs the commands of the README (and docs/install.md) as a newcomer would paste them, so the
// docs cannot rot. Every ```sh block is run in order with bash (-e -o pipefail), from the
// repository's root, each in a fresh shell. An HTML comment right above a block says more:
//   <!-- test: skip REASON -->           not run (REASON is printed)
//   <!-- test: expect TEXT -->           its output must contain TEXT (repeatable)
//   <!-- test: background -->            started and left running (a live follower); the run goes
//                                        on once its expects have appeared; stopped when the file ends
//   <!-- test: expect-later TEXT -->     a background block's output must contain TEXT by the end
//                                        of the file (after the blocks that follow it have run)
//   <!-- test: timeout SECONDS -->       for a foreground block (default 600)
// Prints one line per block and ends with "N passed, M failed".
// Usage: node test/readme/run.mjs FILE.md [FILE.md ...]
import { readFileSync } from 'node:fs'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { dirname, resolve } from 'node:path'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const WAIT_BACKGROUND_MS = 180_000 // a background block's expects (npm install included)
const WAIT_LATER_MS = 30_000 // its expect-later items, at the end of the file

// The ```sh blocks of a markdown file with the test: comments right above them.
export function blocks(text) {
  const lines = text.split('\n')
  const out = []
  let notes = []
  for (let i = 0; i < lines.length; i++) {
    const m = lines[i].match(/^<!--\s*test:\s*(\w[\w-]*)\s*(.*?)\s*-->\s*$/)
    if (m) { notes.push({ kind: m[1], arg: m[2] }); continue }
    if (/^```(sh|bash)\s*$/.test(lines[i])) {
      const start = i + 1
      let end = start
      while (end < lines.length && !/^```\s*$/.test(lines[end])) end++
      out.push({ line: start, code: lines.slice(start, end).join('\n'), notes })
      i = end
    }
    if (lines[i].trim() !== '' && !m) notes = []
  }
  return out
}

// A newcomer's shell: without the settings make test exports for its own clusters (which would
// point make example and friends at the e2e cluster instead of the demo).
const ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) =>
  !/^(ES_|ELECTRIC_|OVERSYNC_|DATABASE_URL$|PGPORT$|PGHOST$|PGDATABASE$|PGUSER$)/.test(k)))

function run(code, { background = false } = {}) {
  const child = spawn('bash', ['-e', '-o', 'pipefail', '-c', code], { cwd: ROOT, env: ENV, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  const proc = { child, output: '', exited: null }
  child.stdout.on('data', (d) => { proc.output += d })
  child.stderr.on('data', (d) => { proc.output += d })
  proc.done = new Promise((res) => child.on('close', (codeNum) => { proc.exited = codeNum; res(codeNum) }))
  if (background) child.unref()
  return proc
}

const stop = (proc) => { try { process.kill(-proc.child.pid, 'SIGTERM') } catch {} }
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function waitFor(proc, text, ms) {
  const t0 = Date.now()
  while (Date.now() - t0 < ms) {
    if (proc.output.includes(text)) return true
    if (proc.exited !== null) return proc.output.includes(text)
    await sleep(200)
  }
  return proc.output.includes(text)
}

const tail = (s, n = 25) => s.trimEnd().split('\n').slice(-n).map((l) => '    | ' + l).join('\n')

let passed = 0, failed = 0
function report(ok, name, detail) {
  if (ok) passed++; else failed++
  console.log(`${ok ? 'ok  ' : 'FAIL'} - ${name}`)
  if (!ok && detail) console.log(detail)
}

for (const file of process.argv.slice(2)) {
  const background = []
  for (const b of blocks(readFileSync(resolve(ROOT, file), 'utf8'))) {
    const name = `${file}:${b.line} ${b.code.split('\n').find((l) => l.trim() && !l.trim().startsWith('#'))?.trim().slice(0, 70) ?? ''}`
    const note = (k) => b.notes.filter((n) => n.kind === k).map((n) => n.arg)
    if (note('skip').length) { console.log(`skip - ${name} (${note('skip')[0]})`); continue }
    const expects = note('expect')
    if (note('background').length) {
      const proc = run(b.code, { background: true })
      let ok = true
      for (const e of expects) ok = ok && await waitFor(proc, e, WAIT_BACKGROUND_MS)
      report(ok, `${name} (started in the background${expects.length ? `, printed ${expects.map((e) => JSON.stringify(e)).join(', ')}` : ''})`, tail(proc.output))
      background.push({ proc, name, later: note('expect-later') })
      continue
    }
    const proc = run(b.code)
    const limit = Number(note('timeout')[0] || 600) * 1000
    const timer = setTimeout(() => stop(proc), limit)
    const rc = await proc.done
    clearTimeout(timer)
    const missing = expects.filter((e) => !proc.output.includes(e))
    report(rc === 0 && missing.length === 0, name,
      `    exit ${rc}${missing.length ? `; missing from the output: ${missing.map((e) => JSON.stringify(e)).join(', ')}` : ''}\n${tail(proc.output)}`)
  }
  for (const bg of background) {
    for (const e of bg.later) {
      const ok = await waitFor(bg.proc, e, WAIT_LATER_MS)
      report(ok, `${bg.name}: later printed "${e}"`, tail(bg.proc.output))
    }
    stop(bg.proc)
  }
}
console.log(`${passed} passed, ${failed} failed`)
process.exit(failed === 0 ? 0 : 1)
