import { RawClient, FULL_TOKEN, sql, docId, sleep, closePool, healthStatus, T } from './lib.mjs'
const steps = process.argv[2].split(',')
const id = docId('repro')
const w = await RawClient.open({ token: FULL_TOKEN() })
await w.subscribe(id)
await w.delta(id, 'a', 1, { clientId: 'w' })
await w.delta(id, 'b', { deep: ['x'] }, { clientId: 'w' })
await w.delta(id, 'gone', 'soon', { clientId: 'w' })
let c
for (const s of steps) {
  if (s === 'delfield') await sql('SELECT electric_sync.document_delete_field($1, $2)', [id, 'gone'])
  if (s === 'sub2') { c = await RawClient.open({ token: FULL_TOKEN() }); await c.subscribe(id) }
  if (s === 'sleep') await sleep(300)
  if (s === 'deldoc') await sql('DELETE FROM electric_sync_docs.documents WHERE id = $1', [id])
  if (s === 'close') { w.close(); c?.close() }
}
await sleep(800)
process.stderr.write(`${steps}: health ${await healthStatus()}\n`)
await closePool(); process.exit(0)
