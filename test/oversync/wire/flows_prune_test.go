package wire

import (
	"fmt"
	"testing"
)

// A follower below the retained floor gets 409 history_pruned, rebuilds from a snapshot
// (keeping its source) and pulls on.
func TestFlowPrunedFollowerBelowFloorRebuilds(t *testing.T) {
	s := fxBasic(t, "prune")
	u := fxUser(t, "prune")
	w, f := newFx(t, u, "w"), newFx(t, u, "f")
	w.Attach()
	f.Attach()
	for i := 0; i < 3; i++ {
		w.Insert(s, "items", key("id", uuidv4()), map[string]any{"name": fmt.Sprint(i)})
		w.MustPush(10)
	}
	f.MustPull(10)
	for i := 3; i < 6; i++ {
		w.Insert(s, "items", key("id", uuidv4()), map[string]any{"name": fmt.Sprint(i)})
		w.MustPush(10)
	}
	fxMoveFloor(t, u, 5)
	_, e := f.Pull(10)
	wantErr(t, "pull at 3 below floor 5", e, 409, "history_pruned")
	_, e = f.PullPage(5, 10, 0)
	wantErr(t, "pull at the floor", e, 409, "history_pruned")
	if e := f.Rebuild(nil, 2); e != nil || f.Ckpt != 6 {
		t.Fatalf("rebuild: %v, checkpoint %d", e, f.Ckpt)
	}
	w.Insert(s, "notes", key("code", "after"), map[string]any{"body": "x"})
	w.MustPush(10)
	f.MustPull(10)
	fxSameRows(t, "follower", fxServerRows(t, s, u), f.View())
}

// Known bug: a follower at after_bundle_seq=0 whose history is all gone (floor = latest) must
// get 409 history_pruned, then rebuild and pull on.
func TestFlowPrunedFollowerAtZeroGetsHistoryPruned(t *testing.T) {
	s := fxBasic(t, "prune0")
	u := fxUser(t, "prune0")
	w, z := newFx(t, u, "w"), newFx(t, u, "z")
	z.Attach() // initialize_empty, checkpoint 0, then offline
	w.Attach()
	for i := 0; i < 4; i++ {
		w.Insert(s, "items", key("id", uuidv4()), map[string]any{"name": fmt.Sprint(i)})
		w.MustPush(10)
	}
	fxMoveFloor(t, u, 4)
	p, e := z.PullPage(0, 10, 0)
	if e == nil {
		t.Fatalf("pull at after_bundle_seq=0 with floor 4 = latest: got 200 %+v, want 409 history_pruned (the follower would skip bundles 1..4)", p)
	}
	wantErr(t, "pull at 0 with all history pruned", e, 409, "history_pruned")
	if e := z.Rebuild(nil, 3); e != nil {
		t.Fatal(e)
	}
	// The rebuilt device holds everything. Its checkpoint (4) is the floor itself, which the
	// contract still answers history_pruned (after_bundle_seq in 1..floor) until retention
	// moves on, so there is no pull to check here.
	fxSameRows(t, "z", fxServerRows(t, s, u), z.View())
}
