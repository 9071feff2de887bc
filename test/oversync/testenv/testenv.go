// Package testenv holds what both oversync test modules (test/oversync, the oversqlite client,
// and test/oversync/wire, the wire-level suite) need from their environment: the server's
// address, its JWT secret and database (env OVERSYNC_BASE_URL, OVERSYNC_JWT_SECRET,
// DATABASE_URL), HS256 tokens, psql for server-side SQL, and the server schema ("app") both
// suites sync. Stdlib only.
package testenv

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

var (
	BaseURL     = Env("OVERSYNC_BASE_URL", "http://127.0.0.1:3093")
	JWTSecret   = Env("OVERSYNC_JWT_SECRET", "dev-secret")
	DatabaseURL = Env("DATABASE_URL", "host=/tmp/os_pg port=54393 dbname=ostest user=postgres")
)

// Env returns the environment variable k, or d when it is unset or empty.
func Env(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

// Token mints an HS256 JWT with claims sub and exp, signed with secret.
func Token(secret, sub string, exp time.Time) string {
	enc := base64.RawURLEncoding
	h := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	p, _ := json.Marshal(map[string]any{"sub": sub, "exp": exp.Unix()})
	signing := h + "." + enc.EncodeToString(p)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(m.Sum(nil))
}

// Psql runs q against DatabaseURL (unaligned, tuples only, stop on error) and returns its
// trimmed output; on failure the test stops with psql's output.
func Psql(t testing.TB, q string) string {
	t.Helper()
	out, err := exec.Command("psql", DatabaseURL, "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", q).CombinedOutput()
	if err != nil {
		t.Fatalf("psql %q: %v\n%s", q, err, out)
	}
	return strings.TrimSpace(string(out))
}

// ServerSchema: the tables both suites sync (schema "app": users, posts with a deferrable
// foreign key to users, notes keyed by text), registered once.
const ServerSchema = `
CREATE EXTENSION IF NOT EXISTS electric_sync;
CREATE SCHEMA IF NOT EXISTS app;
CREATE TABLE IF NOT EXISTS app.users (_sync_scope_id text NOT NULL, id uuid NOT NULL, name text, email text,
  score double precision, blob bytea, PRIMARY KEY (_sync_scope_id, id));
CREATE TABLE IF NOT EXISTS app.posts (_sync_scope_id text NOT NULL, id uuid NOT NULL, author_id uuid NOT NULL,
  title text, body text, PRIMARY KEY (_sync_scope_id, id),
  FOREIGN KEY (_sync_scope_id, author_id) REFERENCES app.users (_sync_scope_id, id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE IF NOT EXISTS app.notes (_sync_scope_id text NOT NULL, code text NOT NULL, body text, PRIMARY KEY (_sync_scope_id, code));
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM electric_sync.os_tables WHERE schema_name = 'app') THEN
    PERFORM electric_sync.oversync_register_tables(ARRAY['app.users','app.posts','app.notes']::regclass[]);
  END IF;
END $$;`
