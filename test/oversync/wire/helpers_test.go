// Wire-level oversync conformance tests against a running server (stdlib only). They speak
// the HTTP contract directly, and check bundle_hash with Go's own encoding/json, which is
// exactly the canonicalization go-oversync uses. Env: OVERSYNC_BASE_URL, OVERSYNC_JWT_SECRET,
// DATABASE_URL (psql is used for server-side SQL).
package wire

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"electric_sync/test/oversync/testenv"
)

var (
	baseURL   = testenv.BaseURL
	jwtSecret = testenv.JWTSecret
	dbURL     = testenv.DatabaseURL
	runID     = fmt.Sprintf("%d", time.Now().UnixNano()%1e12)
	client    = &http.Client{Timeout: 60 * time.Second}
)

func token(sub string, exp time.Time) string { return testenv.Token(jwtSecret, sub, exp) }

func psql(t testing.TB, sql string) string { t.Helper(); return testenv.Psql(t, sql) }

func setupSchema(t testing.TB) { psql(t, testenv.ServerSchema) }

// ---- HTTP ----

type apiErr struct {
	Status  int
	Code    string         `json:"error"`
	Message string         `json:"message"`
	Raw     map[string]any `json:"-"`
}

func (e *apiErr) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

func do(t testing.TB, method, path, user, source string, body any, out any) *apiErr {
	t.Helper()
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			rd = strings.NewReader(b)
		default:
			j, _ := json.Marshal(b)
			rd = bytes.NewReader(j)
		}
	}
	req, _ := http.NewRequest(method, baseURL+path, rd)
	if user != "" {
		req.Header.Set("Authorization", "Bearer "+token(user, time.Now().Add(time.Hour)))
	}
	if source != "" {
		req.Header.Set("Oversync-Source-ID", source)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		e := &apiErr{Status: resp.StatusCode}
		if err := json.Unmarshal(data, e); err != nil || e.Code == "" {
			t.Fatalf("%s %s: status %d with non-JSON error body %q", method, path, resp.StatusCode, data)
		}
		_ = json.Unmarshal(data, &e.Raw)
		if resp.StatusCode >= 500 && resp.StatusCode != 503 {
			t.Errorf("%s %s: server error %d %s", method, path, resp.StatusCode, data)
		}
		return e
	}
	if out != nil && resp.StatusCode != 204 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: bad JSON %q: %v", method, path, data, err)
		}
	}
	return nil
}

// ---- wire types ----

type BundleRow struct {
	Schema     string          `json:"schema"`
	Table      string          `json:"table"`
	Key        map[string]any  `json:"key"`
	Op         string          `json:"op"`
	RowVersion int64           `json:"row_version"`
	Payload    json.RawMessage `json:"payload,omitempty"`
}

type Bundle struct {
	BundleSeq      int64       `json:"bundle_seq"`
	SourceID       string      `json:"source_id"`
	SourceBundleID int64       `json:"source_bundle_id"`
	RowCount       int64       `json:"row_count"`
	BundleHash     string      `json:"bundle_hash"`
	Rows           []BundleRow `json:"rows"`
}

type PushRow struct {
	Schema         string         `json:"schema"`
	Table          string         `json:"table"`
	Key            map[string]any `json:"key"`
	Op             string         `json:"op"`
	BaseRowVersion int64          `json:"base_row_version"`
	Payload        map[string]any `json:"payload,omitempty"`
}

// bundleHash: go-oversync's algorithm (decode payload to generic values, json.Marshal sorted).
func bundleHash(t testing.TB, rows []BundleRow) string {
	arr := make([]any, 0, len(rows))
	for i, r := range rows {
		var p any
		if r.Op != "DELETE" {
			if err := json.Unmarshal(r.Payload, &p); err != nil {
				t.Fatalf("payload: %v", err)
			}
		}
		arr = append(arr, map[string]any{"key": r.Key, "op": r.Op, "payload": p, "row_ordinal": i,
			"row_version": r.RowVersion, "schema": r.Schema, "table": r.Table})
	}
	b, err := json.Marshal(arr)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func uuidv4() string {
	b := make([]byte, 16)
	f, _ := os.Open("/dev/urandom")
	f.Read(b)
	f.Close()
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	x := hex.EncodeToString(b)
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// pushBundle runs a client's push: create a push session (an already committed bundle comes back
// as it was committed), stage rows in chunks of `chunk`, commit. Every reply is checked as the
// client checks it; on a contract error the session is deleted and the error returned.
func pushBundle(t testing.TB, user, source string, sbid int64, initID string, rows []PushRow, chunk int) (Bundle, *apiErr) {
	t.Helper()
	create := map[string]any{"source_bundle_id": sbid, "planned_row_count": len(rows)}
	if initID != "" {
		create["initialization_id"] = initID
	}
	var cr map[string]any
	if e := do(t, "POST", "/sync/push-sessions", user, source, create, &cr); e != nil {
		return Bundle{}, e
	}
	var meta Bundle
	if cr["status"] == "already_committed" {
		b, _ := json.Marshal(cr)
		json.Unmarshal(b, &meta)
		return meta, nil
	}
	pid, _ := cr["push_id"].(string)
	if cr["status"] != "staging" || !uuidRe.MatchString(pid) || cr["planned_row_count"] != float64(len(rows)) {
		t.Fatalf("push-session create reply %v", cr)
	}
	if _, ok := cr["next_expected_row_ordinal"]; ok {
		t.Errorf("staging reply should omit next_expected_row_ordinal: %v", cr)
	}
	for start := 0; start < len(rows); start += chunk {
		end := min(start+chunk, len(rows))
		var ch map[string]any
		if e := do(t, "POST", "/sync/push-sessions/"+pid+"/chunks", user, source,
			map[string]any{"start_row_ordinal": start, "rows": rows[start:end]}, &ch); e != nil {
			do(t, "DELETE", "/sync/push-sessions/"+pid, user, source, nil, nil)
			return Bundle{}, e
		}
		if ch["push_id"] != pid || ch["next_expected_row_ordinal"] != float64(end) {
			t.Fatalf("chunk [%d,%d) reply %v: want push_id %s, next_expected_row_ordinal %d", start, end, ch, pid, end)
		}
	}
	if e := do(t, "POST", "/sync/push-sessions/"+pid+"/commit", user, source, nil, &meta); e != nil {
		do(t, "DELETE", "/sync/push-sessions/"+pid, user, source, nil, nil)
		return Bundle{}, e
	}
	return meta, nil
}
