package wire

import (
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"time"
)

func user(name string) string { return "wire-" + runID + "-" + name }

func userRow(id, name string, base int64, op string) PushRow {
	r := PushRow{Schema: "app", Table: "users", Key: map[string]any{"id": id}, Op: op, BaseRowVersion: base}
	if op != "DELETE" {
		r.Payload = map[string]any{"name": name, "email": strings.ToLower(name) + "@example.com <&>", "score": 1.5e-7, "blob": "AQIDBA=="}
	}
	return r
}

func postRow(id, author, title string, base int64, op string) PushRow {
	r := PushRow{Schema: "app", Table: "posts", Key: map[string]any{"id": id}, Op: op, BaseRowVersion: base}
	if op != "DELETE" {
		r.Payload = map[string]any{"author_id": author, "title": title, "body": "line1\nline2 \u2028 é"}
	}
	return r
}

func mustPush(t *testing.T, d *Device, rows []PushRow, chunk int) *Bundle {
	t.Helper()
	b, e := d.Push(rows, chunk)
	if e != nil {
		t.Fatalf("push: %v", e)
	}
	return b
}

func TestTwoDevicesConverge(t *testing.T) {
	setupSchema(t)
	u := user("conv")
	a, b := NewDevice(t, u, "dev-a-"+runID), NewDevice(t, u, "dev-b-"+runID)
	if r := a.Connect(true); r["resolution"] != "initialize_local" {
		t.Fatalf("A connect: %v", r)
	}
	if r := b.Connect(false); r["resolution"] != "retry_later" {
		t.Fatalf("B connect during A's lease: %v", r)
	}
	u1, p1, p2 := uuidv4(), uuidv4(), uuidv4()
	seed := []PushRow{userRow(u1, "Ann", 0, "INSERT"), postRow(p1, u1, "first", 0, "INSERT"), postRow(p2, u1, "second", 0, "INSERT")}
	bn := mustPush(t, a, seed, 1)
	if bn.RowCount != 3 || bn.BundleSeq != 1 {
		t.Fatalf("seed bundle %+v", bn)
	}
	if r := b.Connect(false); r["resolution"] != "remote_authoritative" {
		t.Fatalf("B connect after seed: %v", r)
	}
	if e := b.Hydrate(nil, 2); e != nil {
		t.Fatal(e)
	}
	sameRows(t, "B after hydrate", a.Snapshot(), b.Snapshot())
	// Offline edits on both devices, then sync both.
	mustPush(t, a, []PushRow{userRow(u1, "Ann Two", a.Base("app", "users", map[string]any{"id": u1}), "UPDATE")}, 10)
	n1 := PushRow{Schema: "app", Table: "notes", Key: map[string]any{"code": "n-1"}, Op: "INSERT", Payload: map[string]any{"body": "from B"}}
	mustPush(t, b, []PushRow{n1, postRow(p2, u1, "second (B)", b.Base("app", "posts", map[string]any{"id": p2}), "UPDATE"),
		postRow(p1, u1, "", b.Base("app", "posts", map[string]any{"id": p1}), "DELETE")}, 2)
	for _, d := range []*Device{a, b} {
		if e := d.Pull(1); e != nil {
			t.Fatal(e)
		}
	}
	server := ServerRows(t, u)
	sameRows(t, "A vs server", server, a.Snapshot())
	sameRows(t, "B vs server", server, b.Snapshot())
	if len(server) != 3 {
		t.Fatalf("server has %d rows", len(server))
	}
}

