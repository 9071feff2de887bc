package wire

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestBadInputIsRejectedWithJSON4xx(t *testing.T) {
	setupSchema(t)
	u := user("bad")
	a := NewDevice(t, u, "a")
	a.Connect(false)
	before := ServerRows(t, u)
	var cr map[string]any
	if e := do(t, "POST", "/sync/push-sessions", u, "a", map[string]any{"source_bundle_id": 1, "planned_row_count": 2}, &cr); e != nil {
		t.Fatal(e)
	}
	pid := cr["push_id"].(string)
	chunk := "/sync/push-sessions/" + pid + "/chunks"
	good := userRow(uuidv4(), "ok", 0, "INSERT")
	cases := []struct {
		method, path, body string
		user, source       string
		status             int
		code               string
	}{
		{"POST", "/sync/connect", "{not json", u, "a", 400, "invalid_request"},
		{"POST", "/sync/connect", `{"has_local_pending_rows":"yes"}`, u, "a", 400, "invalid_request"},
		{"POST", "/sync/push-sessions", `{"source_bundle_id":"1","planned_row_count":1}`, u, "a", 400, "invalid_request"},
		{"POST", "/sync/push-sessions", `{"source_bundle_id":0,"planned_row_count":1}`, u, "a", 400, "push_session_invalid"},
		{"POST", chunk, `{"start_row_ordinal":0,"rows":[]}`, u, "a", 400, "push_chunk_invalid"},
		{"POST", chunk, `{"start_row_ordinal":0,"rows":[{"schema":"app","table":"nope","key":{"id":"x"},"op":"INSERT","payload":{}}]}`, u, "a", 400, "push_chunk_invalid"},
		{"POST", chunk, fmt.Sprintf(`{"start_row_ordinal":0,"rows":[{"schema":"app","table":"users","key":{"id":"%s"},"op":"INSERT","payload":{"nope":1}}]}`, uuidv4()), u, "a", 400, "push_chunk_invalid"},
		{"POST", chunk, `{"start_row_ordinal":0,"rows":[{"schema":"app","table":"users","key":{"id":"NOT-A-UUID"},"op":"INSERT","payload":{}}]}`, u, "a", 400, "push_chunk_invalid"},
		{"POST", chunk, `{"start_row_ordinal":0,"rows":[{"schema":"app","table":"users","key":{"id":1},"op":"INSERT","payload":{}}]}`, u, "a", 400, "push_chunk_invalid"},
		{"POST", chunk, `{"start_row_ordinal":0,"rows":[{"schema":"app","table":"users","key":{"id":"x"},"op":"MERGE","payload":{}}]}`, u, "a", 400, "push_chunk_invalid"},
		{"POST", chunk, `{"start_row_ordinal":0,"rows":[{"schema":"app","table":"users","key":{"id":"x"},"op":"INSERT","payload":{"_sync_scope_id":"evil"}}]}`, u, "a", 400, "push_chunk_invalid"},
		{"POST", chunk, `{"start_row_ordinal":5,"rows":[` + mustJSON(good) + `]}`, u, "a", 409, "push_chunk_out_of_order"},
		{"POST", chunk, `{"start_row_ordinal":0,"rows":[` + mustJSON(good) + `,` + mustJSON(good) + `]}`, u, "a", 400, "push_chunk_invalid"},
		{"POST", chunk, `{"start_row_ordinal":0,"rows":[` + mustJSON(good) + `]}`, user("intruder"), "x", 403, "push_session_forbidden"},
		{"POST", "/sync/push-sessions/not-a-uuid/chunks", `{"start_row_ordinal":0,"rows":[` + mustJSON(good) + `]}`, u, "a", 404, "push_session_not_found"},
		{"POST", "/sync/push-sessions/" + pid + "/commit", "", u, "a", 400, "push_commit_invalid"},
		{"GET", "/sync/pull?max_bundles=0", "", u, "a", 400, "invalid_request"},
		{"GET", "/sync/pull?max_bundles=5001", "", u, "a", 400, "invalid_request"},
		{"GET", "/sync/pull?after_bundle_seq=abc", "", u, "a", 400, "invalid_request"},
		{"GET", "/sync/committed-bundles/0/rows", "", u, "a", 400, "committed_bundle_chunk_invalid"},
		{"GET", "/sync/committed-bundles/999/rows", "", u, "a", 404, "committed_bundle_not_found"},
		{"POST", "/sync/snapshot-sessions", `{"bogus":1}`, u, "a", 400, "snapshot_session_invalid"},
		{"POST", "/sync/snapshot-sessions", `{} {}`, u, "a", 400, "snapshot_session_invalid"},
		{"GET", "/sync/snapshot-sessions/" + uuidv4(), "", u, "a", 404, "snapshot_session_not_found"},
		{"GET", "/sync/capabilities", "", u, "", 400, "invalid_request"},
		{"GET", "/sync/capabilities", "", "", "a", 401, "authentication_failed"},
		{"PUT", "/sync/connect", "{}", u, "a", 405, "method_not_allowed"},
	}
	for _, c := range cases {
		var body any
		if c.body != "" {
			body = c.body
		}
		e := do(t, c.method, c.path, c.user, c.source, body, nil)
		if e == nil || e.Status != c.status || e.Code != c.code {
			t.Errorf("%s %s %s: got %v, want %d %s", c.method, c.path, c.body, e, c.status, c.code)
		}
	}
	// Bad tokens: wrong secret, expired.
	for _, tok := range []string{token(u, time.Now().Add(-time.Minute)), "abc.def.ghi", strings.Replace(token(u, time.Now().Add(time.Hour)), ".", "x.", 1)} {
		req, _ := http.NewRequest("GET", baseURL+"/sync/capabilities", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Oversync-Source-ID", "a")
		resp, err := client.Do(req)
		if err != nil || resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("bad token: %v %v", err, resp)
		}
		resp.Body.Close()
	}
	// Oversized body.
	big := `{"start_row_ordinal":0,"rows":[` + strings.Repeat(mustJSON(good)+",", 6000) + mustJSON(good) + `]}`
	if e := do(t, "POST", chunk, u, "a", big, nil); e == nil || e.Status != 400 {
		t.Errorf("too many rows: %v", e)
	}
	sameRows(t, "nothing applied", before, ServerRows(t, u))
	// health and status
	var st map[string]any
	if e := do(t, "GET", "/syncx/status", "", "", nil, &st); e != nil || st["status"] != "healthy" {
		t.Errorf("status: %v %v", e, st)
	}
	if e := do(t, "GET", "/syncx/health", "", "", nil, &st); e != nil {
		t.Errorf("health: %v", e)
	}
}

func mustJSON(r PushRow) string {
	b, _ := jsonMarshal(r)
	return string(b)
}
