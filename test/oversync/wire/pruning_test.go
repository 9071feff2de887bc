package wire

import (
	"fmt"
	"testing"
)

// A follower at after_bundle_seq=0 whose user's whole history is at or below the retained floor
// must get 409 history_pruned (go-oversync checks the resolved stable seq), then rebuild from a
// snapshot. Before the fix: 200 {"stable_bundle_seq":1,"bundles":[],"has_more":false}, forever.
func TestPullAtZeroBelowFloorIsHistoryPruned(t *testing.T) {
	setupSchema(t)
	u := user("prune0")
	a := NewDevice(t, u, "a-"+runID)
	a.Connect(false)
	mustPush(t, a, []PushRow{userRow(uuidv4(), "one", 0, "INSERT")}, 10)
	psql(t, fmt.Sprintf("SELECT electric_sync.oversync_set_retention_floor('%s', 1)", u))
	var out map[string]any
	e := do(t, "GET", "/sync/pull?after_bundle_seq=0&max_bundles=1000", u, "b-"+runID, nil, &out)
	if e == nil || e.Status != 409 || e.Code != "history_pruned" {
		t.Fatalf("pull at 0 below the floor: %v %v", e, out)
	}
	if e := do(t, "GET", "/sync/pull?after_bundle_seq=0&target_bundle_seq=1", u, "b-"+runID, nil, &out); e == nil || e.Code != "history_pruned" {
		t.Fatalf("target at the floor: %v", e)
	}
	b := NewDevice(t, u, "b-"+runID)
	if e := b.Hydrate(nil, 10); e != nil {
		t.Fatal(e)
	}
	if b.Ckpt != 1 {
		t.Fatalf("checkpoint after rebuild %d", b.Ckpt)
	}
	sameRows(t, "rebuilt", ServerRows(t, u), b.Snapshot())
}

// oversync_set_retention_floor moves the floor only: the bundles stay stored, yet every position
// at or below the floor is history_pruned (committed rows, push replays); oversync_prune deletes.
func TestFloorOnlyThenPrune(t *testing.T) {
	setupSchema(t)
	u := user("floor")
	a := NewDevice(t, u, "a-"+runID)
	a.Connect(false)
	for i := 0; i < 3; i++ {
		mustPush(t, a, []PushRow{userRow(uuidv4(), fmt.Sprintf("n%d", i), 0, "INSERT")}, 10)
	}
	psql(t, fmt.Sprintf("SELECT electric_sync.oversync_set_retention_floor('%s', 2)", u))
	if n := psql(t, fmt.Sprintf("SELECT count(*) FROM electric_sync.os_bundle_log WHERE user_id = '%s'", u)); n != "3" {
		t.Fatalf("floor pruned bundles: %s left", n)
	}
	var out map[string]any
	if e := do(t, "GET", "/sync/committed-bundles/2/rows", u, a.Source, nil, &out); e == nil || e.Code != "history_pruned" {
		t.Fatalf("committed rows at the floor: %v", e)
	}
	if e := do(t, "POST", "/sync/push-sessions", u, a.Source, map[string]any{"source_bundle_id": 1, "planned_row_count": 1}, &out); e == nil || e.Code != "history_pruned" {
		t.Fatalf("replay below the floor: %v %v", e, out)
	}
	if e := do(t, "POST", "/sync/push-sessions", u, a.Source, map[string]any{"source_bundle_id": 3, "planned_row_count": 1}, &out); e != nil || out["status"] != "already_committed" {
		t.Fatalf("replay above the floor: %v %v", e, out)
	}
	var pull struct {
		Stable  int64    `json:"stable_bundle_seq"`
		Bundles []Bundle `json:"bundles"`
	}
	if e := do(t, "GET", "/sync/pull?after_bundle_seq=0", u, a.Source, nil, &pull); e != nil || len(pull.Bundles) != 1 || pull.Bundles[0].BundleSeq != 3 {
		t.Fatalf("pull above the floor: %v %+v", e, pull)
	}
	if n := psql(t, fmt.Sprintf("SELECT electric_sync.oversync_prune('%s')", u)); n != "2" {
		t.Fatalf("pruned %s", n)
	}
}
