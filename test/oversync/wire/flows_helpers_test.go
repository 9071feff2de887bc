package wire

// Client-level flow helpers: fxClient models what an oversqlite app holds (synced rows with
// their row versions, an outbox of local writes, a checkpoint, a source id and its
// source_bundle_id counter) and runs the client's own checks on every reply (ordinals, row
// counts, bundle_hash, pull ceilings). Each test builds its own schema of tables (fxSchema)
// and its own users (fxUser) and drops both at the end. Stdlib only; SQL goes through psql.

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// ---- SQL ----

func psqlTry(sql string) (string, error) {
	out, err := exec.Command("psql", dbURL, "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", sql).CombinedOutput()
	s := strings.TrimSpace(string(out))
	if err != nil {
		return s, fmt.Errorf("%v: %s", err, s)
	}
	return s, nil
}

func sqlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// fxUser: a unique user id, whose server state is removed when the test ends.
func fxUser(t *testing.T, name string) string {
	u := "fx-" + runID + "-" + name
	t.Cleanup(func() {
		q := sqlQuote(u)
		sql := ""
		for _, tb := range []string{"os_push_sessions", "os_snapshot_sessions", "os_bundle_log", "os_row_state",
			"os_source_state", "os_scope_state", "os_user_state"} {
			sql += fmt.Sprintf("DELETE FROM electric_sync.%s WHERE user_id = %s; ", tb, q)
		}
		if out, err := psqlTry(sql); err != nil {
			t.Logf("cleanup of user %s (best effort): %v %s", u, err, out)
		}
	})
	return u
}

// fxSchema creates schema fx_<run>_<name>, runs ddl (every "S." is replaced by the schema),
// registers tables (names without schema) in one call, and drops the schema at the end
// (dropping a registered table unregisters it). Returns the schema name.
func fxSchema(t *testing.T, name, ddl string, tables ...string) string {
	t.Helper()
	setupSchema(t) // the extension
	s := "fx_" + runID + "_" + name
	regs := make([]string, len(tables))
	for i, tb := range tables {
		regs[i] = sqlQuote(s + "." + tb)
	}
	psql(t, fmt.Sprintf("DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s; %s\nSELECT count(*) FROM electric_sync.oversync_register_tables(ARRAY[%s]::regclass[]);",
		s, s, strings.ReplaceAll(ddl, "S.", s+"."), strings.Join(regs, ",")))
	t.Cleanup(func() {
		if out, err := psqlTry("DROP SCHEMA IF EXISTS " + s + " CASCADE"); err != nil {
			t.Errorf("cleanup: drop schema %s: %v %s", s, err, out)
		}
	})
	return s
}