func TestConflictsServerWinsAndClientWins(t *testing.T) {
	setupSchema(t)
	u := user("conflict")
	a, b := NewDevice(t, u, "a"), NewDevice(t, u, "b")
	a.Connect(false)
	id := uuidv4()
	mustPush(t, a, []PushRow{userRow(id, "Base", 0, "INSERT")}, 10)
	b.Connect(false)
	b.Pull(10)
	key := map[string]any{"id": id}
	mustPush(t, a, []PushRow{userRow(id, "From A", a.Base("app", "users", key), "UPDATE")}, 10)
	// B's stale update conflicts; the 409 carries the server row.
	_, e := b.Push([]PushRow{userRow(id, "From B", b.Base("app", "users", key), "UPDATE")}, 10)
	if e == nil || e.Status != 409 || e.Code != "push_conflict" {
		t.Fatalf("want push_conflict, got %v", e)
	}
	c := e.Raw["conflict"].(map[string]any)
	if c["server_row_version"].(float64) != 2 || c["server_row_deleted"] != false || c["op"] != "UPDATE" {
		t.Fatalf("conflict body %v", c)
	}
	if sr := c["server_row"].(map[string]any); sr["name"] != "From A" {
		t.Fatalf("server_row %v", sr)
	}
	// Server wins: B takes the server state and drops its change.
	if e := b.Pull(10); e != nil {
		t.Fatal(e)
	}
	if b.Rows["app.users|"+id]["name"] != "From A" {
		t.Fatal("server-wins: B did not get A's row")
	}
	// Client wins: retry with the server version as base and the same source_bundle_id.
	mustPush(t, a, []PushRow{userRow(id, "A again", a.Base("app", "users", key), "UPDATE")}, 10)
	_, e = b.Push([]PushRow{userRow(id, "B wins", b.Base("app", "users", key), "UPDATE")}, 10)
	if e == nil || e.Code != "push_conflict" {
		t.Fatalf("want conflict, got %v", e)
	}
	sv := int64(e.Raw["conflict"].(map[string]any)["server_row_version"].(float64))
	mustPush(t, b, []PushRow{userRow(id, "B wins", sv, "UPDATE")}, 10)
	a.Pull(10)
	if a.Rows["app.users|"+id]["name"] != "B wins" {
		t.Fatal("client-wins result did not reach A")
	}
	// INSERT over a live row always conflicts; INSERT over a tombstone needs its version.
	_, e = a.Push([]PushRow{userRow(id, "dup", 0, "INSERT")}, 10)
	if e == nil || e.Code != "push_conflict" {
		t.Fatalf("insert over live row: %v", e)
	}
	mustPush(t, a, []PushRow{userRow(id, "", a.Base("app", "users", key), "DELETE")}, 10)
	_, e = a.Push([]PushRow{userRow(id, "again", 0, "INSERT")}, 10)
	if e == nil || e.Code != "push_conflict" || e.Raw["conflict"].(map[string]any)["server_row_deleted"] != true {
		t.Fatalf("insert over tombstone with base 0: %v", e)
	}
	mustPush(t, a, []PushRow{userRow(id, "again", a.Base("app", "users", key), "INSERT")}, 10)
}

func TestPushInterruptedAfterCommitIsReplayed(t *testing.T) {
	setupSchema(t)
	u := user("replay")
	a := NewDevice(t, u, "a")
	a.Connect(false)
	id := uuidv4()
	first := mustPush(t, a, []PushRow{userRow(id, "Once", 0, "INSERT")}, 10)
	// The client crashed before recording the commit: it retries the same source_bundle_id.
	a.NextSBID--
	again := mustPush(t, a, []PushRow{userRow(id, "Once", 0, "INSERT")}, 10)
	if again.BundleSeq != first.BundleSeq || again.BundleHash != first.BundleHash {
		t.Fatalf("replay %+v vs %+v", again, first)
	}
	if n := psql(t, fmt.Sprintf("SELECT count(*) FROM electric_sync.os_bundle_log WHERE user_id = '%s'", u)); n != "1" {
		t.Fatalf("replay created bundles: %s", n)
	}
	// Gaps in the source sequence are refused.
	a.NextSBID = 5
	if _, e := a.Push([]PushRow{userRow(uuidv4(), "x", 0, "INSERT")}, 10); e == nil || e.Code != "source_sequence_out_of_order" {
		t.Fatalf("gap: %v", e)
	}
}

func TestHistoryPrunedRebuildAndSourceReplacement(t *testing.T) {
	setupSchema(t)
	u := user("pruned")
	a, b := NewDevice(t, u, "a-"+runID), NewDevice(t, u, "b-"+runID)
	a.Connect(false)
	b.Connect(false)
	for i := 0; i < 4; i++ {
		mustPush(t, a, []PushRow{userRow(uuidv4(), fmt.Sprintf("n%d", i), 0, "INSERT")}, 10)
	}
	b.Pull(10) // b at 4
	mustPush(t, a, []PushRow{userRow(uuidv4(), "n5", 0, "INSERT")}, 10)
	psql(t, fmt.Sprintf("SELECT electric_sync.oversync_set_retention_floor('%s', 5)", u))
	if e := b.Pull(10); e == nil || e.Code != "history_pruned" {
		t.Fatalf("pull below floor: %v", e)
	}
	// Rebuild keeping the source.
	if e := b.Hydrate(nil, 3); e != nil {
		t.Fatal(e)
	}
	if b.Ckpt != 5 {
		t.Fatalf("checkpoint after rebuild %d", b.Ckpt)
	}
	sameRows(t, "B after rebuild", ServerRows(t, u), b.Snapshot())
	// Rotated rebuild: retire a's source, continue as a new one.
	old := a.Source
	repl := map[string]any{"previous_source_id": old, "new_source_id": old + "-2", "reason": "history_pruned"}
	if e := a.Hydrate(repl, 100); e != nil {
		t.Fatal(e)
	}
	stale := NewDevice(t, u, old)
	stale.NextSBID = 6
	if _, e := stale.Push([]PushRow{userRow(uuidv4(), "late", 0, "INSERT")}, 10); e == nil || e.Code != "source_retired" ||
		e.Raw["replaced_by_source_id"] != old+"-2" {
		t.Fatalf("push from retired source: %v", e)
	}
	// Retrying the same replacement is safe; a different one is refused.
	if e := stale.Hydrate(repl, 100); e != nil {
		t.Fatalf("retry replacement: %v", e)
	}
	stale2 := NewDevice(t, u, old)
	if e := stale2.Hydrate(map[string]any{"previous_source_id": old, "new_source_id": "other", "reason": "source_retired"}, 10); e == nil || e.Code != "source_retired" {
		t.Fatalf("different replacement: %v", e)
	}
	known := NewDevice(t, u, b.Source)
	if e := known.Hydrate(map[string]any{"previous_source_id": b.Source, "new_source_id": a.Source, "reason": "history_pruned"}, 10); e == nil || e.Code != "source_replacement_invalid" {
		t.Fatalf("replacement to a known source: %v", e)
	}
	bn := mustPush(t, a, []PushRow{userRow(uuidv4(), "new source", 0, "INSERT")}, 10)
	if bn.SourceBundleID != 1 || bn.SourceID != old+"-2" {
		t.Fatalf("new source bundle %+v", bn)
	}
}

