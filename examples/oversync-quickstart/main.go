// The write-path quickstart with net/http only: connect, push one row (session, chunk, commit),
// pull it back. Env: OVERSYNC_BASE_URL (http://127.0.0.1:3000), OVERSYNC_TOKEN (a bearer token,
// e.g. SELECT electric_sync.oversync_dev_token('alice')). Table public.notes as in docs/oversync.md.
package main

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

func call(method, url, body string) string {
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+os.Getenv("OVERSYNC_TOKEN"))
	req.Header.Set("Oversync-Source-ID", source)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		panic(fmt.Sprintf("%s %s: %d %s", method, url, resp.StatusCode, b))
	}
	fmt.Printf("%s %s -> %s", method, url, b)
	return string(b)
}

// One client install = one source id, numbering its pushes 1, 2, 3...
var source = fmt.Sprintf("go-quickstart-%d", time.Now().UnixNano())

func main() {
	base := os.Getenv("OVERSYNC_BASE_URL")
	if base == "" {
		base = "http://127.0.0.1:3000"
	}
	b := make([]byte, 16)
	rand.Read(b)
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	id := fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
	call("POST", base+"/sync/connect", `{"has_local_pending_rows":false}`)
	out := call("POST", base+"/sync/push-sessions", `{"source_bundle_id":1,"planned_row_count":1}`)
	var created struct {
		PushID string `json:"push_id"`
	}
	json.Unmarshal([]byte(out), &created)
	push := created.PushID
	call("POST", base+"/sync/push-sessions/"+push+"/chunks", `{"start_row_ordinal":0,"rows":[{"schema":"public","table":"notes",`+
		`"key":{"id":"`+id+`"},"op":"INSERT","base_row_version":0,"payload":{"id":"`+id+`","body":"hello from Go"}}]}`)
	call("POST", base+"/sync/push-sessions/"+push+"/commit", "")
	if !strings.Contains(call("GET", base+"/sync/pull?after_bundle_seq=0&max_bundles=5000", ""), id) {
		panic("the pushed row is not in the pull")
	}
	fmt.Println("ok: row", id, "pushed and pulled back")
}
