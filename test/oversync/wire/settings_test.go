package wire

import (
	"fmt"
	"testing"
	"time"
)

// setSetting: ALTER SYSTEM + reload, undone at the end of the test. The pool's backends pick
// the reload up before their next command.
func setSetting(t *testing.T, name, value string) {
	t.Helper()
	psql(t, fmt.Sprintf("ALTER SYSTEM SET electric_sync.%s = '%s'", name, value))
	psql(t, "SELECT pg_reload_conf()")
	t.Cleanup(func() {
		psql(t, fmt.Sprintf("ALTER SYSTEM RESET electric_sync.%s", name))
		psql(t, "SELECT pg_reload_conf()")
		time.Sleep(300 * time.Millisecond)
	})
	time.Sleep(500 * time.Millisecond)
}

func TestSettingsShowInCapabilitiesAndLimitRequests(t *testing.T) {
	setupSchema(t)
	setSetting(t, "oversync_max_bundles_per_pull", "7")
	setSetting(t, "oversync_max_rows_per_push_chunk", "1")
	u := user("limits")
	var caps struct {
		Limits map[string]float64 `json:"bundle_limits"`
	}
	if e := do(t, "GET", "/sync/capabilities", u, "s-"+runID, nil, &caps); e != nil {
		t.Fatal(e)
	}
	if caps.Limits["max_bundles_per_pull"] != 7 || caps.Limits["max_rows_per_push_chunk"] != 1 ||
		caps.Limits["initialization_lease_ttl_seconds"] != 900 {
		t.Fatalf("bundle_limits %v", caps.Limits)
	}
	a := NewDevice(t, u, "s-"+runID)
	a.Connect(false)
	if e := do(t, "GET", "/sync/pull?max_bundles=8", u, a.Source, nil, nil); e == nil || e.Status != 400 || e.Code != "invalid_request" {
		t.Fatalf("max_bundles above the setting: %v", e)
	}
	if e := do(t, "GET", "/sync/pull?max_bundles=7", u, a.Source, nil, nil); e != nil {
		t.Fatalf("max_bundles at the setting: %v", e)
	}
	if _, e := a.Push([]PushRow{userRow(uuidv4(), "x", 0, "INSERT"), userRow(uuidv4(), "y", 0, "INSERT")}, 2); e == nil || e.Code != "push_chunk_invalid" {
		t.Fatalf("chunk above the setting: %v", e)
	}
}

// A short lease: the holder's lease makes another source wait (retry_later); once it expires
// the other source initializes, and the first one's initialization is stale.
func TestShortInitializationLeaseExpires(t *testing.T) {
	setupSchema(t)
	setSetting(t, "oversync_initialization_lease_ttl", "2s")
	u := user("lease")
	a, b := NewDevice(t, u, "la-"+runID), NewDevice(t, u, "lb-"+runID)
	if r := a.Connect(true); r["resolution"] != "initialize_local" {
		t.Fatalf("a: %v", r)
	}
	r := b.Connect(true)
	if r["resolution"] != "retry_later" || r["retry_after_seconds"].(float64) > 2 {
		t.Fatalf("b while held: %v", r)
	}
	time.Sleep(2500 * time.Millisecond)
	if r := b.Connect(true); r["resolution"] != "initialize_local" || b.InitID == a.InitID {
		t.Fatalf("b after expiry: %v", r)
	}
	if _, e := a.Push([]PushRow{userRow(uuidv4(), "a", 0, "INSERT")}, 10); e == nil || e.Code != "initialization_stale" {
		t.Fatalf("a's stale initialization: %v", e)
	}
	mustPush(t, b, []PushRow{userRow(uuidv4(), "b", 0, "INSERT")}, 10)
	if r := a.Connect(true); r["resolution"] != "remote_authoritative" {
		t.Fatalf("a after b's seed: %v", r)
	}
}

// A short push-session TTL: a session idle for longer expires (410 push_session_expired).
func TestShortPushSessionTTLExpires(t *testing.T) {
	setupSchema(t)
	setSetting(t, "oversync_push_session_ttl", "1s")
	u := user("pushttl")
	a := NewDevice(t, u, "p-"+runID)
	a.Connect(false)
	var cr map[string]any
	if e := do(t, "POST", "/sync/push-sessions", u, a.Source, map[string]any{"source_bundle_id": 1, "planned_row_count": 1}, &cr); e != nil {
		t.Fatal(e)
	}
	time.Sleep(1500 * time.Millisecond)
	e := do(t, "POST", "/sync/push-sessions/"+cr["push_id"].(string)+"/chunks", u, a.Source,
		map[string]any{"start_row_ordinal": 0, "rows": []PushRow{userRow(uuidv4(), "late", 0, "INSERT")}}, nil)
	if e == nil || e.Status != 410 || e.Code != "push_session_expired" {
		t.Fatalf("chunk after the TTL: %v", e)
	}
}
