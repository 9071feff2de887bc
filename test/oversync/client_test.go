// End-to-end tests of electric_sync's write path with the real oversqlite Go client
// (github.com/mobiletoly/go-oversync v0.2.0) over local SQLite databases. The client checks
// response shapes, ordinals, row counts and bundle_hash, so it is the conformance oracle.
// Env: OVERSYNC_BASE_URL, OVERSYNC_JWT_SECRET, DATABASE_URL (psql runs server-side SQL).
package oversynctest

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"electric_sync/test/oversync/testenv"
	_ "github.com/mattn/go-sqlite3"
	"github.com/mobiletoly/go-oversync/oversqlite"
)

var (
	baseURL   = testenv.BaseURL
	jwtSecret = testenv.JWTSecret
	dbURL     = testenv.DatabaseURL
	runID     = fmt.Sprintf("%d", time.Now().UnixNano()%1e12)
)

func token(sub string) string { return testenv.Token(jwtSecret, sub, time.Now().Add(time.Hour)) }

func psql(t testing.TB, q string) string { t.Helper(); return testenv.Psql(t, q) }

// Server schema: testenv.ServerSchema (PostgreSQL, schema "app"); the same tables in each
// device's SQLite:
var localSchema = []string{
	`CREATE TABLE users (id TEXT PRIMARY KEY NOT NULL, name TEXT, email TEXT, score REAL, blob BLOB)`,
	`CREATE TABLE posts (id TEXT PRIMARY KEY NOT NULL, author_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED, title TEXT, body TEXT)`,
	`CREATE TABLE notes (code TEXT PRIMARY KEY NOT NULL, body TEXT)`,
}

type device struct {
	t    testing.TB
	user string
	name string
	db   *sql.DB
	c    *oversqlite.Client
}

func newDevice(t testing.TB, user, name string) *device {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".db")
	db, err := sql.Open("sqlite3", path+"?_foreign_keys=on&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	for _, s := range localSchema {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	cfg := oversqlite.DefaultConfig("app", []oversqlite.SyncTable{
		{TableName: "users", SyncKeyColumnName: "id"},
		{TableName: "posts", SyncKeyColumnName: "id"},
		{TableName: "notes", SyncKeyColumnName: "code"},
	})
	cfg.UploadLimit = 2 // several chunks per push
	cfg.DownloadLimit = 3
	cfg.SnapshotChunkRows = 2
	c, err := oversqlite.NewClient(db, baseURL, func(context.Context) (string, error) { return token(user), nil }, cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { c.Close(); db.Close() })
	d := &device{t: t, user: user, name: name, db: db, c: c}
	ctx := context.Background()
	if err := errOf(c.Open(ctx)); err != nil {
		t.Fatalf("Open: %v", err)
	}
	return d
}

// errOf returns the trailing error of any call result (T, error) or (error).
func errOf(vals ...any) error {
	if len(vals) == 0 {
		return nil
	}
	if err, ok := vals[len(vals)-1].(error); ok {
		return err
	}
	return nil
}

func (d *device) attach() oversqlite.AttachResult {
	d.t.Helper()
	for i := 0; i < 50; i++ {
		r, err := d.c.Attach(context.Background(), d.user)
		if err != nil {
			d.t.Fatalf("%s Attach: %v", d.name, err)
		}
		if r.Status != oversqlite.AttachStatusRetryLater {
			return r
		}
		time.Sleep(200 * time.Millisecond)
	}
	d.t.Fatalf("%s: attach kept retrying", d.name)
	return oversqlite.AttachResult{}
}

func (d *device) exec(q string, args ...any) {
	d.t.Helper()
	if _, err := d.db.Exec(q, args...); err != nil {
		d.t.Fatalf("%s: %s: %v", d.name, q, err)
	}
}

func (d *device) sync() {
	d.t.Helper()
	if err := errOf(d.c.Sync(context.Background())); err != nil {
		d.t.Fatalf("%s Sync: %v", d.name, err)
	}
}

