// The todo app: reads the user's rows of public.todos through electric_sync's shape API twice
// (a TanStack DB electric collection, which the list edits optimistically, and useShape from
// @electric-sql/react, which shows the shape stream as the server sends it) and writes every
// change through the oversync push path (src/oversync.js).
import { StrictMode, useMemo, useState } from 'react'
import { createRoot } from 'react-dom/client'
import { useShape } from '@electric-sql/react'
import { createCollection, useLiveQuery } from '@tanstack/react-db'
import { electricCollectionOptions } from '@tanstack/electric-db-collection'
import { isChangeMessage } from '@electric-sql/client'
import { OversyncWriter } from './oversync.js'

// Postgres prints timestamptz as "2026-01-02 10:11:12.345678+00": make it an ISO string that
// Date.parse reads, so that synced rows and optimistic rows (new Date().toISOString()) sort alike.
const parser = {
  timestamptz: (v) => {
    const m = /^(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)(\.\d+)?([+-]\d\d)(?::?(\d\d))?$/.exec(v)
    if (!m) return v
    const ms = (m[3] ?? '.000').padEnd(4, '0').slice(0, 4)
    return new Date(`${m[1]}T${m[2]}${ms}${m[4]}:${m[5] ?? '00'}`).toISOString()
  },
}

function shapeOptions(cfg) {
  return {
    url: `${cfg.electricUrl.replace(/\/$/, '')}/v1/shape`,
    params: { table: 'todos', where: '_sync_scope_id = $1', params: [cfg.userId] },
    parser,
  }
}

function makeTodos(cfg, writer) {
  // Resolves when the shape stream carries the change we pushed, so the optimistic row is
  // replaced by the synced one without flicker.
  const awaitRow = (collection, id, op, check = () => true) =>
    collection.utils.awaitMatch(
      (msg) => isChangeMessage(msg) && msg.headers.operation === op && msg.value.id === id && check(msg.value),
      10000,
    )
  return createCollection(
    electricCollectionOptions({
      id: `todos-${cfg.userId}`,
      shapeOptions: shapeOptions(cfg),
      getKey: (row) => row.id,
      onInsert: async ({ transaction, collection }) => {
        await writer.push(transaction.mutations.map((m) => ({
          op: 'INSERT',
          key: m.modified.id,
          payload: { id: m.modified.id, title: m.modified.title, done: m.modified.done, created_at: m.modified.created_at },
        })))
        await Promise.all(transaction.mutations.map((m) => awaitRow(collection, m.modified.id, 'insert')))
      },
      onUpdate: async ({ transaction, collection }) => {
        await writer.push(transaction.mutations.map((m) => ({ op: 'UPDATE', key: m.original.id, payload: { ...m.changes } })))
        await Promise.all(transaction.mutations.map((m) =>
          awaitRow(collection, m.original.id, 'update', (v) => Object.entries(m.changes).every(([k, x]) => v[k] === undefined || v[k] === x))))
      },
      onDelete: async ({ transaction, collection }) => {
        await writer.push(transaction.mutations.map((m) => ({ op: 'DELETE', key: m.original.id })))
        await Promise.all(transaction.mutations.map((m) => awaitRow(collection, m.original.id, 'delete')))
      },
    }),
  )
}

const byCreated = (a, b) => String(a.created_at).localeCompare(String(b.created_at)) || String(a.id).localeCompare(String(b.id))

