// Load generator for bench/oversync_throughput.sh (stdlib only).
//
//	push: -users N -bundles B -rows R   each user pushes B bundles of R rows (create, chunk, commit)
//	pull: -user U                        one device pulls the user's whole history to stable
//
// Prints key=value lines: bundles, rows, seconds, errors.
package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var (
	base    = flag.String("base", "http://127.0.0.1:3000", "server")
	secret  = flag.String("secret", "", "HS256 secret")
	mode    = flag.String("mode", "push", "push or pull")
	users   = flag.Int("users", 1, "concurrent users (push)")
	bundles = flag.Int("bundles", 100, "bundles per user (push)")
	rows    = flag.Int("rows", 1, "rows per bundle (push)")
	prefix  = flag.String("prefix", "u", "user id prefix")
	table   = flag.String("table", "notes", "registered table in public")
	user    = flag.String("user", "", "user to pull (pull)")
)

var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 60 * time.Second}

func token(sub string) string {
	enc := base64.RawURLEncoding
	h := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	p, _ := json.Marshal(map[string]any{"sub": sub, "exp": time.Now().Add(time.Hour).Unix()})
	msg := h + "." + enc.EncodeToString(p)
	m := hmac.New(sha256.New, []byte(*secret))
	m.Write([]byte(msg))
	return msg + "." + enc.EncodeToString(m.Sum(nil))
}

func call(method, path, tok, src string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, *base+path, rd)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Oversync-Source-ID", src)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

func uuid() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func pushUser(i int) (int, error) {
	sub := fmt.Sprintf("%s%d", *prefix, i)
	tok, src := token(sub), "dev-"+sub
	if err := call("POST", "/sync/connect", tok, src, map[string]any{"has_local_pending_rows": false}, nil); err != nil {
		return 0, err
	}
	for b := 1; b <= *bundles; b++ {
		var ps struct {
			PushID string `json:"push_id"`
		}
		if err := call("POST", "/sync/push-sessions", tok, src, map[string]any{"source_bundle_id": b, "planned_row_count": *rows}, &ps); err != nil {
			return b - 1, err
		}
		rs := make([]map[string]any, *rows)
		for r := range rs {
			id := uuid()
			rs[r] = map[string]any{"schema": "public", "table": *table, "key": map[string]any{"id": id}, "op": "INSERT",
				"base_row_version": 0, "payload": map[string]any{"id": id, "body": "bench row"}}
		}
		if err := call("POST", "/sync/push-sessions/"+ps.PushID+"/chunks", tok, src, map[string]any{"start_row_ordinal": 0, "rows": rs}, nil); err != nil {
			return b - 1, err
		}
		if err := call("POST", "/sync/push-sessions/"+ps.PushID+"/commit", tok, src, nil, nil); err != nil {
			return b - 1, err
		}
	}
	return *bundles, nil
}

func main() {
	flag.Parse()
	t0 := time.Now()
	var nb, nr, nerr int64
	var firstErr atomic.Value
	switch *mode {
	case "push":
		var wg sync.WaitGroup
		for i := 0; i < *users; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				n, err := pushUser(i)
				atomic.AddInt64(&nb, int64(n))
				atomic.AddInt64(&nr, int64(n**rows))
				if err != nil {
					atomic.AddInt64(&nerr, 1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}(i)
		}
		wg.Wait()
	case "pull":
		tok, src := token(*user), "puller-"+*user
		if err := call("POST", "/sync/connect", tok, src, map[string]any{"has_local_pending_rows": false}, nil); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		t0 = time.Now()
		after, target := int64(0), int64(0)
		for {
			var p struct {
				Stable  int64 `json:"stable_bundle_seq"`
				HasMore bool  `json:"has_more"`
				Bundles []struct {
					BundleSeq int64             `json:"bundle_seq"`
					Rows      []json.RawMessage `json:"rows"`
				} `json:"bundles"`
			}
			q := fmt.Sprintf("/sync/pull?after_bundle_seq=%d&max_bundles=1000", after)
			if target > 0 {
				q += fmt.Sprintf("&target_bundle_seq=%d", target)
			}
			if err := call("GET", q, tok, src, nil, &p); err != nil {
				nerr++
				firstErr.CompareAndSwap(nil, err.Error())
				break
			}
			target = p.Stable
			for _, b := range p.Bundles {
				nb++
				nr += int64(len(b.Rows))
				after = b.BundleSeq
			}
			if !p.HasMore {
				break
			}
		}
	}
	secs := time.Since(t0).Seconds()
	fmt.Printf("bundles=%d\nrows=%d\nseconds=%.3f\nerrors=%d\n", nb, nr, secs, nerr)
	if e := firstErr.Load(); e != nil {
		fmt.Printf("first_error=%s\n", e)
	}
}
