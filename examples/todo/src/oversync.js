// A minimal browser client of the oversync write path (docs/oversync.md): it sends rows as
// bundles (create a push session, stage the rows in one chunk, commit) with the token and this
// tab's source id, and keeps the row versions it needs for UPDATE and DELETE by reading the
// user's bundles from /sync/pull.

export class PushError extends Error {
  constructor(status, body, what) {
    super(`${what}: ${status} ${body?.error ?? ''} ${body?.message ?? ''}`.trim())
    this.status = status
    this.body = body
  }
}

export class OversyncWriter {
  constructor({ baseUrl, token, sourceId, schema = 'public', table, keyColumn = 'id', onEvent = () => {} }) {
    this.baseUrl = baseUrl.replace(/\/$/, '')
    this.token = token
    this.sourceId = sourceId
    this.schema = schema
    this.table = table
    this.keyColumn = keyColumn
    this.onEvent = onEvent
    this.nextBundleId = 1 // source_bundle_id of this source's next push (a fresh source starts at 1)
    this.afterSeq = 0 // the last bundle_seq read from /sync/pull
    this.versions = new Map() // key -> row_version (bundle_seq of the row's last change)
    this.connected = null
    this.queue = Promise.resolve() // pushes of one source are numbered: one at a time
  }

  async call(method, path, body, what) {
    const res = await fetch(this.baseUrl + path, {
      method,
      headers: {
        Authorization: `Bearer ${this.token}`,
        'Oversync-Source-ID': this.sourceId,
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await res.text()
    let json = null
    try { json = text ? JSON.parse(text) : null } catch { json = { message: text } }
    if (!res.ok) throw new PushError(res.status, json, what ?? `${method} ${path}`)
    return json
  }

  // POST /sync/connect once per page load. With no local pending rows the answer is
  // initialize_empty (a new user) or remote_authoritative; retry_later while another source
  // holds the user's initialization lease.
  connect() {
    if (!this.connected) {
      this.connected = (async () => {
        for (let attempt = 0; ; attempt++) {
          const r = await this.call('POST', '/sync/connect', { has_local_pending_rows: false }, 'connect')
          this.onEvent({ type: 'connect', resolution: r.resolution })
          if (r.resolution !== 'retry_later' || attempt >= 20) return r
          await new Promise((ok) => setTimeout(ok, 1000 * Math.min(5, r.retry_after_seconds ?? 1)))
        }
      })().catch((e) => { this.connected = null; throw e })
    }
    return this.connected
  }

  // Reads the bundles committed since the last pull and records the row versions of our table.
  async refreshVersions() {
    for (;;) {
      let page
      try {
        page = await this.call('GET', `/sync/pull?after_bundle_seq=${this.afterSeq}&max_bundles=1000`, undefined, 'pull')
      } catch (e) {
        // history pruned below our position: start over from the retained history; a row whose
        // version is then unknown is resolved by the conflict retry in push().
        if (e.status === 409 && e.body?.error === 'history_pruned') { this.afterSeq = 0; this.versions.clear(); return }
        throw e
      }
      for (const b of page.bundles ?? []) {
        for (const row of b.rows ?? []) {
          if (row.schema !== this.schema || row.table !== this.table) continue
          const key = String(row.key?.[this.keyColumn])
          if (row.op === 'DELETE') this.versions.delete(key)
          else this.versions.set(key, row.row_version)
        }
        this.afterSeq = Math.max(this.afterSeq, b.bundle_seq)
      }
      if (!page.has_more) {
        if (typeof page.stable_bundle_seq === 'number') this.afterSeq = Math.max(this.afterSeq, page.stable_bundle_seq)
        return
      }
    }
  }

  // changes: [{ op: 'INSERT'|'UPDATE'|'DELETE', key, payload? }]. Resolves with the commit reply.
  push(changes) {
    const run = this.queue.then(() => this.pushNow(changes))
    this.queue = run.catch(() => {})
    return run
  }

  async pushNow(changes) {
    await this.connect()
    if (changes.some((c) => c.op !== 'INSERT')) await this.refreshVersions()
    const base = new Map(changes.map((c) => [String(c.key), c.op === 'INSERT' ? 0 : this.versions.get(String(c.key)) ?? 0]))
    const sbid = this.nextBundleId
    for (let attempt = 0; ; attempt++) {
      const rows = changes.map((c) => ({
        schema: this.schema,
        table: this.table,
        key: { [this.keyColumn]: c.key },
        op: c.op,
        base_row_version: base.get(String(c.key)),
        ...(c.op === 'DELETE' ? {} : { payload: c.payload }),
      }))
      const session = await this.call('POST', '/sync/push-sessions',
        { source_bundle_id: sbid, planned_row_count: rows.length }, 'push-session create')
      if (session.status === 'already_committed') { this.nextBundleId = sbid + 1; return session }
      const id = encodeURIComponent(session.push_id)
      try {
        await this.call('POST', `/sync/push-sessions/${id}/chunks`, { start_row_ordinal: 0, rows }, 'push chunk')
        const committed = await this.call('POST', `/sync/push-sessions/${id}/commit`, undefined, 'push commit')
        this.nextBundleId = sbid + 1
        for (const c of changes) {
          if (c.op === 'DELETE') this.versions.delete(String(c.key))
          else this.versions.set(String(c.key), committed.bundle_seq)
        }
        this.onEvent({ type: 'pushed', bundle: committed })
        return committed
      } catch (e) {
        await this.call('DELETE', `/sync/push-sessions/${id}`, undefined, 'push-session delete').catch(() => {})
        // Someone changed the row since the version we know (another tab, or SQL): this app
        // lets the latest click win, so it retries once on top of the server's version (the
        // same source_bundle_id: nothing of this push was committed).
        const conflict = e.body?.conflict
        if (e.status === 409 && e.body?.error === 'push_conflict' && conflict && attempt < 2) {
          const key = String(conflict.key?.[this.keyColumn])
          const change = changes.find((c) => String(c.key) === key)
          if (change && change.op !== 'INSERT' && conflict.server_row_deleted) {
            changes = changes.filter((c) => c !== change) // already deleted on the server
            base.delete(key)
            if (changes.length === 0) return null
          } else {
            base.set(key, conflict.server_row_version ?? 0)
          }
          this.onEvent({ type: 'conflict', conflict })
          continue
        }
        throw e
      }
    }
  }
}
