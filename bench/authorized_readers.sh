#!/usr/bin/env bash
# Authorized readers (issue 12): 1,000 readers of one table under one row-level security policy
# (`owner = <the token's sub>`), each with its own HS256 token (1,000 distinct `sub`, so 1,000
# shapes), against the same 1,000 readers as plain `where owner = $1` shapes read with the
# administrator's secret, in the same run on the same cluster (read_auth = 'jwt'). Two tables
# with equal content (notes_plain, notes_auth: 10 rows per owner), so the cases share no shape.
#
# Figures, each for both cases (the plain case is the ceiling):
#   1. memory per reader: worker RSS growth while the 1,000 shapes are created by GET offset=-1
#      (8 at a time, like bench/shape_memory.sh), plus the growth while 1,000 live long-poll
#      clients (one per reader) are parked (esload live without commits, rss_before ->
#      rss_parked), / 1,000. The plain clients are still parked while the authorized ones
#      connect, so neither case reuses memory the other freed;
#   2. routing changes/s (bench/routing.sh's method): the worker is paused (SIGSTOP) while idle,
#      N rows over the 1,000 owners are inserted (100 per transaction), then SIGCONT; time until
#      processed_lsn reaches the WAL end; the shape logs must grow by exactly N entries;
#   3. commit -> client p50 / p99 (bench/latency.sh's method): the 1,000 live clients connected,
#      100 one-row transactions/s, transaction seq for owner u<seq % 1000>.
# Routing and latency run in rounds plain, authorized, authorized, plain, and each figure is the
# mean of a case's two rounds (whichever case runs second meets bigger shape logs and WAL).
# autovacuum is off in this cluster (a vacuum of the first round's table started during the
# next round took a core from it); each routing round starts after VACUUM ANALYZE + CHECKPOINT.
# ratio = authorized / plain for memory and latency, plain / authorized for changes/s: the
# authorized case costs `ratio` times the plain one. Target: ratio <= 1.5 on each figure.
# Phase order: shapes, parked clients (plain, then authorized), routing, latency.
# Usage: bench/authorized_readers.sh [--quick]   (default 200k routed changes and 20 s of
# commits per case; --quick 50k and 10 s)
set -uo pipefail
source "$(dirname "$0")/lib_bench.sh"
READERS=1000; ROWS_PER_OWNER=10; ROUTE_N=200000; PER_TX=100; RATE=100; SECS=20
[ $BENCH_QUICK = 1 ] && { ROUTE_N=50000; SECS=10; }
COUNT=$((RATE * SECS))   # >= READERS, so that every client has at least one change to wait for
LIMIT_S=${ROUTING_LIMIT_S:-300}
ROLE=bench_reader
JWT_SECRET='bench-authorized-readers-jwt-secret-7f3a9c'
ADMIN_SECRET='bench-authorized-readers-admin-secret-51d2'

WORK=$(mktemp -d /tmp/esbench_authorized_readers.XXXXXX)
BENCH_CLEANUP_EXTRA+=("rm -rf $WORK")

# Tokens (in the background while the cluster starts): {"role", "sub": "u<i>", "exp": 2100-01-01},
# HS256 with the jwt_secret. Line i of tokens.hdr is reader i's Authorization header (esload
# --header-file); line READERS is the warm-up reader's (sub "warm").
b64url() { basenc --base64url -w0 | tr -d '='; }
make_tokens() {
  local h p s i sub
  h=$(printf '%s' '{"alg":"HS256","typ":"JWT"}' | b64url)
  for ((i = 0; i <= READERS; i++)); do
    sub="u$i"; [ $i = $READERS ] && sub=warm
    p=$(printf '{"role":"%s","sub":"%s","exp":4102444800}' "$ROLE" "$sub" | b64url)
    s=$(printf '%s' "$h.$p" | openssl dgst -sha256 -hmac "$JWT_SECRET" -binary | b64url)
    echo "Authorization: Bearer $h.$p.$s"
  done > "$WORK/tokens.tmp" && mv "$WORK/tokens.tmp" "$WORK/tokens.all"
}
make_tokens & TOKPID=$!