func TestServerWritesReachDevices(t *testing.T) {
	setupSchema(t)
	u := user("server")
	id := uuidv4()
	// ExecWrite on an uninitialized scope auto-initializes it; a device then gets remote_authoritative.
	out := psql(t, fmt.Sprintf(`SELECT electric_sync.oversync_exec_write('%s', 'admin-%s',
	  $$INSERT INTO app.users (id, name) VALUES ('%s', 'from server')$$)`, u, runID, id))
	if !strings.Contains(out, `"auto_initialized": true`) {
		t.Fatalf("exec_write: %s", out)
	}
	a := NewDevice(t, u, "a")
	if r := a.Connect(true); r["resolution"] != "remote_authoritative" {
		t.Fatalf("connect: %v", r)
	}
	a.Hydrate(nil, 10)
	// A plain SQL write by the application becomes a bundle too.
	psql(t, fmt.Sprintf(`UPDATE app.users SET name = 'plain sql' WHERE _sync_scope_id = '%s'; INSERT INTO app.notes VALUES ('%s', 'k1', 'x')`, u, u))
	if e := a.Pull(10); e != nil {
		t.Fatal(e)
	}
	if a.Rows["app.users|"+id]["name"] != "plain sql" || a.Rows["app.notes|k1"] == nil {
		t.Fatalf("device rows %v", a.Rows)
	}
	sameRows(t, "server write", ServerRows(t, u), a.Snapshot())
}

func TestConcurrentUsersConverge(t *testing.T) {
	setupSchema(t)
	var wg sync.WaitGroup
	var devices []*Device
	for ui := 0; ui < 3; ui++ {
		u := user(fmt.Sprintf("conc%d", ui))
		for di := 0; di < 2; di++ {
			d := NewDevice(t, u, fmt.Sprintf("d%d", di))
			devices = append(devices, d)
		}
	}
	for _, d := range devices {
		d.Connect(false)
	}
	deadline := time.Now().Add(60 * time.Second)
	for i, d := range devices {
		wg.Add(1)
		go func(i int, d *Device) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(i) + time.Now().UnixNano()))
			for round := 0; round < 12 && time.Now().Before(deadline); round++ {
				var rows []PushRow
				var live []string
				for k := range d.Rows {
					if strings.HasPrefix(k, "app.users|") {
						live = append(live, strings.TrimPrefix(k, "app.users|"))
					}
				}
				n := 1 + rng.Intn(3)
				used := map[string]bool{}
				for j := 0; j < n; j++ {
					if len(live) == 0 || rng.Intn(3) == 0 {
						rows = append(rows, userRow(uuidv4(), fmt.Sprintf("d%d-r%d", i, round), 0, "INSERT"))
						continue
					}
					id := live[rng.Intn(len(live))]
					if used[id] {
						continue
					}
					used[id] = true
					op := "UPDATE"
					if rng.Intn(4) == 0 {
						op = "DELETE"
					}
					rows = append(rows, userRow(id, fmt.Sprintf("d%d-r%d-u", i, round), d.Base("app", "users", map[string]any{"id": id}), op))
				}
				if _, e := d.Push(rows, 2); e != nil {
					if e.Code != "push_conflict" {
						t.Errorf("device %d push: %v", i, e)
						return
					}
					// server wins: drop the change (the next push reuses the same source_bundle_id)
				}
				if e := d.Pull(3); e != nil {
					t.Errorf("device %d pull: %v", i, e)
					return
				}
			}
		}(i, d)
	}
	wg.Wait()
	for _, d := range devices {
		if e := d.Pull(1000); e != nil {
			t.Fatal(e)
		}
		sameRows(t, d.User+"/"+d.Source, ServerRows(t, d.User), d.Snapshot())
	}
	for ui := 0; ui < 3; ui++ {
		u := user(fmt.Sprintf("conc%d", ui))
		gap := psql(t, fmt.Sprintf(`SELECT count(*) = max(bundle_seq) AND max(bundle_seq) = (SELECT next_bundle_seq - 1 FROM electric_sync.os_user_state WHERE user_id = '%s')
		  FROM electric_sync.os_bundle_log WHERE user_id = '%s'`, u, u))
		if gap != "t" {
			t.Fatalf("bundle_seq of %s is not gapless", u)
		}
	}
}