// fxServerRows: the user's rows in the schema's registered tables, read from the business
// tables, in wire form (Go-canonical JSON, bytea as base64), keyed "schema.table|key".
func fxServerRows(t *testing.T, schema, user string) map[string]string {
	t.Helper()
	out := map[string]string{}
	tabs := psql(t, fmt.Sprintf("SELECT table_name || ' ' || key_column FROM electric_sync.os_tables WHERE schema_name = %s ORDER BY 1", sqlQuote(schema)))
	for _, line := range strings.Split(tabs, "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		q := fmt.Sprintf(`SELECT x.%s::text || E'\t' || electric_sync.os_canonical_json(electric_sync.os_wire_payload(to_jsonb(x) - '_sync_scope_id', t.bytea_columns))
		  FROM %s.%s x, electric_sync.os_tables t WHERE t.schema_name = %s AND t.table_name = %s AND x._sync_scope_id = %s`,
			f[1], schema, f[0], sqlQuote(schema), sqlQuote(f[0]), sqlQuote(user))
		for _, l := range strings.Split(psql(t, q), "\n") {
			if l == "" {
				continue
			}
			parts := strings.SplitN(l, "\t", 2)
			out[schema+"."+f[0]+"|"+parts[0]] = goCanon(t, []byte(parts[1]))
		}
	}
	return out
}

func goCanon(t testing.TB, raw []byte) string {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("bad JSON %q: %v", raw, err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func fxSameRows(t *testing.T, what string, want, got map[string]string) {
	t.Helper()
	var diffs []string
	for k, v := range want {
		if g, ok := got[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("missing %s = %s", k, v))
		} else if g != v {
			diffs = append(diffs, fmt.Sprintf("row %s:\n    want %s\n    got  %s", k, v, g))
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("extra %s = %s", k, v))
		}
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		if len(diffs) > 10 {
			diffs = append(diffs[:10], fmt.Sprintf("... %d more", len(diffs)-10))
		}
		t.Fatalf("%s: %d rows expected, %d held; differences:\n  %s", what, len(want), len(got), strings.Join(diffs, "\n  "))
	}
}

// ---- the client model ----

type fxRow struct {
	Schema, Table string
	Key           map[string]any
	Payload       map[string]any // nil = tombstone (deleted)
	Version       int64
}

type fxPending struct {
	Schema, Table string
	Key           map[string]any
	Op            string
	Payload       map[string]any
}

type fxClient struct {
	t        *testing.T
	Name     string
	User     string
	Source   string
	NextSBID int64
	Ckpt     int64
	Synced   map[string]*fxRow // last known server state, incl. tombstones (Payload nil)
	order    []string          // outbox order (first local write)
	Pending  map[string]*fxPending
	InitID   string
}

func newFx(t *testing.T, user, source string) *fxClient {
	return &fxClient{t: t, Name: source, User: user, Source: source, NextSBID: 1,
		Synced: map[string]*fxRow{}, Pending: map[string]*fxPending{}}
}

func fxID(schema, table string, key map[string]any) string {
	if len(key) != 1 {
		panic(fmt.Sprintf("key %v: one sync key column expected", key))
	}
	for _, v := range key {
		return fmt.Sprintf("%s.%s|%v", schema, table, v)
	}
	return ""
}

// local write: the outbox coalesces like the client's dirty set.
func (c *fxClient) write(schema, table string, key map[string]any, op string, payload map[string]any) {
	id := fxID(schema, table, key)
	p, had := c.Pending[id]
	if !had {
		c.order = append(c.order, id)
		p = &fxPending{Schema: schema, Table: table, Key: key}
		c.Pending[id] = p
	}
	switch {
	case op == "DELETE" && had && p.Op == "INSERT":
		delete(c.Pending, id) // never reached the server
		c.dropOrder(id)
		return
	case op == "DELETE":
		p.Op, p.Payload = "DELETE", nil
	case op == "INSERT" || (had && p.Op == "INSERT"):
		p.Op = "INSERT"
		p.Payload = merge(p.Payload, payload)
	default: // UPDATE of a synced row: the client sends its full local row
		base := map[string]any{}
		if had && p.Payload != nil {
			base = p.Payload
		} else if r := c.Synced[id]; r != nil && r.Payload != nil {
			base = r.Payload
		}
		p.Op, p.Payload = "UPDATE", merge(base, payload)
	}
}

func merge(a, b map[string]any) map[string]any {
	m := map[string]any{}
	for k, v := range a {
		m[k] = v
	}
	for k, v := range b {
		m[k] = v
	}
	return m
}

func (c *fxClient) dropOrder(id string) {
	for i, x := range c.order {
		if x == id {
			c.order = append(c.order[:i], c.order[i+1:]...)
			return
		}
	}
}

func (c *fxClient) Insert(schema, table string, key map[string]any, payload map[string]any) {
	c.write(schema, table, key, "INSERT", payload)
}
func (c *fxClient) Update(schema, table string, key map[string]any, payload map[string]any) {
	c.write(schema, table, key, "UPDATE", payload)
}
func (c *fxClient) Delete(schema, table string, key map[string]any) {
	c.write(schema, table, key, "DELETE", nil)
}

// View: synced rows overlaid with local pending writes, in canonical JSON.
func (c *fxClient) View() map[string]string {
	out := map[string]string{}
	for id, r := range c.Synced {
		if r.Payload != nil {
			b, _ := json.Marshal(r.Payload)
			out[id] = string(b)
		}
	}
	for id, p := range c.Pending {
		if p.Op == "DELETE" {
			delete(out, id)
		} else {
			pl := p.Payload
			if r := c.Synced[id]; p.Op == "UPDATE" && r != nil && r.Payload != nil {
				pl = merge(r.Payload, p.Payload)
			}
			b, _ := json.Marshal(pl)
			out[id] = string(b)
		}
	}
	return out
}

func (c *fxClient) Version(schema, table string, key map[string]any) int64 {
	if r := c.Synced[fxID(schema, table, key)]; r != nil {
		return r.Version
	}
	return 0
}

func (c *fxClient) Row(schema, table string, key map[string]any) map[string]any {
	if r := c.Synced[fxID(schema, table, key)]; r != nil {
		return r.Payload
	}
	return nil
}

// PushRows: the outbox as push rows, with base_row_version from the synced state.
func (c *fxClient) PushRows() []PushRow {
	rows := make([]PushRow, 0, len(c.order))
	for _, id := range c.order {
		p := c.Pending[id]
		r := PushRow{Schema: p.Schema, Table: p.Table, Key: p.Key, Op: p.Op, Payload: p.Payload}
		if s := c.Synced[id]; s != nil {
			r.BaseRowVersion = s.Version
		}
		rows = append(rows, r)
	}
	return rows
}

func (c *fxClient) HasPending() bool { return len(c.Pending) > 0 }

// ---- HTTP flows with the client's checks ----

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)
var uuidRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

type fxConnect struct {
	Resolution        string `json:"resolution"`
	InitializationID  string `json:"initialization_id"`
	LeaseExpiresAt    string `json:"lease_expires_at"`
	RetryAfterSeconds *int64 `json:"retry_after_seconds"`
	raw               map[string]any
}

func (r fxConnect) Lease(t *testing.T) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, r.LeaseExpiresAt)
	if err != nil {
		t.Fatalf("lease_expires_at %q is not RFC 3339: %v", r.LeaseExpiresAt, err)
	}
	return ts
}

// Connect: POST /sync/connect with has_local_pending_rows = the outbox is not empty (or the
// given override), checking the reply's shape per resolution.
func (c *fxClient) Connect(pending ...bool) fxConnect {
	t := c.t
	t.Helper()
	has := c.HasPending()
	if len(pending) > 0 {
		has = pending[0]
	}
	var r fxConnect
	if e := do(t, "POST", "/sync/connect", c.User, c.Source, map[string]any{"has_local_pending_rows": has}, &r.raw); e != nil {
		t.Fatalf("%s: connect: %v", c.Name, e)
	}
	b, _ := json.Marshal(r.raw)
	json.Unmarshal(b, &r)
	switch r.Resolution {
	case "initialize_local":
		if !uuidRe.MatchString(r.InitializationID) || r.LeaseExpiresAt == "" || r.RetryAfterSeconds != nil {
			t.Fatalf("%s: initialize_local reply %v: want initialization_id (UUID) and lease_expires_at, no retry_after_seconds", c.Name, r.raw)
		}
		r.Lease(t)
		c.InitID = r.InitializationID
	case "retry_later":
		if r.RetryAfterSeconds == nil || *r.RetryAfterSeconds < 1 || r.LeaseExpiresAt == "" || r.InitializationID != "" {
			t.Fatalf("%s: retry_later reply %v: want retry_after_seconds >= 1 and lease_expires_at, no initialization_id", c.Name, r.raw)
		}
		r.Lease(t)
	case "initialize_empty", "remote_authoritative":
		if r.InitializationID != "" || r.RetryAfterSeconds != nil {
			t.Fatalf("%s: %s reply %v carries lease fields", c.Name, r.Resolution, r.raw)
		}
		c.InitID = ""
	default:
		t.Fatalf("%s: unknown resolution in %v", c.Name, r.raw)
	}
	return r
}

// Attach: capabilities (connect_lifecycle required, as the client does), connect, then act on
// the resolution as an app would: seed (initialize_local), start empty, or hydrate from a
// snapshot and keep the outbox (remote_authoritative). Returns the resolution.
func (c *fxClient) Attach() string {
	t := c.t
	t.Helper()
	var caps struct {
		Features map[string]bool `json:"features"`
	}
	if e := do(t, "GET", "/sync/capabilities", c.User, c.Source, nil, &caps); e != nil {
		t.Fatalf("%s: capabilities: %v", c.Name, e)
	}
	if !caps.Features["connect_lifecycle"] {
		t.Fatalf("%s: connect_lifecycle capability is absent", c.Name)
	}
	r := c.Connect()
	switch r.Resolution {
	case "initialize_local":
		c.MustPush(3)
	case "remote_authoritative":
		if e := c.Rebuild(nil, 50); e != nil {
			t.Fatalf("%s: hydrate: %v", c.Name, e)
		}
	}
	return r.Resolution
}

// Push stages the outbox in chunks of `chunk` rows, commits, fetches the committed bundle
// and checks it as the client does, then replays it into the synced state. On a contract
// error it returns the error and leaves the outbox as it was.
func (c *fxClient) Push(chunk int) (*Bundle, *apiErr) {
	t := c.t
	t.Helper()
	rows := c.PushRows()
	if len(rows) == 0 {
		t.Fatalf("%s: push with an empty outbox", c.Name)
	}
	meta, e := pushBundle(t, c.User, c.Source, c.NextSBID, c.InitID, rows, chunk)
	if e != nil {
		return nil, e
	}
	if meta.BundleSeq <= 0 || meta.SourceID != c.Source || meta.SourceBundleID != c.NextSBID || meta.RowCount <= 0 || !hex64.MatchString(meta.BundleHash) {
		t.Fatalf("%s: commit reply %+v: want bundle_seq > 0, source %s/%d, row_count > 0, 64-hex bundle_hash", c.Name, meta, c.Source, c.NextSBID)
	}
	got := c.FetchCommitted(meta.BundleSeq, 0)
	c.checkCommitted(meta, got)
	c.applyRows(got.Rows)
	c.Pending, c.order = map[string]*fxPending{}, nil
	c.NextSBID++
	c.InitID = ""
	return &meta, nil
}

func (c *fxClient) MustPush(chunk int) *Bundle {
	c.t.Helper()
	b, e := c.Push(chunk)
	if e != nil {
		c.t.Fatalf("%s: push: %v", c.Name, e)
	}
	return b
}

// checkCommitted: the client's checks of a fetched committed bundle against the commit reply.
func (c *fxClient) checkCommitted(meta Bundle, got Bundle) {
	t := c.t
	t.Helper()
	if got.BundleSeq != meta.BundleSeq || got.SourceID != meta.SourceID || got.SourceBundleID != meta.SourceBundleID ||
		got.RowCount != meta.RowCount || got.BundleHash != meta.BundleHash {
		t.Fatalf("%s: committed bundle metadata %+v differs from the commit reply %+v", c.Name, got, meta)
	}
	if int64(len(got.Rows)) != meta.RowCount {
		t.Fatalf("%s: committed bundle %d has %d rows, row_count %d", c.Name, meta.BundleSeq, len(got.Rows), meta.RowCount)
	}
	checkRows(t, c.Name, meta.BundleSeq, got.Rows)
	if h := bundleHash(t, got.Rows); h != meta.BundleHash {
		t.Fatalf("%s: bundle %d: bundle_hash %s, the client computes %s", c.Name, meta.BundleSeq, meta.BundleHash, h)
	}
}

func checkRows(t *testing.T, who string, seq int64, rows []BundleRow) {
	t.Helper()
	for i, r := range rows {
		if r.Schema == "" || r.Table == "" || len(r.Key) == 0 || r.RowVersion != seq {
			t.Fatalf("%s: bundle %d row %d %+v: want schema, table, key and row_version = bundle_seq", who, seq, i, r)
		}
		switch r.Op {
		case "INSERT", "UPDATE":
			if len(r.Payload) == 0 || r.Payload[0] != '{' {
				t.Fatalf("%s: bundle %d row %d: %s without an object payload (%s)", who, seq, i, r.Op, r.Payload)
			}
		case "DELETE":
			if len(r.Payload) != 0 && string(r.Payload) != "null" {
				t.Fatalf("%s: bundle %d row %d: DELETE with payload %s", who, seq, i, r.Payload)
			}
		default:
			t.Fatalf("%s: bundle %d row %d: op %q", who, seq, i, r.Op)
		}
	}
}

// FetchCommitted pages GET /sync/committed-bundles/{seq}/rows (page = max_rows, 0 = server
// default) with the client's next_row_ordinal and has_more checks.
func (c *fxClient) FetchCommitted(seq int64, page int) Bundle {
	b, e := c.fetchCommitted(seq, page)
	if e != nil {
		c.t.Fatalf("%s: committed bundle %d: %v", c.Name, seq, e)
	}
	return b
}

func (c *fxClient) fetchCommitted(seq int64, page int) (Bundle, *apiErr) {
	t := c.t
	t.Helper()
	var all Bundle
	after := int64(-1)
	for pages := 0; ; pages++ {
		path := fmt.Sprintf("/sync/committed-bundles/%d/rows", seq)
		var q []string
		if after >= 0 {
			q = append(q, fmt.Sprintf("after_row_ordinal=%d", after))
		}
		if page > 0 {
			q = append(q, fmt.Sprintf("max_rows=%d", page))
		}
		if len(q) > 0 {
			path += "?" + strings.Join(q, "&")
		}
		var r struct {
			Bundle
			Next    *int64 `json:"next_row_ordinal"`
			HasMore bool   `json:"has_more"`
		}
		if e := do(t, "GET", path, c.User, c.Source, nil, &r); e != nil {
			return all, e
		}
		if r.Next == nil {
			t.Fatalf("%s: %s: no next_row_ordinal", c.Name, path)
		}
		if page > 0 && len(r.Rows) > page {
			t.Fatalf("%s: %s: %d rows, max_rows %d", c.Name, path, len(r.Rows), page)
		}
		want := after + int64(len(r.Rows))
		if len(r.Rows) == 0 {
			want = max(after, 0)
		}
		if *r.Next != want {
			t.Fatalf("%s: %s: next_row_ordinal %d, the client expects %d", c.Name, path, *r.Next, want)
		}
		if r.HasMore && len(r.Rows) == 0 {
			t.Fatalf("%s: %s: has_more with no rows", c.Name, path)
		}
		if pages > 0 && (r.BundleSeq != all.BundleSeq || r.BundleHash != all.BundleHash || r.RowCount != all.RowCount) {
			t.Fatalf("%s: %s: bundle metadata changed between pages", c.Name, path)
		}
		rows := append(all.Rows, r.Rows...)
		all = r.Bundle
		all.Rows = rows
		after = *r.Next
		if !r.HasMore {
			return all, nil
		}
		if pages > 10000 {
			t.Fatalf("%s: committed bundle %d never ends", c.Name, seq)
		}
	}
}

func (c *fxClient) applyRows(rows []BundleRow) {
	for _, r := range rows {
		id := fxID(r.Schema, r.Table, r.Key)
		row := &fxRow{Schema: r.Schema, Table: r.Table, Key: r.Key, Version: r.RowVersion}
		if r.Op != "DELETE" {
			if err := json.Unmarshal(r.Payload, &row.Payload); err != nil {
				c.t.Fatalf("%s: payload %s: %v", c.Name, r.Payload, err)
			}
		}
		c.Synced[id] = row
	}
}

type fxPullPage struct {
	Stable  int64    `json:"stable_bundle_seq"`
	Bundles []Bundle `json:"bundles"`
	HasMore bool     `json:"has_more"`
}

// PullPage: one GET /sync/pull.
func (c *fxClient) PullPage(after int64, maxBundles int, target int64) (fxPullPage, *apiErr) {
	path := fmt.Sprintf("/sync/pull?after_bundle_seq=%d&max_bundles=%d", after, maxBundles)
	if target > 0 {
		path += fmt.Sprintf("&target_bundle_seq=%d", target)
	}
	var p fxPullPage
	e := do(c.t, "GET", path, c.User, c.Source, nil, &p)
	return p, e
}

// Pull to stable: the first page freezes stable_bundle_seq, later pages pass it back as
// target_bundle_seq; the client's checks on every page; the checkpoint moves to the last
// applied bundle and becomes stable only with has_more = false. Returns the pages seen.
func (c *fxClient) Pull(maxBundles int) ([]fxPullPage, *apiErr) {
	t := c.t
	t.Helper()
	var pages []fxPullPage
	target := int64(0)
	for {
		p, e := c.PullPage(c.Ckpt, maxBundles, target)
		if e != nil {
			return pages, e
		}
		pages = append(pages, p)
		if p.Stable < c.Ckpt {
			t.Fatalf("%s: stable_bundle_seq %d < after_bundle_seq %d", c.Name, p.Stable, c.Ckpt)
		}
		if target > 0 && p.Stable != target {
			t.Fatalf("%s: stable_bundle_seq %d moved from the frozen target %d", c.Name, p.Stable, target)
		}
		if len(p.Bundles) > maxBundles {
			t.Fatalf("%s: %d bundles, max_bundles %d", c.Name, len(p.Bundles), maxBundles)
		}
		if p.HasMore && len(p.Bundles) == 0 {
			t.Fatalf("%s: has_more with no bundles (after %d, stable %d)", c.Name, c.Ckpt, p.Stable)
		}
		target = p.Stable
		last := c.Ckpt
		for _, b := range p.Bundles {
			if b.BundleSeq <= last || b.BundleSeq > p.Stable || b.SourceID == "" || b.SourceBundleID <= 0 {
				t.Fatalf("%s: pulled bundle %d (source %q/%d) after %d, stable %d", c.Name, b.BundleSeq, b.SourceID, b.SourceBundleID, last, p.Stable)
			}
			if int64(len(b.Rows)) != b.RowCount {
				t.Fatalf("%s: pulled bundle %d has %d rows, row_count %d (bundles are never split)", c.Name, b.BundleSeq, len(b.Rows), b.RowCount)
			}
			checkRows(t, c.Name, b.BundleSeq, b.Rows)
			if h := bundleHash(t, b.Rows); h != b.BundleHash {
				t.Fatalf("%s: pulled bundle %d: bundle_hash %s, computed %s", c.Name, b.BundleSeq, b.BundleHash, h)
			}
			c.applyRows(b.Rows)
			last = b.BundleSeq
			c.Ckpt = last
		}
		if !p.HasMore {
			c.Ckpt = p.Stable
			return pages, nil
		}
	}
}

func (c *fxClient) MustPull(maxBundles int) []fxPullPage {
	c.t.Helper()
	p, e := c.Pull(maxBundles)
	if e != nil {
		c.t.Fatalf("%s: pull: %v", c.Name, e)
	}
	return p
}

// Rebuild from a snapshot session (optionally rotating the source): the synced state is
// replaced, the checkpoint becomes snapshot_bundle_seq, the outbox is kept (it is pushed
// later, by the new source after a rotation). Checks the snapshot paging rules.
func (c *fxClient) Rebuild(replacement map[string]any, page int) *apiErr {
	t := c.t
	t.Helper()
	var body any
	if replacement != nil {
		body = map[string]any{"source_replacement": replacement}
	}
	var s struct {
		ID        string `json:"snapshot_id"`
		Seq       int64  `json:"snapshot_bundle_seq"`
		RowCount  int64  `json:"row_count"`
		ByteCount int64  `json:"byte_count"`
		ExpiresAt string `json:"expires_at"`
	}
	if e := do(t, "POST", "/sync/snapshot-sessions", c.User, c.Source, body, &s); e != nil {
		return e
	}
	if !uuidRe.MatchString(s.ID) || s.Seq < 0 || s.RowCount < 0 || s.ExpiresAt == "" {
		t.Fatalf("%s: snapshot session %+v", c.Name, s)
	}
	synced := map[string]*fxRow{}
	after := int64(0)
	var bytes int64
	for {
		var ch struct {
			ID      string      `json:"snapshot_id"`
			Seq     int64       `json:"snapshot_bundle_seq"`
			Rows    []BundleRow `json:"rows"`
			Next    int64       `json:"next_row_ordinal"`
			HasMore bool        `json:"has_more"`
		}
		if e := do(t, "GET", fmt.Sprintf("/sync/snapshot-sessions/%s?after_row_ordinal=%d&max_rows=%d", s.ID, after, page),
			c.User, c.Source, nil, &ch); e != nil {
			t.Fatalf("%s: snapshot chunk: %v", c.Name, e)
		}
		if ch.ID != s.ID || ch.Seq != s.Seq || ch.Next != after+int64(len(ch.Rows)) || len(ch.Rows) > page || (ch.HasMore && len(ch.Rows) == 0) {
			t.Fatalf("%s: snapshot chunk after %d: id %s seq %d, %d rows, next_row_ordinal %d, has_more %v", c.Name, after, ch.ID, ch.Seq, len(ch.Rows), ch.Next, ch.HasMore)
		}
		for _, r := range ch.Rows {
			if r.Op != "" || len(r.Payload) == 0 || r.Payload[0] != '{' || r.RowVersion <= 0 || r.RowVersion > s.Seq {
				t.Fatalf("%s: snapshot row %+v: want no op, an object payload and 0 < row_version <= %d", c.Name, r, s.Seq)
			}
			id := fxID(r.Schema, r.Table, r.Key)
			if synced[id] != nil {
				t.Fatalf("%s: snapshot row %s delivered twice", c.Name, id)
			}
			row := &fxRow{Schema: r.Schema, Table: r.Table, Key: r.Key, Version: r.RowVersion}
			json.Unmarshal(r.Payload, &row.Payload)
			synced[id] = row
			bytes += int64(len(r.Payload))
		}
		after = ch.Next
		if !ch.HasMore {
			break
		}
	}
	if after != s.RowCount {
		t.Fatalf("%s: snapshot delivered %d rows, row_count %d", c.Name, after, s.RowCount)
	}
	do(t, "DELETE", "/sync/snapshot-sessions/"+s.ID, c.User, c.Source, nil, nil)
	// keep the tombstones the client knows that the snapshot does not contradict (their
	// versions are what a later INSERT over them needs)
	for id, r := range c.Synced {
		if r.Payload == nil && synced[id] == nil {
			synced[id] = r
		}
	}
	c.Synced, c.Ckpt = synced, s.Seq
	if replacement != nil {
		c.Source = replacement["new_source_id"].(string)
		c.NextSBID = 1
	}
	return nil
}

// wantErr fails unless e is the given status and code.
func wantErr(t *testing.T, what string, e *apiErr, status int, code string) {
	t.Helper()
	if e == nil {
		t.Fatalf("%s: succeeded, want %d %s", what, status, code)
	}
	if e.Status != status || e.Code != code {
		t.Fatalf("%s: got %v, want %d %s", what, e, status, code)
	}
}

// pollUntil runs f until it returns true or the timeout passes.
func pollUntil(t *testing.T, what string, timeout time.Duration, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fxMoveFloor moves the user's retained floor (electric_sync.oversync_set_retention_floor)
// and prunes the history at or below it: today set_retention_floor also prunes; once it only
// moves the floor, electric_sync.oversync_prune(...) prunes, and is called when it exists.
func fxMoveFloor(t *testing.T, user string, floor int64) {
	t.Helper()
	psql(t, fmt.Sprintf("SELECT electric_sync.oversync_set_retention_floor(%s, %d)", sqlQuote(user), floor))
	if psql(t, `SELECT count(*) FROM pg_proc WHERE pronamespace = 'electric_sync'::regnamespace AND proname = 'oversync_prune'`) != "0" {
		q := sqlQuote(user)
		var errs []string
		for _, call := range []string{"oversync_prune(" + q + ")", fmt.Sprintf("oversync_prune(%s, %d)", q, floor), "oversync_prune()"} {
			out, err := psqlTry("SELECT electric_sync." + call)
			if err == nil {
				errs = nil
				break
			}
			errs = append(errs, fmt.Sprintf("%s: %v %s", call, err, out))
		}
		if errs != nil {
			t.Fatalf("electric_sync.oversync_prune exists but no call form worked:\n%s", strings.Join(errs, "\n"))
		}
	}
	if got := psql(t, fmt.Sprintf("SELECT retained_floor FROM electric_sync.os_user_state WHERE user_id = %s", sqlQuote(user))); got != fmt.Sprint(floor) {
		t.Fatalf("retained floor of %s is %s after moving it to %d", user, got, floor)
	}
	if n := psql(t, fmt.Sprintf("SELECT count(*) FROM electric_sync.os_bundle_log WHERE user_id = %s AND bundle_seq <= %d", sqlQuote(user), floor)); n != "0" {
		t.Fatalf("%s bundles at or below the floor %d of %s are still stored after pruning", n, floor, user)
	}
}

func key(col, v string) map[string]any { return map[string]any{col: v} }
