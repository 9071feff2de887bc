package wire

import (
	"encoding/base64"
	"fmt"
	"testing"
)

// Push of local writes in one chunk and in several (chunk of 3 rows for 8 rows), with the
// client's checks on ordinals, row_count and bundle_hash (in Push), and a second device pulling
// them back page by page (max_bundles 1) under the frozen ceiling (in Pull).
func TestFlowPushChunksAndPagedPull(t *testing.T) {
	s := fxBasic(t, "chunks")
	u := fxUser(t, "chunks")
	a, b := newFx(t, u, "a"), newFx(t, u, "b")
	a.Attach()
	b.Attach() // before the pushes: b catches up by pulling, not from a snapshot
	a.Insert(s, "items", key("id", uuidv4()), map[string]any{"name": "single", "n": 1})
	if bd := a.MustPush(10); bd.RowCount != 1 {
		t.Fatalf("single-chunk bundle: %+v", bd)
	}
	for i := 0; i < 8; i++ {
		a.Insert(s, "items", key("id", uuidv4()), map[string]any{"name": fmt.Sprint("multi", i), "n": i})
	}
	if bd := a.MustPush(3); bd.RowCount != 8 || bd.BundleSeq != 2 {
		t.Fatalf("multi-chunk bundle: %+v", bd)
	}
	for i := 0; i < 3; i++ {
		a.Insert(s, "notes", key("code", fmt.Sprint("n", i)), map[string]any{"body": "x"})
		a.MustPush(10)
	}
	pages := b.MustPull(1)
	if len(pages) < 5 {
		t.Fatalf("max_bundles=1 over 5 bundles gave %d pages", len(pages))
	}
	if b.Ckpt != 5 {
		t.Fatalf("checkpoint after the pull: %d, want 5", b.Ckpt)
	}
	fxSameRows(t, "b", fxServerRows(t, s, u), b.View())
}

// bytea and typed columns (integer, real, text, NULL) round-trip exactly, both ways.
func TestFlowTypedColumnsRoundTrip(t *testing.T) {
	s := fxSchema(t, "typed", `CREATE TABLE S.things (_sync_scope_id text NOT NULL, id uuid NOT NULL,
	   i integer, r real, tx text, bin bytea, PRIMARY KEY (_sync_scope_id, id));`, "things")
	u := fxUser(t, "typed")
	a, b := newFx(t, u, "a"), newFx(t, u, "b")
	a.Attach()
	blob := base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 250, 255})
	a.Insert(s, "things", key("id", uuidv4()), map[string]any{"i": 42, "r": 1.5, "tx": "héllo \"q\"", "bin": blob})
	a.Insert(s, "things", key("id", uuidv4()), map[string]any{"i": nil, "r": nil, "tx": nil, "bin": nil})
	a.MustPush(10)
	// The server stored the values as typed columns.
	got := psql(t, fmt.Sprintf("SELECT i, r, tx, encode(bin, 'hex') FROM %s.things WHERE _sync_scope_id = %s AND i = 42", s, sqlQuote(u)))
	if got != "42|1.5|héllo \"q\"|000102faff" {
		t.Fatalf("stored row: %q", got)
	}
	// A server-side write of the same types reaches the other device unchanged.
	psql(t, fmt.Sprintf("UPDATE %s.things SET r = -2.25, bin = '\\x00ff'::bytea WHERE _sync_scope_id = %s AND i = 42", s, sqlQuote(u)))
	b.Attach()
	b.MustPull(10)
	fxSameRows(t, "b", fxServerRows(t, s, u), b.View())
	a.MustPull(10)
	fxSameRows(t, "a", fxServerRows(t, s, u), a.View())
}

// Three devices of one user converge, and two users writing at once never see each other's rows.
func TestFlowThreeDevicesAndTwoUsersConverge(t *testing.T) {
	s := fxBasic(t, "conv")
	u1, u2 := fxUser(t, "conv1"), fxUser(t, "conv2")
	devs := []*fxClient{newFx(t, u1, "a"), newFx(t, u1, "b"), newFx(t, u1, "c")}
	other := newFx(t, u2, "z")
	for _, d := range devs {
		d.Attach()
	}
	other.Attach()
	for round := 0; round < 3; round++ {
		for i, d := range devs {
			d.Insert(s, "notes", key("code", fmt.Sprintf("d%d-r%d", i, round)), map[string]any{"body": d.Name})
			d.MustPull(10)
			d.MustPush(10)
		}
		other.Insert(s, "notes", key("code", fmt.Sprintf("d0-r%d", round)), map[string]any{"body": "other user"})
		other.MustPush(10)
	}
	want := fxServerRows(t, s, u1)
	if len(want) != 9 {
		t.Fatalf("user 1 has %d rows on the server, want 9", len(want))
	}
	for _, d := range devs {
		d.MustPull(10)
		fxSameRows(t, d.Name, want, d.View())
	}
	other.MustPull(10)
	fxSameRows(t, "other user", fxServerRows(t, s, u2), other.View())
}
