import { RawClient, FULL_TOKEN, sql, docId, sleep, closePool, healthStatus, T } from './lib.mjs'
const mode = process.argv[2]
const id = docId('repro')
const c = await RawClient.open({ token: FULL_TOKEN() })
await c.subscribe(id)
await c.delta(id, 'a', 1, { clientId: 'r' })
if (mode === 'delfield') { await sql('SELECT electric_sync.document_delete_field($1, $2)', [id, 'a']); await sleep(300) }
if (mode === 'closefirst') { c.close(); await sleep(300) }
if (mode !== 'delfield') await sql('DELETE FROM electric_sync_docs.documents WHERE id = $1', [id])
await sleep(500)
process.stderr.write(`${mode}: health ${await healthStatus()} frames ${c.frames.map(f => f.type + JSON.stringify(f.payload)).join("\n  ")}\n`)
c.close(); await closePool(); process.exit(0)
