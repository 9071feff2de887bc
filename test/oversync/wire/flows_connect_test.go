package wire

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

const fxBasicDDL = `
CREATE TABLE S.items (_sync_scope_id text NOT NULL, id uuid NOT NULL, name text, n integer, PRIMARY KEY (_sync_scope_id, id));
CREATE TABLE S.notes (_sync_scope_id text NOT NULL, code text NOT NULL, body text, PRIMARY KEY (_sync_scope_id, code));`

func fxBasic(t *testing.T, name string) string { return fxSchema(t, name, fxBasicDDL, "items", "notes") }

// First connect, initialize_empty: no lease fields; pull and snapshot are empty; the device
// then writes normally; later devices get remote_authoritative.
func TestFlowFirstConnectInitializeEmpty(t *testing.T) {
	s := fxBasic(t, "cempty")
	u := fxUser(t, "cempty")
	a := newFx(t, u, "a")
	if r := a.Attach(); r != "initialize_empty" {
		t.Fatalf("A: %s, want initialize_empty", r)
	}
	if p := a.MustPull(10); p[0].Stable != 0 || len(p[0].Bundles) != 0 || a.Ckpt != 0 {
		t.Fatalf("pull of an empty scope: %+v", p)
	}
	a.Insert(s, "items", key("id", uuidv4()), map[string]any{"name": "first", "n": 1})
	if b := a.MustPush(10); b.BundleSeq != 1 || b.SourceBundleID != 1 {
		t.Fatalf("first bundle %+v", b)
	}
	if r := a.Connect(); r.Resolution != "remote_authoritative" {
		t.Fatalf("A reconnect: %v", r.raw)
	}
	b := newFx(t, u, "b")
	b.Insert(s, "notes", key("code", "b1"), map[string]any{"body": "local"})
	if r := b.Attach(); r != "remote_authoritative" {
		t.Fatalf("B: %s", r)
	}
	b.MustPush(10)
	a.MustPull(10)
	fxSameRows(t, "A", fxServerRows(t, s, u), a.View())
	fxSameRows(t, "B", fxServerRows(t, s, u), b.View())
}

// First connect, initialize_local: the device seeds the scope with its local rows (several
// chunks, under the initialization id); before that, pull says scope_initializing and a push
// without the id is refused; after it the id must be absent.
func TestFlowFirstConnectInitializeLocal(t *testing.T) {
	s := fxBasic(t, "clocal")
	u := fxUser(t, "clocal")
	a := newFx(t, u, "a")
	for i := 0; i < 7; i++ {
		a.Insert(s, "items", key("id", uuidv4()), map[string]any{"name": fmt.Sprintf("offline %d", i), "n": i})
	}
	r := a.Connect()
	if r.Resolution != "initialize_local" {
		t.Fatalf("connect with local rows: %v", r.raw)
	}
	if l := r.Lease(t); !l.After(time.Now().Add(-5 * time.Second)) {
		t.Fatalf("lease_expires_at %v is in the past", l)
	}
	if r2 := a.Connect(); r2.Resolution != "initialize_local" || r2.InitializationID != r.InitializationID {
		t.Fatalf("same source reconnect: %v, want the same initialization_id %s", r2.raw, r.InitializationID)
	}
	_, e := a.PullPage(0, 10, 0)
	wantErr(t, "pull while initializing", e, 409, "scope_initializing")
	a.InitID = ""
	_, e = a.Push(3)
	wantErr(t, "seed push without initialization_id", e, 400, "push_session_invalid")
	a.InitID = r.InitializationID
	seed := a.MustPush(3)
	if seed.BundleSeq != 1 || seed.RowCount != 7 {
		t.Fatalf("seed bundle %+v", seed)
	}
	if r := a.Connect(); r.Resolution != "remote_authoritative" {
		t.Fatalf("after seeding: %v", r.raw)
	}
	a.Insert(s, "notes", key("code", "n"), map[string]any{"body": "x"})
	a.InitID = r.InitializationID
	_, e = a.Push(3)
	wantErr(t, "push with an initialization_id after initialization", e, 400, "push_session_invalid")
	a.InitID = ""
	a.MustPush(3)
	b := newFx(t, u, "b")
	if r := b.Attach(); r != "remote_authoritative" {
		t.Fatalf("B: %s", r)
	}
	fxSameRows(t, "B hydrated", fxServerRows(t, s, u), b.View())
	if len(b.View()) != 8 {
		t.Fatalf("B holds %d rows, want 8", len(b.View()))
	}
}

