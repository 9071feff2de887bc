package wire

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
)

// Device: a minimal in-memory oversync client (checkpoint, row versions, rows, outbox).
type Device struct {
	t        testing.TB
	User     string
	Source   string
	NextSBID int64
	Ckpt     int64
	Rows     map[string]map[string]any // "schema.table|key" -> payload
	Versions map[string]int64
	InitID   string
}

func NewDevice(t testing.TB, user, source string) *Device {
	return &Device{t: t, User: user, Source: source, NextSBID: 1, Rows: map[string]map[string]any{}, Versions: map[string]int64{}}
}

func rowID(schema, table string, key map[string]any) string {
	keys := make([]string, 0, len(key))
	for k := range key {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return fmt.Sprintf("%s.%s|%v", schema, table, key[keys[0]])
}

func (d *Device) Connect(pending bool) map[string]any {
	var out map[string]any
	if e := do(d.t, "POST", "/sync/connect", d.User, d.Source, map[string]any{"has_local_pending_rows": pending}, &out); e != nil {
		d.t.Fatalf("connect: %v", e)
	}
	if out["resolution"] == "initialize_local" {
		d.InitID = out["initialization_id"].(string)
	}
	return out
}

func (d *Device) apply(rows []BundleRow) {
	for _, r := range rows {
		id := rowID(r.Schema, r.Table, r.Key)
		if r.Op == "DELETE" {
			delete(d.Rows, id)
		} else {
			var p map[string]any
			json.Unmarshal(r.Payload, &p)
			d.Rows[id] = p
		}
		d.Versions[id] = r.RowVersion
	}
}

// Base version the device knows for a row.
func (d *Device) Base(schema, table string, key map[string]any) int64 {
	return d.Versions[rowID(schema, table, key)]
}

// Push stages rows in chunks of `chunk`, commits, replays the committed bundle and verifies
// row_count and bundle_hash. Returns the commit reply or the API error.
func (d *Device) Push(rows []PushRow, chunk int) (*Bundle, *apiErr) {
	t := d.t
	meta, e := pushBundle(t, d.User, d.Source, d.NextSBID, d.InitID, rows, chunk)
	if e != nil {
		return nil, e
	}
	got := d.FetchCommitted(meta.BundleSeq, 2)
	if int64(len(got.Rows)) != meta.RowCount || got.BundleHash != meta.BundleHash {
		t.Fatalf("committed bundle mismatch: %d rows vs row_count %d", len(got.Rows), meta.RowCount)
	}
	if h := bundleHash(t, got.Rows); h != meta.BundleHash {
		t.Fatalf("bundle_hash %s, Go computes %s", meta.BundleHash, h)
	}
	d.apply(got.Rows)
	d.NextSBID++
	d.InitID = ""
	return &meta, nil
}

// FetchCommitted pages GET /sync/committed-bundles/{seq}/rows with the contract's ordinal rule.
func (d *Device) FetchCommitted(seq int64, page int) Bundle {
	var all Bundle
	after := int64(-1)
	for {
		path := fmt.Sprintf("/sync/committed-bundles/%d/rows?max_rows=%d", seq, page)
		if after >= 0 {
			path += fmt.Sprintf("&after_row_ordinal=%d", after)
		}
		var r struct {
			Bundle
			Next    int64 `json:"next_row_ordinal"`
			HasMore bool  `json:"has_more"`
		}
		if e := do(d.t, "GET", path, d.User, d.Source, nil, &r); e != nil {
			d.t.Fatalf("committed rows: %v", e)
		}
		if want := after + int64(len(r.Rows)); len(r.Rows) > 0 && r.Next != want {
			d.t.Fatalf("next_row_ordinal %d, want %d", r.Next, want)
		}
		if r.HasMore && len(r.Rows) == 0 {
			d.t.Fatal("has_more with no rows")
		}
		rows := append(all.Rows, r.Rows...)
		all = r.Bundle
		all.Rows = rows
		after = r.Next
		if !r.HasMore {
			return all
		}
	}
}

// Pull to the stable ceiling; verifies ordering and each bundle's hash.
func (d *Device) Pull(max int) *apiErr {
	target := int64(0)
	for {
		var r struct {
			Stable  int64    `json:"stable_bundle_seq"`
			Bundles []Bundle `json:"bundles"`
			HasMore bool     `json:"has_more"`
		}
		path := fmt.Sprintf("/sync/pull?after_bundle_seq=%d&max_bundles=%d", d.Ckpt, max)
		if target > 0 {
			path += fmt.Sprintf("&target_bundle_seq=%d", target)
		}
		if e := do(d.t, "GET", path, d.User, d.Source, nil, &r); e != nil {
			return e
		}
		if r.Stable < d.Ckpt {
			d.t.Fatalf("stable %d < checkpoint %d", r.Stable, d.Ckpt)
		}
		target = r.Stable
		for _, b := range r.Bundles {
			if b.BundleSeq <= d.Ckpt || b.BundleSeq > r.Stable || b.SourceID == "" || b.SourceBundleID <= 0 {
				d.t.Fatalf("bad bundle %d (ckpt %d stable %d)", b.BundleSeq, d.Ckpt, r.Stable)
			}
			if h := bundleHash(d.t, b.Rows); h != b.BundleHash || int64(len(b.Rows)) != b.RowCount {
				d.t.Fatalf("pulled bundle %d hash/count mismatch", b.BundleSeq)
			}
			if !(b.SourceID == d.Source) {
				d.apply(b.Rows)
			} else {
				d.apply(b.Rows) // idempotent: our own bundles carry the authoritative after-images
			}
			d.Ckpt = b.BundleSeq
		}
		if !r.HasMore {
			d.Ckpt = r.Stable
			return nil
		}
	}
}

// Hydrate replaces local state with a snapshot (optionally rotating the source).
func (d *Device) Hydrate(replacement map[string]any, page int) *apiErr {
	var body any
	if replacement != nil {
		body = map[string]any{"source_replacement": replacement}
	}
	var s struct {
		ID       string `json:"snapshot_id"`
		Seq      int64  `json:"snapshot_bundle_seq"`
		RowCount int64  `json:"row_count"`
	}
	if e := do(d.t, "POST", "/sync/snapshot-sessions", d.User, d.Source, body, &s); e != nil {
		return e
	}
	rows := map[string]map[string]any{}
	vers := map[string]int64{}
	after := int64(0)
	for {
		var c struct {
			Rows []struct {
				BundleRow
			} `json:"rows"`
			Next    int64 `json:"next_row_ordinal"`
			HasMore bool  `json:"has_more"`
		}
		if e := do(d.t, "GET", fmt.Sprintf("/sync/snapshot-sessions/%s?after_row_ordinal=%d&max_rows=%d", s.ID, after, page),
			d.User, d.Source, nil, &c); e != nil {
			d.t.Fatalf("snapshot chunk: %v", e)
		}
		if c.Next != after+int64(len(c.Rows)) {
			d.t.Fatalf("snapshot next_row_ordinal %d, want %d", c.Next, after+int64(len(c.Rows)))
		}
		for _, r := range c.Rows {
			var p map[string]any
			json.Unmarshal(r.Payload, &p)
			id := rowID(r.Schema, r.Table, r.Key)
			rows[id] = p
			vers[id] = r.RowVersion
		}
		after = c.Next
		if !c.HasMore {
			break
		}
	}
	if after != s.RowCount {
		d.t.Fatalf("snapshot delivered %d rows, row_count %d", after, s.RowCount)
	}
	do(d.t, "DELETE", "/sync/snapshot-sessions/"+s.ID, d.User, d.Source, nil, nil)
	d.Rows, d.Versions, d.Ckpt = rows, vers, s.Seq
	if replacement != nil {
		d.Source = replacement["new_source_id"].(string)
		d.NextSBID = 1
	}
	return nil
}

// ServerRows reads the user's rows of app.* from the server tables, in the device's form.
func ServerRows(t testing.TB, user string) map[string]string {
	out := map[string]string{}
	for _, tb := range []struct{ name, key string }{{"users", "id"}, {"posts", "id"}, {"notes", "code"}} {
		q := fmt.Sprintf(`SELECT %s::text || E'\t' || electric_sync.os_canonical_json(electric_sync.os_wire_payload(to_jsonb(x) - '_sync_scope_id', t.bytea_columns))
		  FROM app.%s x, electric_sync.os_tables t WHERE t.schema_name = 'app' AND t.table_name = '%s' AND x._sync_scope_id = '%s'`,
			tb.key, tb.name, tb.name, user)
		for _, line := range strings.Split(psql(t, q), "\n") {
			if line == "" {
				continue
			}
			parts := strings.SplitN(line, "\t", 2)
			var v any
			json.Unmarshal([]byte(parts[1]), &v)
			b, _ := json.Marshal(v)
			out["app."+tb.name+"|"+parts[0]] = string(b)
		}
	}
	return out
}

func (d *Device) Snapshot() map[string]string {
	out := map[string]string{}
	for k, v := range d.Rows {
		b, _ := json.Marshal(v)
		out[k] = string(b)
	}
	return out
}

func sameRows(t testing.TB, what string, a, b map[string]string) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d rows vs %d rows", what, len(a), len(b))
	}
	for k, v := range a {
		if b[k] != v {
			t.Fatalf("%s: row %s differs:\n%s\n%s", what, k, v, b[k])
		}
	}
}