bench_build_esload || exit 1
bench_cluster_start authorized_readers 54411 3411 "electric_sync.read_auth = 'jwt'" \
  "electric_sync.jwt_secret = '$JWT_SECRET'" "electric_sync.secret = '$ADMIN_SECRET'" "autovacuum = off" || exit 1
BENCH_CLEANUP_EXTRA+=("kill -CONT $WORKER_PID")
URL="http://127.0.0.1:$BENCH_HTTP"

bench_sql "CREATE ROLE $ROLE NOLOGIN; GRANT $ROLE TO electric_sync_reader" || exit 1
for t in notes_plain notes_auth; do
  bench_sql "CREATE TABLE $t (id bigserial PRIMARY KEY, owner text NOT NULL, seq bigint, body text);
             CREATE INDEX ON $t (owner);
             INSERT INTO $t (owner, seq, body)
               SELECT 'u' || (g % $READERS), -1, 'note ' || g FROM generate_series(0, $((READERS * ROWS_PER_OWNER - 1))) g" || exit 1
done
bench_sql "GRANT SELECT ON notes_auth TO $ROLE;
           ALTER TABLE notes_auth ENABLE ROW LEVEL SECURITY;
           CREATE POLICY own ON notes_auth FOR SELECT TO $ROLE
             USING (owner = current_setting('request.jwt.claims', true)::jsonb ->> 'sub')" || exit 1
bench_wait_processed "$(bench_sql "SELECT pg_current_wal_lsn()")" 120 || { echo "FAILED: worker does not catch up with the load"; exit 1; }
wait $TOKPID
[ -s "$WORK/tokens.all" ] || { echo "FAILED: making the tokens"; exit 1; }
head -n $READERS "$WORK/tokens.all" > "$WORK/tokens.hdr"
WARM_HDR=$(tail -n 1 "$WORK/tokens.all")
mapfile -t TOKENS < "$WORK/tokens.hdr"

PATH_PLAIN="/v1/shape?table=notes_plain&where=owner%20%3D%20%241&secret=$ADMIN_SECRET&params%5B1%5D="
PATH_AUTH="/v1/shape?table=notes_auth"
shape_count() { bench_sql "SELECT count(*) FROM electric_sync.shapes WHERE table_name = '$1' AND status = 'active'"; }

# ---------------------------------------------------------------- 1. memory (shapes)
# One shape of each kind first (one-time allocations: the table's relation state, the policy
# compiler, the token verifier, the client record).
W1=$(curl -s -o /dev/null -w '%{http_code}' "$URL${PATH_PLAIN}warm&offset=-1")
W2=$(curl -s -o /dev/null -w '%{http_code}' -H "$WARM_HDR" "$URL$PATH_AUTH&offset=-1")
[ "$W1" = 200 ] && [ "$W2" = 200 ] || { echo "FAILED: warm-up shapes answered $W1 (plain) / $W2 (authorized)"; exit 1; }
sleep 1

