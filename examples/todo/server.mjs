// A tiny static server for the todo app (node stdlib only): GET / (index.html), /app.js (the
// bundle from build.mjs), /config.json (the server URL, the token, the user id and a new source
// id on every request, so every tab or reload is its own oversync source).
// Environment: TODO_ELECTRIC_URL (electric_sync's HTTP base URL), TODO_TOKEN (a bearer token for
// the write path), TODO_USER (the token's sub), TODO_PORT (first port to try, default 8151;
// the next ones up to TODO_PORT_LAST, default 8159, are tried when it is taken).
import { createServer } from 'node:http'
import { readFile } from 'node:fs/promises'
import { randomUUID } from 'node:crypto'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const need = (k) => process.env[k] || (console.error(`${k} is required`), process.exit(2))
const cfg = { electricUrl: need('TODO_ELECTRIC_URL'), token: need('TODO_TOKEN'), userId: need('TODO_USER') }
const first = Number(process.env.TODO_PORT || 8151)
const last = Number(process.env.TODO_PORT_LAST || 8159)
const host = process.env.TODO_HOST || '127.0.0.1'

const files = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/index.html': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['dist/app.js', 'text/javascript; charset=utf-8'],
  '/app.js.map': ['dist/app.js.map', 'application/json'],
}

const server = createServer(async (req, res) => {
  const path = new URL(req.url, 'http://x').pathname
  if (req.method !== 'GET' && req.method !== 'HEAD') { res.writeHead(405).end(); return }
  if (path === '/config.json') {
    const body = JSON.stringify({ ...cfg, sourceId: `tab-${randomUUID()}` })
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(body)
    return
  }
  if (path === '/favicon.ico') { res.writeHead(204).end(); return }
  const f = files[path]
  if (!f) { res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n'); return }
  try {
    const body = await readFile(join(here, f[0]))
    res.writeHead(200, { 'content-type': f[1], 'cache-control': 'no-cache' }).end(req.method === 'HEAD' ? undefined : body)
  } catch {
    res.writeHead(500, { 'content-type': 'text/plain' }).end(`${f[0]} is missing: run node build.mjs\n`)
  }
})

server.on('listening', () => {
  console.log(`todo app on http://${host}:${server.address().port}/ (electric_sync at ${cfg.electricUrl}, user ${cfg.userId})`)
})
function listen(port) {
  server.once('error', (e) => {
    if (e.code === 'EADDRINUSE' && port < last) listen(port + 1)
    else { console.error(`cannot listen on ${host}:${port}: ${e.message}`); process.exit(1) }
  })
  server.listen(port, host)
}
listen(first)
for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => { server.close(() => process.exit(0)); server.closeAllConnections() })