// rows returns table|key -> canonical JSON of the compared columns, from SQLite.
func (d *device) rows() map[string]string {
	out := map[string]string{}
	q := map[string]string{
		"users": `SELECT id, json_object('name', name, 'email', email) FROM users`,
		"posts": `SELECT id, json_object('author_id', author_id, 'title', title, 'body', body) FROM posts`,
		"notes": `SELECT code, json_object('body', body) FROM notes`,
	}
	for tb, s := range q {
		r, err := d.db.Query(s)
		if err != nil {
			d.t.Fatal(err)
		}
		for r.Next() {
			var k, v string
			r.Scan(&k, &v)
			out[tb+"|"+strings.ToLower(k)] = canon(v)
		}
		r.Close()
	}
	return out
}

func serverRows(t testing.TB, user string) map[string]string {
	out := map[string]string{}
	q := map[string]string{
		"users": `SELECT id::text, json_build_object('name', name, 'email', email) FROM app.users WHERE _sync_scope_id = '%s'`,
		"posts": `SELECT id::text, json_build_object('author_id', author_id, 'title', title, 'body', body) FROM app.posts WHERE _sync_scope_id = '%s'`,
		"notes": `SELECT code, json_build_object('body', body) FROM app.notes WHERE _sync_scope_id = '%s'`,
	}
	for tb, s := range q {
		res := psql(t, "COPY ("+fmt.Sprintf(s, user)+") TO STDOUT WITH (FORMAT csv, DELIMITER E'\\t', QUOTE E'\\x01')")
		for _, line := range strings.Split(res, "\n") {
			if line == "" {
				continue
			}
			parts := strings.SplitN(line, "\t", 2)
			out[tb+"|"+parts[0]] = canon(parts[1])
		}
	}
	return out
}