# create_shapes CASE: prints "<kB before> <kB after> <200s> <seconds>".
create_shapes() {
  local case="$1" i t0 t1 r0 r1
  for ((i = 0; i < READERS; i++)); do
    if [ "$case" = plain ]; then
      printf 'url = "%s%su%d&offset=-1"\n' "$URL" "$PATH_PLAIN" "$i"
    else
      printf 'url = "%s%s&offset=-1"\nheader = "%s"\n' "$URL" "$PATH_AUTH" "${TOKENS[i]}"
    fi
    printf 'output = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n'
    [ $i -lt $((READERS - 1)) ] && echo next
  done > "$WORK/$case.cfg"
  r0=$(bench_rss_kb "$WORKER_PID")
  t0=$(bench_now)
  curl -s --no-progress-meter --parallel --parallel-max 8 --interface 127.0.0.2 --max-time 60 -K "$WORK/$case.cfg" > "$WORK/$case.codes"
  t1=$(bench_now)
  sleep 2
  r1=$(bench_rss_kb "$WORKER_PID")
  bench_log "$case: answers $(sort "$WORK/$case.codes" | uniq -c | awk '{printf "%s x %s; ", $2, $1}')"
  echo "$r0 $r1 $(grep -c '^200$' "$WORK/$case.codes") $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')"
}
bench_log "memory: creating $READERS plain shapes (where owner = \$1, admin secret)"
read -r MP0 MP1 OKP TP <<<"$(create_shapes plain)"
bench_log "memory: creating $READERS authorized shapes (one token per reader)"
read -r MA0 MA1 OKA TA <<<"$(create_shapes auth)"
NP=$(shape_count notes_plain); NA=$(shape_count notes_auth)
echo "plain:      $OKP of $READERS shapes answered 200 in $TP s; $NP active shapes on notes_plain (1 warm-up); worker RSS $MP0 -> $MP1 kB"
echo "authorized: $OKA of $READERS readers answered 200 in $TA s; $NA active shapes on notes_auth (1 warm-up); worker RSS $MA0 -> $MA1 kB"
echo "authorized shape of u7: policy_where = $(bench_sql "SELECT policy_where FROM electric_sync.shapes WHERE table_name = 'notes_auth' AND policy_where LIKE '%''u7''%' LIMIT 1"), read_role = $(bench_sql "SELECT DISTINCT read_role FROM electric_sync.shapes WHERE table_name = 'notes_auth'")"
# What reader u7 gets: its own 10 rows only.
U7=$(curl -s -H "${TOKENS[7]}" "$URL$PATH_AUTH&offset=-1")
U7_ROWS=$(grep -o '"key":' <<<"$U7" | wc -l); U7_OTHER=$(grep -o '"owner":"[^"]*"' <<<"$U7" | grep -vc '"owner":"u7"')
echo "reader u7's snapshot: $U7_ROWS rows (expected $ROWS_PER_OWNER), $U7_OTHER of another owner (expected 0)"
FAILS=()
[ "$OKP" = $READERS ] && [ "$NP" = $((READERS + 1)) ] || FAILS+=("plain shapes: $OKP answered 200, $NP active (expected $READERS, $((READERS + 1)))")
[ "$OKA" = $READERS ] && [ "$NA" = $((READERS + 1)) ] || FAILS+=("authorized readers: $OKA answered 200, $NA shapes (expected $READERS, $((READERS + 1)))")
[ "$U7_ROWS" = $ROWS_PER_OWNER ] && [ "$U7_OTHER" = 0 ] || FAILS+=("reader u7 got $U7_ROWS rows, $U7_OTHER of others")

# ---------------------------------------------------------------- 1b. memory (parked clients)
# esload live without --conninfo: the clients park and wait for changes that never come
# (the committer only paces --count seqs at --rate: up to 50 s); killed once both are parked.
# live_args CASE: esload's --path (and --header-file) for CASE, in LIVE_ARGS.
live_args() {
  if [ "$1" = plain ]; then LIVE_ARGS=(--path "${PATH_PLAIN}u{s}")
  else LIVE_ARGS=(--path "$PATH_AUTH" --header-file "$WORK/tokens.hdr"); fi
}
PARKED=()   # esload pids still running (killed at exit if the script stops early)
BENCH_CLEANUP_EXTRA+=('[ ${#PARKED[@]} -gt 0 ] && kill "${PARKED[@]}"')
# park_case CASE OUT: starts it in the background (pid in PARKED), waits for rss_parked_kb.
park_case() {
  local i
  live_args "$1"
  "$ESLOAD" live --port "$BENCH_HTTP" "${LIVE_ARGS[@]}" -n $READERS --shapes $READERS \
    --count $READERS --rate 20 --settle 2 --timeout 5 --rss-pid "$WORKER_PID" > "$2" &
  local pid=$!
  PARKED+=("$pid")
  for ((i = 0; i < 1200; i++)); do
    grep -q '^rss_parked_kb=' "$2" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  bench_log "$1: the parked clients did not report"; return 1
}
bench_log "memory: parking $READERS plain clients, then $READERS authorized ones (both held)"
park_case plain "$WORK/park_plain.out" && park_case auth "$WORK/park_auth.out"
kill "${PARKED[@]}" 2>/dev/null; wait "${PARKED[@]}" 2>/dev/null; PARKED=()
for c in plain auth; do
  o="$WORK/park_$c.out"
  echo "parked $c: $(kv "$o" clients_connected) clients connected; worker RSS $(kv "$o" rss_before_kb) -> $(kv "$o" rss_parked_kb) kB"
  [ "$(kv "$o" clients_connected)" = $READERS ] || FAILS+=("$c: $(kv "$o" clients_connected) of $READERS clients parked")
