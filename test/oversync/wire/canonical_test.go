package wire

import (
	"encoding/json"
	"math"
	"math/rand"
	"strings"
	"testing"
)

// Differential test: the server's canonical JSON (electric_sync.os_canonical_json, used for
// payloads and bundle_hash) against Go's encoding/json on random documents.
func TestCanonicalJSONMatchesGo(t *testing.T) {
	setupSchema(t)
	rng := rand.New(rand.NewSource(42))
	runes := []rune{'a', 'Z', '<', '>', '&', '"', '\\', '/', '\n', '\t', '\r', '\b', '\f', 0x01, 0x1f, 0x7f, 'é', '€', 0x2028, 0x2029, 0x1F600, ' '}
	randString := func() string {
		var b strings.Builder
		for i := rng.Intn(8); i > 0; i-- {
			b.WriteRune(runes[rng.Intn(len(runes))])
		}
		return b.String()
	}
	randNumber := func() float64 {
		switch rng.Intn(6) {
		case 0:
			return float64(rng.Int63n(1 << 60))
		case 1:
			return rng.NormFloat64() * math.Pow(10, float64(rng.Intn(40)-20))
		case 2:
			return math.Pow(10, float64(rng.Intn(60)-30))
		case 3:
			return float64(rng.Intn(1000)) / 1000
		case 4:
			return -rng.ExpFloat64() * 1e21
		default:
			return float64(rng.Intn(100))
		}
	}
	var gen func(depth int) any
	gen = func(depth int) any {
		switch k := rng.Intn(7); {
		case depth > 3 || k == 0:
			return randNumber()
		case k == 1:
			return randString()
		case k == 2:
			return rng.Intn(2) == 0
		case k == 3:
			return nil
		case k == 4:
			a := []any{}
			for i := rng.Intn(4); i > 0; i-- {
				a = append(a, gen(depth+1))
			}
			return a
		default:
			m := map[string]any{}
			for i := rng.Intn(5); i > 0; i-- {
				m[randString()] = gen(depth + 1)
			}
			return m
		}
	}
	docs := make([]any, 300)
	for i := range docs {
		docs[i] = gen(0)
	}
	in, _ := json.Marshal(docs)
	want, _ := json.Marshal(docs) // Go's canonical form of the decoded values
	var back any
	json.Unmarshal(in, &back)
	want, _ = json.Marshal(back)
	lit := strings.ReplaceAll(string(in), "'", "''")
	got := psql(t, "SELECT electric_sync.os_canonical_json('"+lit+"'::jsonb)")
	if got != string(want) {
		for i := 0; i < len(got) && i < len(want); i++ {
			if got[i] != want[i] {
				lo := i - 60
				if lo < 0 {
					lo = 0
				}
				t.Fatalf("mismatch at byte %d:\nserver %q\ngo     %q", i, got[lo:min(i+60, len(got))], want[lo:min(i+60, len(want))])
			}
		}
		t.Fatalf("length differs: server %d, go %d", len(got), len(want))
	}
}