function TodoList({ todos, cfg, log }) {
  const { data = [], isLoading } = useLiveQuery((q) => q.from({ t: todos }))
  const [title, setTitle] = useState('')
  const rows = [...data].sort(byCreated)
  const act = (what, fn) => {
    try {
      const tx = fn()
      tx.isPersisted.promise.then(() => log(`${what}: saved`), (e) => log(`${what} failed: ${e.message}`, true))
    } catch (e) {
      log(`${what} failed: ${e.message}`, true)
    }
  }
  const add = (ev) => {
    ev.preventDefault()
    const t = title.trim()
    if (!t) return
    setTitle('')
    act(`add "${t}"`, () => todos.insert({
      _sync_scope_id: cfg.userId, id: crypto.randomUUID(), title: t, done: false, created_at: new Date().toISOString(),
    }))
  }
  return (
    <section className="panel">
      <h2>Todos <small>(TanStack DB collection; changes are pushed with oversync)</small></h2>
      <form onSubmit={add}>
        <input data-testid="new-title" value={title} onChange={(e) => setTitle(e.target.value)} placeholder="What needs doing?" />
        <button data-testid="add" type="submit">Add</button>
      </form>
      {isLoading ? <p>loading…</p> : null}
      <ul data-testid="todo-list">
        {rows.map((r) => (
          <li key={r.id} data-testid="todo" data-id={r.id} data-done={String(r.done)}>
            <label>
              <input type="checkbox" data-testid="toggle" checked={!!r.done}
                onChange={() => act(`toggle "${r.title}"`, () => todos.update(r.id, (d) => { d.done = !d.done }))} />
              <span className="title">{r.title}</span>
            </label>
            <button data-testid="delete" onClick={() => act(`delete "${r.title}"`, () => todos.delete(r.id))}>✕</button>
          </li>
        ))}
      </ul>
    </section>
  )
}

function ShapeView({ cfg }) {
  const opts = useMemo(() => shapeOptions(cfg), [cfg])
  const { data = [], isLoading, error } = useShape(opts)
  const rows = [...data].sort(byCreated)
  return (
    <section className="panel">
      <h2>Shape stream <small>(useShape from @electric-sql/react)</small></h2>
      {isLoading ? <p>loading…</p> : null}
      {error ? <p className="error">{String(error.message ?? error)}</p> : null}
      <ul data-testid="shape-list">
        {rows.map((r) => (
          <li key={r.id} data-testid="shape-row" data-id={r.id} data-done={String(r.done)}>
            {r.done ? '☑' : '☐'} <span className="title">{r.title}</span>
          </li>
        ))}
      </ul>
    </section>
  )
}

function App({ cfg, todos, writer }) {
  const [events, setEvents] = useState([])
  const log = (text, error = false) => setEvents((ev) => [...ev.slice(-7), { text, error, at: new Date().toLocaleTimeString() }])
  writer.onEvent = (e) => {
    if (e.type === 'connect') log(`connect: ${e.resolution}`)
    if (e.type === 'pushed') log(`pushed bundle ${e.bundle.bundle_seq} (source_bundle_id ${e.bundle.source_bundle_id})`)
    if (e.type === 'conflict') log(`conflict on ${JSON.stringify(e.conflict.key)}: retrying on version ${e.conflict.server_row_version}`)
  }
  return (
    <>
      <header>
        <h1>electric_sync todos</h1>
        <p>user <code data-testid="user">{cfg.userId}</code>, source <code data-testid="source">{cfg.sourceId}</code>, server <code>{cfg.electricUrl}</code></p>
      </header>
      <main>
        <TodoList todos={todos} cfg={cfg} log={log} />
        <ShapeView cfg={cfg} />
      </main>
      <ol data-testid="events" className="events">
        {events.map((e, i) => <li key={i} className={e.error ? 'error' : ''}>{e.at} {e.text}</li>)}
      </ol>
    </>
  )
}

async function start() {
  const cfg = await (await fetch('./config.json', { cache: 'no-store' })).json()
  const writer = new OversyncWriter({ baseUrl: cfg.electricUrl, token: cfg.token, sourceId: cfg.sourceId, table: 'todos' })
  const todos = makeTodos(cfg, writer)
  window.todoApp = { cfg, writer } // for the browser test and the curious
  writer.connect().catch((e) => console.error('oversync connect failed', e))
  createRoot(document.getElementById('root')).render(
    <StrictMode>
      <App cfg={cfg} todos={todos} writer={writer} />
    </StrictMode>,
  )
}

start().catch((e) => {
  document.getElementById('root').textContent = `failed to start: ${e.message}`
  console.error(e)
})
