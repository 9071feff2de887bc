package wire

import (
	"bufio"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// GET /sync/watch (SSE): an event at once for bundles above after_bundle_seq, then one per
// new bundle of this user only. Skipped when the server reports the watch disabled.
func TestWatchStreamsBundleHints(t *testing.T) {
	setupSchema(t)
	u, other := user("watch"), user("watch-other")
	psql(t, fmt.Sprintf(`SELECT electric_sync.oversync_exec_write('%s', 'w', $$INSERT INTO app.notes (code, body) VALUES ('a', 'x')$$)`, u))
	psql(t, fmt.Sprintf(`SELECT electric_sync.oversync_exec_write('%s', 'w', $$INSERT INTO app.notes (code, body) VALUES ('a', 'x')$$)`, other))
	req, _ := http.NewRequest("GET", baseURL+"/sync/watch?after_bundle_seq=0", nil)
	req.Header.Set("Authorization", "Bearer "+token(u, time.Now().Add(time.Hour)))
	req.Header.Set("Oversync-Source-ID", "watcher")
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == 503 {
		t.Skip("bundle change watch disabled on this server")
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("watch: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "data: ") {
				events <- l
			}
		}
		close(events)
	}()
	next := func() string {
		select {
		case e := <-events:
			return e
		case <-time.After(8 * time.Second):
			t.Fatal("no event")
		}
		return ""
	}
	if e := next(); !strings.Contains(e, `"bundle_seq":1`) {
		t.Fatalf("first event %s", e)
	}
	psql(t, fmt.Sprintf(`SELECT electric_sync.oversync_exec_write('%s', 'w', $$INSERT INTO app.notes (code, body) VALUES ('b', 'x')$$)`, other))
	psql(t, fmt.Sprintf(`INSERT INTO app.notes VALUES ('%s', 'b', 'y')`, u))
	if e := next(); !strings.Contains(e, `"bundle_seq":2`) || !strings.Contains(e, `"source_id":"electric_sync.sql"`) {
		t.Fatalf("second event %s", e)
	}
}
