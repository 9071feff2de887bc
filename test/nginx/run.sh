#!/usr/bin/env bash
# nginx as a caching proxy in front of electric_sync (bench/nginx/electric_sync.conf,
# docs/nginx.md): many live clients through nginx, one change, every client gets it with the
# right headers, and only a few requests reach the origin.
# Environment: ELECTRIC_URL (host:port or http://host:port of a running electric_sync),
# DATABASE_URL (libpq URL of its database). Optional: NGINX_TEST_CLIENTS (default 300),
# NGINX_TEST_PORT (first port to try, default 18480).
# Prints one line per check and ends with "N passed, M failed"; exits non-zero on failure.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
source "$ROOT/bench/nginx/nginx_lib.sh"

PASSED=0
FAILED=0
check() {  # check NAME CONDITION-EXIT-CODE [DETAIL]
  if [ "$2" -eq 0 ]; then PASSED=$((PASSED + 1)); echo "ok   - $1"
  else FAILED=$((FAILED + 1)); echo "FAIL - $1${3:+ ($3)}"; fi
}
finish() {
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
  exit $?
}

: "${ELECTRIC_URL:?ELECTRIC_URL (host:port) is required}"
: "${DATABASE_URL:?DATABASE_URL is required}"
ORIGIN="${ELECTRIC_URL#http://}"; ORIGIN="${ORIGIN%/}"
CLIENTS="${NGINX_TEST_CLIENTS:-300}"
WORK=$(mktemp -d /tmp/electric_sync-nginx-test.XXXXXX)
chmod 755 "$WORK"   # the nginx workers (nobody) use the cache dir and the unix socket
NGX="$WORK/nginx"
TABLE="nginx_t_$$"
PSQL=(psql -X -q -At -v ON_ERROR_STOP=1 "$DATABASE_URL")
PORT=""
cleanup() {
  esn_stop "$NGX"
  "${PSQL[@]}" -c "DROP TABLE IF EXISTS $TABLE" >/dev/null 2>&1
  if [ -n "${AUTH_SET:-}" ]; then
    "${PSQL[@]}" -c "ALTER SYSTEM RESET electric_sync.read_auth" -c "SELECT pg_reload_conf()" >/dev/null 2>&1
    "${PSQL[@]}" -c "DROP TABLE IF EXISTS $ATABLE" -c "DROP ROLE IF EXISTS $AROLE" >/dev/null 2>&1
  fi
  [ -n "${SSE_PID:-}" ] && kill "$SSE_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

# 0. tools: nginx (Debian package), the load generator (bench/esload.cpp).
esn_install; r=$?; check "nginx is installed ($(nginx -v 2>&1 | sed "s/.*: //"))" $r
command -v psql >/dev/null && command -v curl >/dev/null && command -v g++ >/dev/null
r=$?; check "psql, curl and g++ are available" $r || finish
g++ -std=c++17 -O2 -o "$WORK/esload" "$ROOT/bench/esload.cpp" -I"$(pg_config --includedir)" -lpq -lpthread 2>"$WORK/build.log"
r=$?; check "bench/esload.cpp builds" $r "$(head -c 500 "$WORK/build.log")" || finish

"${PSQL[@]}" -c "CREATE TABLE $TABLE (id int PRIMARY KEY, seq bigint, v text);
                 INSERT INTO $TABLE SELECT g, NULL, 'row ' || g FROM generate_series(1, 100) g;" >/dev/null
r=$?; check "table $TABLE created" $r || finish

PORT=$(esn_free_port "${NGINX_TEST_PORT:-18480}")
esn_start "$NGX" "$PORT" "$ORIGIN"
r=$?; check "nginx started on 127.0.0.1:$PORT in front of $ORIGIN" $r "$(tail -5 "$NGX/run/error.log" 2>/dev/null)" || finish
EDGE="http://127.0.0.1:$PORT"

hdr() { grep -i "^$1:" "$2" | head -1 | cut -d' ' -f2- | tr -d '\r'; }

# 1. initial sync through nginx, then the same request again: a cache HIT with the origin's headers.
SHAPE="/v1/shape?table=$TABLE"
curl -s -D "$WORK/h1" -o "$WORK/b1" "$EDGE$SHAPE&offset=-1"
HANDLE=$(hdr electric-handle "$WORK/h1"); OFFSET=$(hdr electric-offset "$WORK/h1")
[ "$(head -1 "$WORK/h1" | cut -d' ' -f2)" = 200 ] && [ -n "$HANDLE" ] && [ -n "$OFFSET" ] &&
  [ -n "$(hdr electric-schema "$WORK/h1")" ] && grep -q '"row 1"' "$WORK/b1"
r=$?; check "initial sync through nginx: 200 with electric-handle, electric-offset, electric-schema and the rows" $r "$(head -c 400 "$WORK/h1")"
curl -s -D "$WORK/h2" -o "$WORK/b2" "$EDGE$SHAPE&offset=-1"
[ "$(hdr x-cache-status "$WORK/h2")" = HIT ] && cmp -s "$WORK/b1" "$WORK/b2" &&
  [ "$(hdr cache-control "$WORK/h2")" = "public, max-age=604800, s-maxage=3600, stale-while-revalidate=2629746" ] &&
  [ "$(hdr electric-handle "$WORK/h2")" = "$HANDLE" ]
r=$?; check "repeated offset=-1 request is a cache HIT with the same body and the origin's cache-control" $r "$(grep -i 'x-cache\|cache-control' "$WORK/h2" | tr -d '\r' | tr '\n' ' ')"

# 2. follow to the end of the log; the repeated non-live chunk request is a HIT.
CHUNK_URL=""
for _ in $(seq 1 200); do
  CHUNK_URL="$EDGE$SHAPE&handle=$HANDLE&offset=$OFFSET"
  curl -s -D "$WORK/h3" -o "$WORK/b3" "$CHUNK_URL"
  [ "$(head -1 "$WORK/h3" | cut -d' ' -f2)" = 200 ] || break
  OFFSET=$(hdr electric-offset "$WORK/h3")
  grep -qi '^electric-up-to-date' "$WORK/h3" && break
done
grep -qi '^electric-up-to-date' "$WORK/h3"
r=$?; check "non-live requests reach the end of the log (offset $OFFSET)" $r "$(head -c 300 "$WORK/h3")"
curl -s -D "$WORK/h4" -o "$WORK/b4" "$CHUNK_URL"
[ "$(hdr x-cache-status "$WORK/h4")" = HIT ] && cmp -s "$WORK/b3" "$WORK/b4" && [ -n "$(hdr electric-schema "$WORK/h4")" ] &&
  [ "$(hdr cache-control "$WORK/h4")" = "$(hdr cache-control "$WORK/h3")" ]
r=$?; check "repeated non-live chunk request is a cache HIT (same body, electric-schema, cache-control: $(hdr cache-control "$WORK/h4"))" $r \
  "$(grep -i 'x-cache\|cache-control' "$WORK/h4" | tr -d '\r' | tr '\n' ' ')"

# 3. many live long-polls on the same shape URL, one commit, count the origin requests.
LIVE_URL="$EDGE$SHAPE&cursor=&handle=$HANDLE&live=true&offset=$OFFSET"   # what esload sends first
ORIGIN_BEFORE=$(esn_origin_requests "$NGX" "live=true")
curl -s -D "$WORK/h5" -o "$WORK/b5" --max-time 30 -H 'Origin: http://app.example' "$LIVE_URL" &
CURL_PID=$!
"$WORK/esload" live --port "$PORT" --path "$SHAPE" -n "$CLIENTS" --settle 1.5 --timeout 20 \
  --conninfo "$DATABASE_URL" --sql "INSERT INTO $TABLE VALUES (100000 + {seq}, {seq}, 'live change')" > "$WORK/live.out" 2>&1
LIVE_RC=$?
wait "$CURL_PID"
kv() { sed -n "s/^$1=//p" "$WORK/live.out" | head -1; }
[ $LIVE_RC -eq 0 ] && [ "$(kv clients_ok)" = "$CLIENTS" ]
r=$?; check "all $CLIENTS live clients got the change through nginx ($(kv clients_ok) ok, all within $(kv lat_max_ms) ms of the commit)" $r \
  "$(tr '\n' ' ' < "$WORK/live.out")"
[ "$(kv header_failures)" = 0 ] && [ -z "$(kv status_409)$(kv status_400)$(kv status_502)$(kv status_504)" ]
r=$?; check "every live response was a 200 with electric-handle, electric-offset and electric-cursor" $r "$(tr '\n' ' ' < "$WORK/live.out")"
ORIGIN_LIVE=$(( $(esn_origin_requests "$NGX" "live=true") - ORIGIN_BEFORE ))
[ "$ORIGIN_LIVE" -ge 1 ] && [ "$ORIGIN_LIVE" -le 20 ]
r=$?; check "origin live requests for $((CLIENTS + 1)) clients: $ORIGIN_LIVE (<= 20)" $r "$(grep live=true "$NGX/run/origin.log" | tail -30)"
# A client's view of a live response through the cache (curl, with an Origin header).
grep -q '"live change"' "$WORK/b5" && [ "$(head -1 "$WORK/h5" | cut -d' ' -f2)" = 200 ] &&
  [ "$(hdr electric-handle "$WORK/h5")" = "$HANDLE" ] && [ -n "$(hdr electric-offset "$WORK/h5")" ] &&
  [ -n "$(hdr electric-cursor "$WORK/h5")" ] && grep -qi '^electric-up-to-date' "$WORK/h5" &&
  [ "$(hdr cache-control "$WORK/h5")" = "public, max-age=5, stale-while-revalidate=5" ] &&
  [ "$(hdr access-control-allow-origin "$WORK/h5")" = "*" ] &&
  hdr access-control-expose-headers "$WORK/h5" | grep -q 'electric-offset' &&
  [ -z "$(hdr x-electric-origin-cache-control "$WORK/h5")" ]
r=$?; check "a live response through nginx has the change and correct headers (electric-*, cache-control, CORS "*" whatever the Origin)" $r \
  "$(tr -d '\r' < "$WORK/h5" | tr '\n' '|')"

# 4. a hot URL that answers an error: every client answered quickly, few origin requests,
#    the client still sees the origin's cache-control: no-store.
BAD="$EDGE$SHAPE&handle=$HANDLE&offset=not-an-offset"
for _ in $(seq 1 200); do printf 'url = "%s"\noutput = "/dev/null"\n' "$BAD"; done > "$WORK/bad.cfg"
ORIGIN_BEFORE=$(esn_origin_requests "$NGX" "not-an-offset")
T0=$(date +%s%N)
curl -s --no-progress-meter --parallel --parallel-immediate --parallel-max 200 --max-time 20 -K "$WORK/bad.cfg" \
  -w '%{http_code} %header{cache-control}\n' > "$WORK/bad.out"
T1=$(date +%s%N)
BAD_OK=$(grep -c '^400 no-store$' "$WORK/bad.out")
BAD_ORIGIN=$(( $(esn_origin_requests "$NGX" "not-an-offset") - ORIGIN_BEFORE ))
[ "$BAD_OK" -eq 200 ] && [ $(( (T1 - T0) / 1000000 )) -lt 5000 ] && [ "$BAD_ORIGIN" -le 20 ]
r=$?; check "200 concurrent requests for a hot error URL: $BAD_OK answered 400 with cache-control no-store in $(( (T1 - T0) / 1000000 )) ms, $BAD_ORIGIN origin requests" $r \
  "$(sort "$WORK/bad.out" | uniq -c | head -5 | tr '\n' ' ')"

# 5. SSE through nginx: not cached, not buffered (the event arrives while the stream is open).
OFFSET2=$(hdr electric-offset "$WORK/h5")
curl -s -N -D "$WORK/h6" -o "$WORK/b6" --max-time 6 \
  "$EDGE$SHAPE&cursor=&experimental_live_sse=true&handle=$HANDLE&live=true&live_sse=true&offset=$OFFSET2" &
SSE_PID=$!
sleep 1
"${PSQL[@]}" -c "INSERT INTO $TABLE VALUES (200000, -1, 'sse change')" >/dev/null
for _ in $(seq 1 30); do grep -q '"sse change"' "$WORK/b6" 2>/dev/null && break; sleep 0.1; done
grep -q '"sse change"' "$WORK/b6" 2>/dev/null
SSE_SEEN=$?
kill "$SSE_PID" 2>/dev/null; wait "$SSE_PID" 2>/dev/null; SSE_PID=""
[ $SSE_SEEN -eq 0 ] && hdr content-type "$WORK/h6" | grep -q text/event-stream && [ -n "$(hdr electric-cursor "$WORK/h6")" ] &&
  [ -z "$(hdr x-cache-status "$WORK/h6")" ]
r=$?; check "SSE through nginx streams the change while the request is open (no cache, no buffering)" $r \
  "$(tr -d '\r' < "$WORK/h6" | tr '\n' '|') body: $(head -c 300 "$WORK/b6" 2>/dev/null)"

# 6. Authorized shapes (read_auth = jwt, docs/nginx.md "Authorized shapes"): the cache key is the
#    verified reader from GET /v1/reader plus the URL. Two tokens of one reader share cached
#    answers; another reader, a forged or expired token never get them; a revoked device is
#    refused at once although its rows are in the cache.
ATABLE="nginx_notes_$$"; AROLE="nginx_reader_$$"
JWT_SECRET="${ES_JWT_SECRET:-$("${PSQL[@]}" -c "SHOW electric_sync.jwt_secret")}"
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
hs256() {  # hs256 CLAIMS-JSON [SECRET]
  local signing
  signing="$(printf '%s' '{"alg":"HS256","typ":"JWT"}' | b64url).$(printf '%s' "$1" | b64url)"
  printf '%s.%s' "$signing" "$(printf '%s' "$signing" | openssl dgst -sha256 -hmac "${2:-$JWT_SECRET}" -binary | b64url)"
}
"${PSQL[@]}" -c "CREATE ROLE $AROLE NOLOGIN" -c "GRANT $AROLE TO electric_sync_reader" \
  -c "CREATE TABLE $ATABLE (id int PRIMARY KEY, owner text NOT NULL, body text)" \
  -c "GRANT SELECT ON $ATABLE TO $AROLE" -c "ALTER TABLE $ATABLE ENABLE ROW LEVEL SECURITY" \
  -c "CREATE POLICY own ON $ATABLE FOR SELECT TO $AROLE USING (owner = current_setting('request.jwt.claims', true)::jsonb ->> 'sub')" \
  -c "INSERT INTO $ATABLE VALUES (1, 'alice', 'alice note'), (2, 'bob', 'bob note')" >/dev/null
r=$?; check "table $ATABLE with a policy on the token's sub" $r || finish
AUTH_SET=1
"${PSQL[@]}" -c "ALTER SYSTEM SET electric_sync.read_auth = 'jwt'" -c "SELECT pg_reload_conf()" >/dev/null
ASHAPE="/v1/shape?table=$ATABLE&offset=-1"
for _ in $(seq 1 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$ORIGIN$ASHAPE")" = 401 ] && break; sleep 0.1
done
ALICE1=$(hs256 "{\"role\":\"$AROLE\",\"sub\":\"alice\",\"exp\":$(( $(date +%s) + 600 )),\"jti\":\"a1\"}")
ALICE2=$(hs256 "{\"role\":\"$AROLE\",\"sub\":\"alice\",\"exp\":$(( $(date +%s) + 900 )),\"jti\":\"a2\"}")
BOB=$(hs256 "{\"role\":\"$AROLE\",\"sub\":\"bob\",\"exp\":$(( $(date +%s) + 600 ))}")
FORGED=$(hs256 "{\"role\":\"$AROLE\",\"sub\":\"alice\",\"exp\":$(( $(date +%s) + 600 ))}" "not-the-secret")
EXPIRED=$(hs256 "{\"role\":\"$AROLE\",\"sub\":\"alice\",\"exp\":$(( $(date +%s) - 3600 ))}")
aget() {  # aget NAME TOKEN (empty = no Authorization header): headers in $WORK/NAME.h, body in .b
  local auth=(); [ -n "$2" ] && auth=(-H "Authorization: Bearer $2")
  curl -s "${auth[@]}" -D "$WORK/$1.h" -o "$WORK/$1.b" "$EDGE$ASHAPE"
}
status() { head -1 "$WORK/$1.h" | cut -d' ' -f2; }
origin_shape() { esn_origin_requests "$NGX" "/v1/shape?table=$ATABLE"; }

aget alice1 "$ALICE1"
[ "$(status alice1)" = 200 ] && grep -q '"alice note"' "$WORK/alice1.b" && ! grep -q '"bob note"' "$WORK/alice1.b" &&
  hdr cache-control "$WORK/alice1.h" | grep -q '^private' && [ "$(hdr x-cache-status "$WORK/alice1.h")" = MISS ]
r=$?; check "alice through nginx: 200, only her row, the origin's cache-control private, a cache MISS" $r \
  "$(tr -d '\r' < "$WORK/alice1.h" | tr '\n' '|') $(head -c 300 "$WORK/alice1.b")"
O0=$(origin_shape)
aget alice2 "$ALICE2"
[ "$(status alice2)" = 200 ] && [ "$(hdr x-cache-status "$WORK/alice2.h")" = HIT ] && cmp -s "$WORK/alice1.b" "$WORK/alice2.b" &&
  [ "$(origin_shape)" = "$O0" ]
r=$?; check "alice's second token (other exp and jti): a cache HIT with the same body, no shape request to the origin" $r \
  "$(tr -d '\r' < "$WORK/alice2.h" | tr '\n' '|') origin shape requests $O0 -> $(origin_shape)"
aget bob "$BOB"
[ "$(status bob)" = 200 ] && grep -q '"bob note"' "$WORK/bob.b" && ! grep -q '"alice note"' "$WORK/bob.b" &&
  [ "$(hdr x-cache-status "$WORK/bob.h")" != HIT ]
r=$?; check "bob, same URL: his row only, not alice's cached answer" $r "$(tr -d '\r' < "$WORK/bob.h" | tr '\n' '|') $(head -c 300 "$WORK/bob.b")"
aget forged "$FORGED"; aget expired "$EXPIRED"; aget anon ""
[ "$(status forged)" = 401 ] && [ "$(status expired)" = 401 ] && [ "$(status anon)" = 401 ] &&
  grep -q '"message"' "$WORK/forged.b" && grep -q 'expired' "$WORK/expired.b" &&
  ! grep -q 'note' "$WORK/forged.b" "$WORK/expired.b" "$WORK/anon.b" &&
  [ "$(hdr x-cache-status "$WORK/forged.h")" != HIT ] && [ "$(hdr cache-control "$WORK/forged.h")" = no-store ]
r=$?; check "a forged, an expired and no token: the origin's 401 with its JSON message, nothing from the cache" $r \
  "$(status forged) $(head -c 200 "$WORK/forged.b") | $(status expired) $(head -c 200 "$WORK/expired.b") | $(status anon)"
curl -s -H "Authorization: Bearer $ALICE1" -D "$WORK/who.h" -o "$WORK/who.b" "http://$ORIGIN/v1/reader"
[ "$(status who)" = 200 ] && hdr electric-reader "$WORK/who.h" | grep -qE '^reader-[0-9a-f]{64}$' &&
  grep -q '"subject":"alice"' "$WORK/who.b" &&
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $FORGED" "http://$ORIGIN/v1/reader")" = 401 ]
r=$?; check "GET /v1/reader: 200 with electric-reader (a hash, not the claims) for a good token, 401 for a forged one" $r \
  "$(tr -d '\r' < "$WORK/who.h" | tr '\n' '|') $(cat "$WORK/who.b")"

# A device: enrolled, read twice (the second from the cache), revoked, refused at once.
CODE=$("${PSQL[@]}" -c "SELECT electric_sync.create_enrollment('$AROLE', '{\"sub\":\"alice\"}')")
curl -s -X POST -H 'content-type: application/json' -d "{\"code\":\"$CODE\"}" -o "$WORK/enroll.b" "http://$ORIGIN/v1/enroll"
DTOKEN=$(sed -n 's/.*"token":"\([^"]*\)".*/\1/p' "$WORK/enroll.b"); DEVICE=$(sed -n 's/.*"device_id":"\([^"]*\)".*/\1/p' "$WORK/enroll.b")
aget dev1 "$DTOKEN"; aget dev2 "$DTOKEN"
[ -n "$DTOKEN" ] && [ "$(status dev1)" = 200 ] && [ "$(hdr x-cache-status "$WORK/dev2.h")" = HIT ] && grep -q '"alice note"' "$WORK/dev2.b"
r=$?; check "an enrolled device reads through nginx, the second time from the cache" $r "$(head -c 300 "$WORK/enroll.b") $(status dev1) $(hdr x-cache-status "$WORK/dev2.h")"
"${PSQL[@]}" -c "SELECT electric_sync.revoke_device('$DEVICE', 'nginx test')" >/dev/null
for _ in $(seq 1 50); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $DTOKEN" "http://$ORIGIN/v1/reader")" = 401 ] && break; sleep 0.1
done
aget dev3 "$DTOKEN"
[ "$(status dev3)" = 401 ] && ! grep -q 'note' "$WORK/dev3.b"
r=$?; check "the revoked device is refused through nginx although its answer is still in the cache" $r "$(status dev3) $(head -c 200 "$WORK/dev3.b")"

finish