// First connect, remote_authoritative: an initialized scope answers remote_authoritative even
// with local pending rows and even when it has no data; the device hydrates, keeps its outbox
// and pushes it as an ordinary bundle.
func TestFlowFirstConnectRemoteAuthoritative(t *testing.T) {
	s := fxBasic(t, "cremote")
	u := fxUser(t, "cremote")
	a := newFx(t, u, "a")
	a.Attach() // initialize_empty: the scope has no data
	b := newFx(t, u, "b")
	b.Insert(s, "items", key("id", uuidv4()), map[string]any{"name": "b offline"})
	if r := b.Connect(); r.Resolution != "remote_authoritative" {
		t.Fatalf("B with pending rows on an empty initialized scope: %v", r.raw)
	}
	if r := b.Attach(); r != "remote_authoritative" {
		t.Fatal(r)
	}
	if bn := b.MustPush(10); bn.BundleSeq != 1 {
		t.Fatalf("B's bundle %+v", bn)
	}
	c := newFx(t, u, "c")
	c.Insert(s, "notes", key("code", "c"), map[string]any{"body": "c offline"})
	if r := c.Attach(); r != "remote_authoritative" || c.Ckpt != 1 {
		t.Fatalf("C: %s, checkpoint %d", r, c.Ckpt)
	}
	if len(c.View()) != 2 {
		t.Fatalf("C after hydrate (outbox kept): %v", c.View())
	}
	c.MustPush(10)
	a.MustPull(10)
	b.MustPull(10)
	for _, d := range []*fxClient{a, b, c} {
		fxSameRows(t, d.Name, fxServerRows(t, s, u), d.View())
	}
}

const leaseGUC = "electric_sync.oversync_initialization_lease_ttl"

// retry_later under a held lease, then the lease expires and the other source initializes.
// Needs electric_sync.oversync_initialization_lease_ttl (set to 3 s here, reset at the end).
func TestFlowFirstConnectRetryLaterThenLeaseExpiry(t *testing.T) {
	s := fxBasic(t, "clease")
	if out, err := psqlTry("SHOW " + leaseGUC); err != nil {
		t.Fatalf("setting %s is missing on this server (SHOW failed: %s); the lease expiry flow cannot be tested", leaseGUC, out)
	}
	set := func(v string) error {
		_, err := psqlTry(fmt.Sprintf("ALTER SYSTEM SET %s = %s", leaseGUC, sqlQuote(v)))
		return err
	}
	if err := set("3s"); err != nil {
		if err2 := set("3"); err2 != nil {
			t.Fatalf("ALTER SYSTEM SET %s: %v / %v", leaseGUC, err, err2)
		}
	}
	psql(t, "SELECT pg_reload_conf()")
	probeLease := func() time.Duration {
		p := newFx(t, fxUser(t, fmt.Sprintf("probe%d", time.Now().UnixNano()%1e9)), "probe")
		r := p.Connect(true)
		return time.Until(r.Lease(t))
	}
	t.Cleanup(func() {
		psqlTry("ALTER SYSTEM RESET " + leaseGUC)
		psqlTry("SELECT pg_reload_conf()")
		deadline := time.Now().Add(10 * time.Second)
		for probeLease() < time.Minute && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
	})
	pollUntil(t, "the server to grant 3 s leases", 10*time.Second, func() bool { return probeLease() < 5*time.Second })

	u := fxUser(t, "clease")
	a, b := newFx(t, u, "a"), newFx(t, u, "b")
	a.Insert(s, "items", key("id", uuidv4()), map[string]any{"name": "from A"})
	b.Insert(s, "items", key("id", uuidv4()), map[string]any{"name": "from B"})
	ra := a.Connect()
	if ra.Resolution != "initialize_local" {
		t.Fatalf("A: %v", ra.raw)
	}
	aInit := a.InitID
	for _, pending := range []bool{false, true} {
		rb := b.Connect(pending)
		if rb.Resolution != "retry_later" || *rb.RetryAfterSeconds > 4 || rb.LeaseExpiresAt != ra.LeaseExpiresAt {
			t.Fatalf("B (pending %v) under A's lease: %v (A's lease %s)", pending, rb.raw, ra.LeaseExpiresAt)
		}
	}
	_, e := b.PullPage(0, 10, 0)
	wantErr(t, "B pull under A's lease", e, 409, "scope_initializing")
	// The lease lapses: the scope reads as uninitialized, A's initialization has expired.
	pollUntil(t, "A's lease to expire", 10*time.Second, func() bool {
		_, e := b.PullPage(0, 10, 0)
		if e == nil || e.Status != 409 || (e.Code != "scope_initializing" && e.Code != "scope_uninitialized") {
			t.Fatalf("B pull while waiting: %v", e)
		}
		return e.Code == "scope_uninitialized"
	})
	_, e = a.Push(10)
	wantErr(t, "A's seed after its lease expired", e, 410, "initialization_expired")
	// The other source initializes now.
	if rb := b.Connect(); rb.Resolution != "initialize_local" || b.InitID == aInit {
		t.Fatalf("B after the lease expired: %v", rb.raw)
	}
	a.InitID = aInit
	_, e = a.Push(10)
	wantErr(t, "A's seed under B's initialization", e, 409, "initialization_stale")
	if r := a.Connect(); r.Resolution != "retry_later" {
		t.Fatalf("A under B's lease: %v", r.raw)
	}
	b.MustPush(1)
	if r := a.Attach(); r != "remote_authoritative" {
		t.Fatalf("A after B seeded: %s", r)
	}
	a.MustPush(10)
	b.MustPull(10)
	fxSameRows(t, "A", fxServerRows(t, s, u), a.View())
	fxSameRows(t, "B", fxServerRows(t, s, u), b.View())
	if !strings.Contains(fmt.Sprint(a.View()), "from B") {
		t.Fatal("A lacks B's seed")
	}
}