func canon(s string) string {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return "invalid:" + s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func converged(t testing.TB, what string, server map[string]string, devs ...*device) {
	t.Helper()
	for _, d := range devs {
		local := d.rows()
		if len(local) != len(server) {
			t.Fatalf("%s: %s has %d rows, server %d\nlocal %v\nserver %v", what, d.name, len(local), len(server), keys(local), keys(server))
		}
		for k, v := range server {
			if local[k] != v {
				t.Fatalf("%s: %s row %s = %s, server %s", what, d.name, k, local[k], v)
			}
		}
	}
}

func keys(m map[string]string) []string {
	var k []string
	for x := range m {
		k = append(k, x)
	}
	sort.Strings(k)
	return k
}

func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func TestMain(m *testing.M) {
	out, err := exec.Command("psql", dbURL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", testenv.ServerSchema).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "server schema setup failed: %v\n%s", err, out)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func TestTwoDevicesConvergeAfterOfflineEdits(t *testing.T) {
	u := "c-" + runID + "-conv"
	a, b := newDevice(t, u, "a"), newDevice(t, u, "b")
	uid, p1 := newID(), newID()
	a.exec(`INSERT INTO users (id, name, email) VALUES (?, 'Ann', 'ann@example.com')`, uid)
	a.exec(`INSERT INTO posts (id, author_id, title, body) VALUES (?, ?, 'hello <world> & more', 'line1
line2 é')`, p1, uid)
	if r := a.attach(); r.Outcome != oversqlite.AttachOutcomeSeededLocal {
		t.Fatalf("A attach outcome %v", r.Outcome)
	}
	a.sync()
	if r := b.attach(); r.Outcome != oversqlite.AttachOutcomeUsedRemote {
		t.Fatalf("B attach outcome %v", r.Outcome)
	}
	converged(t, "after hydrate", serverRows(t, u), a, b)
	// Offline edits on both devices.
	a.exec(`UPDATE users SET name = 'Ann (A)' WHERE id = ?`, uid)
	a.exec(`INSERT INTO notes (code, body) VALUES ('a1', 'from A')`)
	b.exec(`UPDATE posts SET title = 'edited on B' WHERE id = ?`, p1)
	b.exec(`INSERT INTO notes (code, body) VALUES ('b1', 'from B')`)
	a.sync()
	b.sync()
	a.sync()
	converged(t, "after offline edits", serverRows(t, u), a, b)
}

func TestConflictsServerWinsAndClientWins(t *testing.T) {
	u := "c-" + runID + "-conflict"
	a, b := newDevice(t, u, "a"), newDevice(t, u, "b")
	a.attach()
	uid := newID()
	a.exec(`INSERT INTO users (id, name, email) VALUES (?, 'base', 'x')`, uid)
	a.sync()
	b.attach()
	b.sync()
	// server wins (default resolver)
	a.exec(`UPDATE users SET name = 'A1' WHERE id = ?`, uid)
	a.sync()
	b.exec(`UPDATE users SET name = 'B1' WHERE id = ?`, uid)
	b.sync()
	converged(t, "server wins", serverRows(t, u), b)
	if got := psql(t, fmt.Sprintf(`SELECT name FROM app.users WHERE id = '%s'`, uid)); got != "A1" {
		t.Fatalf("server-wins: server has %q", got)
	}
	// client wins
	b.c.Resolver = &oversqlite.ClientWinsResolver{}
	a.exec(`UPDATE users SET name = 'A2' WHERE id = ?`, uid)
	a.sync()
	b.exec(`UPDATE users SET name = 'B2' WHERE id = ?`, uid)
	b.sync()
	a.sync()
	if got := psql(t, fmt.Sprintf(`SELECT name FROM app.users WHERE id = '%s'`, uid)); got != "B2" {
		t.Fatalf("client-wins: server has %q", got)
	}
	converged(t, "client wins", serverRows(t, u), a, b)
}

func TestPushInterruptedAfterCommitIsReplayed(t *testing.T) {
	u := "c-" + runID + "-replay"
	a := newDevice(t, u, "a")
	a.attach()
	a.exec(`INSERT INTO notes (code, body) VALUES ('n1', 'one'), ('n2', 'two'), ('n3', 'three')`)
	fail := true
	a.c.SetBeforePushReplayHook(func(context.Context) error {
		if fail {
			fail = false
			return fmt.Errorf("simulated crash after commit")
		}
		return nil
	})
	if err := errOf(a.c.PushPending(context.Background())); err == nil {
		t.Fatal("expected the simulated crash")
	}
	if n := psql(t, fmt.Sprintf(`SELECT count(*) FROM app.notes WHERE _sync_scope_id = '%s'`, u)); n != "3" {
		t.Fatalf("server has %s rows after the committed push", n)
	}
	a.sync()
	if n := psql(t, fmt.Sprintf(`SELECT count(*) FROM electric_sync.os_bundle_log WHERE user_id = '%s'`, u)); n != "1" {
		t.Fatalf("replay created extra bundles: %s", n)
	}
	converged(t, "after replay", serverRows(t, u), a)
}

func TestHydrateHistoryPrunedRebuildAndSourceReplacement(t *testing.T) {
	u := "c-" + runID + "-pruned"
	a, b := newDevice(t, u, "a"), newDevice(t, u, "b")
	a.attach()
	b.attach()
	for i := 0; i < 4; i++ {
		a.exec(`INSERT INTO notes (code, body) VALUES (?, 'x')`, fmt.Sprintf("k%d", i))
		a.sync()
	}
	b.sync()
	a.exec(`INSERT INTO notes (code, body) VALUES ('late', 'x')`)
	a.sync()
	psql(t, fmt.Sprintf(`SELECT electric_sync.oversync_set_retention_floor('%s', (SELECT next_bundle_seq - 1 FROM electric_sync.os_user_state WHERE user_id = '%s'))`, u, u))
	if err := errOf(b.c.PullToStable(context.Background())); err == nil || !strings.Contains(err.Error(), "history_pruned") {
		t.Fatalf("pull below the floor: %v", err)
	}
	if err := errOf(b.c.Rebuild(context.Background())); err != nil {
		t.Fatalf("Rebuild: %v", err)
	}
	converged(t, "after rebuild", serverRows(t, u), b)
	// A fresh device hydrates from a snapshot.
	c := newDevice(t, u, "c")
	c.attach()
	converged(t, "hydrate", serverRows(t, u), c)
	// Source replacement: the server has moved past the source's sequence.
	psql(t, fmt.Sprintf(`UPDATE electric_sync.os_source_state SET max_committed_source_bundle_id = max_committed_source_bundle_id + 10 WHERE user_id = '%s' AND state = 'active' AND source_id <> 'electric_sync.sql'`, u))
	b.exec(`INSERT INTO notes (code, body) VALUES ('after-rotation', 'x')`)
	_ = errOf(b.c.PushPending(context.Background())) // history_pruned: source recovery required
	if err := errOf(b.c.Rebuild(context.Background())); err != nil {
		t.Fatalf("rotated Rebuild: %v", err)
	}
	if n := psql(t, fmt.Sprintf(`SELECT count(*) FROM electric_sync.os_source_state WHERE user_id = '%s' AND state = 'retired' AND replaced_by_source_id IS NOT NULL`, u)); n == "0" {
		t.Fatal("no source was retired and replaced")
	}
	b.exec(`INSERT INTO notes (code, body) VALUES ('new-source', 'x')`)
	b.sync()
	a.sync()
	converged(t, "after source replacement", serverRows(t, u), b, a)
}

func TestServerSideWritesReachDevices(t *testing.T) {
	u := "c-" + runID + "-server"
	a := newDevice(t, u, "a")
	a.attach()
	uid := newID()
	psql(t, fmt.Sprintf(`SELECT electric_sync.oversync_exec_write('%s', 'backend', $$INSERT INTO app.users (id, name) VALUES ('%s', 'from exec_write')$$)`, u, uid))
	psql(t, fmt.Sprintf(`UPDATE app.users SET email = 'plain@sql' WHERE _sync_scope_id = '%s'`, u))
	a.sync()
	converged(t, "server writes", serverRows(t, u), a)
	if a.rows()["users|"+uid] == "" {
		t.Fatal("server row missing on device")
	}
}

func TestThreeUsersTwoDevicesRandomConcurrent(t *testing.T) {
	type pair struct{ devs []*device }
	var users []pair
	for i := 0; i < 3; i++ {
		u := fmt.Sprintf("c-%s-rand%d", runID, i)
		users = append(users, pair{[]*device{newDevice(t, u, "d0"), newDevice(t, u, "d1")}})
	}
	for _, p := range users {
		for _, d := range p.devs {
			d.attach()
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for ui, p := range users {
		for di, d := range p.devs {
			wg.Add(1)
			go func(seed int64, d *device) {
				defer wg.Done()
				rng := rand.New(rand.NewSource(seed))
				for round := 0; round < 10; round++ {
					for k := 0; k < 1+rng.Intn(3); k++ {
						code := fmt.Sprintf("k%d", rng.Intn(8))
						switch rng.Intn(3) {
						case 0:
							d.db.Exec(`INSERT OR REPLACE INTO notes (code, body) VALUES (?, ?)`, code, fmt.Sprintf("%s r%d", d.name, round))
						case 1:
							d.db.Exec(`UPDATE notes SET body = ? WHERE code = ?`, fmt.Sprintf("%s u%d", d.name, round), code)
						default:
							d.db.Exec(`DELETE FROM notes WHERE code = ?`, code)
						}
					}
					// Conflict retries may run out under contention; later rounds and the final syncs converge.
					if err := errOf(d.c.Sync(context.Background())); err != nil && !strings.Contains(err.Error(), "conflict") {
						mu.Lock()
						failures = append(failures, fmt.Sprintf("%s/%s: %v", d.user, d.name, err))
						mu.Unlock()
					}
				}
			}(int64(ui*10+di), d)
		}
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("sync failures: %v", failures)
	}
	for _, p := range users {
		for r := 0; r < 2; r++ {
			for _, d := range p.devs {
				d.sync()
			}
		}
		converged(t, "random ops", serverRows(t, p.devs[0].user), p.devs...)
	}
}