done
sleep 2

# ---------------------------------------------------------------- 2. routing
# route_case TABLE: prints "<changes/s> <ok> <shape_log entries added>".
route_case() {
  local table="$1" t0 t1 c0 c1 log0 log1 target ok=0
  local logq="SELECT coalesce(sum(cardinality(l.entries)), 0) FROM electric_sync.shape_log l JOIN electric_sync.shapes s ON s.shape_id = l.shape_id WHERE s.table_name = '$table'"
  bench_sql "VACUUM ANALYZE" && bench_sql "CHECKPOINT"
  bench_sql "INSERT INTO $table (owner, seq, body) VALUES ('warm', -1, 'warm-up')" >/dev/null
  bench_wait_processed "$(bench_sql "SELECT pg_current_wal_lsn()")" 120 || { bench_log "$table: worker does not catch up"; echo "0 0 0"; return; }
  c0=$(bench_sql "SELECT changes_processed FROM electric_sync.worker_status")
  log0=$(bench_sql "$logq")
  sleep 0.5
  kill -STOP "$WORKER_PID"
  t0=$(bench_now)
  bench_sql "DO \$\$ BEGIN FOR i IN 0..$((ROUTE_N / PER_TX - 1)) LOOP
               INSERT INTO $table (owner, seq, body)
                 SELECT 'u' || (g % $READERS), -1, 'change ' || g FROM generate_series(i * $PER_TX, i * $PER_TX + $PER_TX - 1) g;
               COMMIT;
             END LOOP; END \$\$"
  t1=$(bench_now)
  target=$(bench_sql "SELECT pg_current_wal_lsn()")
  bench_log "$table: $ROUTE_N inserts written in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}') s (worker paused)"
  t0=$(bench_now)
  kill -CONT "$WORKER_PID"
  bench_wait_processed "$target" "$LIMIT_S" && ok=1
  t1=$(bench_now)
  c1=$(bench_sql "SELECT changes_processed FROM electric_sync.worker_status")
  log1=$(bench_sql "$logq")
  bench_log "$table: routed $((c1 - c0)) changes in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}') s"
  echo "$(awk -v n="$((c1 - c0))" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }') $ok $((log1 - log0))"
}
# mean2 A B: the mean of two figures ("" if either is missing).
mean2() { awk -v a="$1" -v b="$2" -v f="${3:-%.0f}" 'BEGIN { if (a != "" && b != "") printf f, (a + b) / 2 }'; }
declare -A ROUTED=()
round=0
for c in plain auth auth plain; do
  round=$((round + 1))
  read -r rate rok rlog <<<"$(route_case notes_$c | tail -1)"
  echo "routing round $round ($c): $rate changes/s ($ROUTE_N changes; shape logs +$rlog entries)"
  [ "$rok" = 1 ] && [ "$rlog" = $ROUTE_N ] || FAILS+=("$c routing round $round: finished=$rok, shape logs +$rlog (expected $ROUTE_N)")
  ROUTED[$c]="${ROUTED[$c]:-} $rate"
done
read -r a b <<<"${ROUTED[plain]}"; RP=$(mean2 "$a" "$b")
read -r a b <<<"${ROUTED[auth]}"; RA=$(mean2 "$a" "$b")

# ---------------------------------------------------------------- 3. latency
# live_case CASE OUT
live_case() {
  local case="$1" out="$2" table=notes_plain
  [ "$case" = auth ] && table=notes_auth
  bench_log "latency ($case): $READERS live clients, $RATE tx/s for $SECS s"
  live_args "$case"
  "$ESLOAD" live --port "$BENCH_HTTP" "${LIVE_ARGS[@]}" -n $READERS --shapes $READERS \
    --conninfo "$BENCH_CONNINFO" --sql "INSERT INTO $table (owner, seq, body) VALUES ('u{s}', {seq}, 'x')" \
    --rate $RATE --count $COUNT --settle 2 --timeout 10 --rss-pid "$WORKER_PID" > "$out"
}
declare -A P50=() P99=()
round=0
for c in plain auth auth plain; do
  round=$((round + 1))
  o="$WORK/live_${c}_$round.out"
  sleep 2
  live_case "$c" "$o"; rc=$?
  echo "latency round $round ($c): delivered $(kv "$o" delivered) of $(kv "$o" expected_deliveries); p50 $(kv "$o" lat_p50_ms) ms, p90 $(kv "$o" lat_p90_ms) ms, p99 $(kv "$o" lat_p99_ms) ms, max $(kv "$o" lat_max_ms) ms; $(kv "$o" requests) requests; $(kv "$o" clients_connected) clients connected"
  [ $rc = 0 ] || FAILS+=("$c latency round $round: not every client got every change: $(grep -E 'status_|clients_|commit_error|header_fail' "$o" | tr '\n' ' ')")
  P50[$c]="${P50[$c]:-} $(kv "$o" lat_p50_ms)"; P99[$c]="${P99[$c]:-} $(kv "$o" lat_p99_ms)"
done
read -r a b <<<"${P50[plain]}"; LP50=$(mean2 "$a" "$b" %.2f)
read -r a b <<<"${P50[auth]}"; LA50=$(mean2 "$a" "$b" %.2f)
read -r a b <<<"${P99[plain]}"; LP99=$(mean2 "$a" "$b" %.2f)
read -r a b <<<"${P99[auth]}"; LA99=$(mean2 "$a" "$b" %.2f)

# ---------------------------------------------------------------- results
per() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { if (n > 0 && a != "" && b != "") printf "%.2f", (b - a) / n; else print 0 }'; }
SHP=$(per "$MP0" "$MP1" "$OKP"); SHA=$(per "$MA0" "$MA1" "$OKA")
CLP=$(per "$(kv "$WORK/park_plain.out" rss_before_kb)" "$(kv "$WORK/park_plain.out" rss_parked_kb)" $READERS)
CLA=$(per "$(kv "$WORK/park_auth.out" rss_before_kb)" "$(kv "$WORK/park_auth.out" rss_parked_kb)" $READERS)
MEMP=$(awk -v a="$SHP" -v b="$CLP" 'BEGIN { printf "%.2f", a + b }'); MEMA=$(awk -v a="$SHA" -v b="$CLA" 'BEGIN { printf "%.2f", a + b }')
echo "memory per reader: plain $SHP kB (shape) + $CLP kB (parked client) = $MEMP kB; authorized $SHA + $CLA = $MEMA kB"

# result NAME AUTH PLAIN UNIT higher|lower [TARGET]: ratio = how many times the plain case's
# cost the authorized case has (auth/plain when lower is better, plain/auth when higher is).
result() {
  local name="$1" fig="$2" ceil="$3" unit="$4" dir="$5" target="${6:-}" ratio
  if [ "$dir" = lower ]; then ratio=$(awk -v f="$fig" -v c="$ceil" 'BEGIN { if (c > 0) printf "%.3f", f / c; else print "n/a" }')
  else ratio=$(awk -v f="$fig" -v c="$ceil" 'BEGIN { if (f > 0) printf "%.3f", c / f; else print "n/a" }'); fi
  echo "benchmark: $name"
  echo "figure: $fig $unit (authorized: $READERS readers, one policy, one token each)"
  echo "ceiling: $ceil $unit (plain: $READERS shapes where owner = \$1, same run)"
  echo "ratio: $ratio ($([ "$dir" = lower ] && echo authorized/plain || echo plain/authorized); <= 1.5 meets the target)"
  [ -n "$target" ] && echo "target: $target: $(awk -v r="$ratio" 'BEGIN { print (r != "n/a" && r <= 1.5) ? "met" : "NOT met" }')"
  return 0
}
for f in "${FAILS[@]}"; do echo "FAILED: $f"; done
result "memory per reader, $READERS readers (shape + parked long-poll)" "$MEMA" "$MEMP" kB/reader lower "within 1.5x of plain"
result "routing, $READERS readers ($ROUTE_N changes, mean of 2 rounds)" "${RA:-0}" "${RP:-0}" changes/s higher "within 1.5x of plain"
result "latency p50, $READERS live clients / $RATE tx/s (mean of 2 rounds)" "${LA50:-0}" "${LP50:-0}" ms lower
result "latency p99, $READERS live clients / $RATE tx/s (mean of 2 rounds)" "${LA99:-0}" "${LP99:-0}" ms lower "within 1.5x of plain"
