#!/usr/bin/env bash
# SyncKit WebSocket endpoint (/ws, issue 14): fan-out latency and memory, sustained deltas/s.
#
# 1. Fan-out: 1,000 WebSocket clients SUBSCRIBEd to one document, one writer sending DELTAs at a
#    fixed rate; latency = when a receiver has the DELTA - when the writer sent it (so it includes
#    the commit); p50/p99 over every (delta, receiver) pair and of the time until the last
#    receiver has a delta. Worker RSS (/proc/<pid>/status, pid from pg_stat_activity) before and
#    after the 1,000 idle subscribed clients connected. Ceiling: bench/synckit/ws_broadcast.cpp,
#    a plain epoll WebSocket server re-sending every binary message to every client, with the
#    same clients and the same frames (its clients do not SUBSCRIBE: it would broadcast those).
#    Targets: p99 <= 20 ms, <= 8 KB per connection (SyncKit claims < 5 ms p95 and ~4 KB).
# 2. Sustained deltas/s into one document and into 1,000 documents: W writer connections, each
#    keeping a window of K DELTAs outstanding (the next one on each ACK). Ceiling: pgbench, W
#    clients, the same INSERT ... ON CONFLICT (LWW on (ts, client_id)) into a plain table shaped
#    like electric_sync_docs.fields, one transaction per row, same rows (w<i>f<0..9> in one
#    document or in 1,000). The worker's pool has as many connections (db_pool_size = 8).
#    Also printed (a diagnostic, not a ceiling): the endpoint's own SQL function, per delta, run
#    by pgbench at the same concurrency.
# Each comparison runs in rounds figure, ceiling, ceiling, figure (the shared machine's load
# drifts within a run) and reports the means. The load generator is bench/synckit/skload.cpp
# (one epoll thread for the receivers, the writer in a child process; C++17, OpenSSL).
# Usage: bench/synckit/run.sh [--quick]   (--quick: 5 s of deltas, 4 s per throughput case)
set -uo pipefail
source "$(dirname "$0")/../lib_bench.sh"
SK_DIR="$BENCH_DIR/synckit"
PGPORT_SK="${SYNCKIT_PGPORT:-54414}"; HTTP_SK="${SYNCKIT_HTTP:-3414}"; REF_PORT="${SYNCKIT_REF_PORT:-3424}"
CLIENTS=1000; RATE=20; FAN_SECS=15; WRITERS=8; WINDOW=16; TP_SECS=10; DOCS=1000
[ $BENCH_QUICK = 1 ] && { FAN_SECS=5; TP_SECS=4; }
COUNT=$((RATE * FAN_SECS))
SECRET="bench-synckit-secret"
PGBENCH="$PG_BIN/pgbench"

mkdir -p "$BENCH_DIR/.build"
SKLOAD="$BENCH_DIR/.build/skload"; WSB="$BENCH_DIR/.build/ws_broadcast"
for p in skload ws_broadcast; do
  if [ ! -x "$BENCH_DIR/.build/$p" ] || [ "$SK_DIR/$p.cpp" -nt "$BENCH_DIR/.build/$p" ]; then
    g++ -std=c++17 -O2 -o "$BENCH_DIR/.build/$p" "$SK_DIR/$p.cpp" -lcrypto || { bench_log "building $p failed"; exit 1; }
  fi
done
ulimit -n "$(ulimit -Hn)"

bench_cluster_start synckit "$PGPORT_SK" "$HTTP_SK" \
  "electric_sync.jwt_secret = '$SECRET'" \
  "electric_sync.synckit_anonymous = on" \
  "electric_sync.synckit_max_connections_per_ip = 100000" \
  "electric_sync.synckit_messages_per_minute = 100000000" \
  "electric_sync.db_pool_size = $WRITERS" "max_connections = 200" || exit 1
# Builds before 0e22b4f defined the electric_sync.synckit_* settings after
# MarkGUCPrefixReserved("electric_sync"), so at start Postgres dropped them from the
# configuration ("invalid configuration parameter name ... removing it"); they are PGC_SIGHUP:
# a reload applies them.
if [ "$(bench_sql "SELECT current_setting('electric_sync.synckit_max_connections_per_ip', true)")" != 100000 ]; then
  bench_log "the synckit settings were dropped at start; reloading the configuration"
  bench_sql "SELECT pg_reload_conf()" >/dev/null; sleep 1
fi
PSA_PID=$(bench_sql "SELECT pid FROM pg_stat_activity WHERE backend_type ILIKE '%electric_sync%' ORDER BY backend_start LIMIT 1")
[ -n "$PSA_PID" ] && WORKER_PID="$PSA_PID"
echo "cluster: ports $PGPORT_SK / $HTTP_SK; worker pid $WORKER_PID ($(bench_sql "SELECT backend_type FROM pg_stat_activity WHERE pid = $WORKER_PID")), open files $WORKER_NOFILE"
for s in synckit_max_connections_per_ip synckit_messages_per_minute synckit_anonymous db_pool_size; do
  printf '  electric_sync.%s = %s\n' "$s" "$(bench_sql "SELECT current_setting('electric_sync.$s', true)" 2>/dev/null)"
done

WS_STATUS=$(curl -s -o /dev/null -m 5 -w '%{http_code}' -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
  -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "http://127.0.0.1:$HTTP_SK/ws")
WS_OK=0; [ "$WS_STATUS" = 101 ] && WS_OK=1
[ $WS_OK = 1 ] || echo "FAILED: the installed build does not serve /ws (upgrade answered HTTP $WS_STATUS); only the ceilings are measured"

TMPD=$(mktemp -d)
BENCH_CLEANUP_EXTRA+=('rm -rf "$TMPD"')

# ---------------------------------------------------------------- 1. fan-out
# Rounds electric_sync, ceiling, ceiling, electric_sync (the machine's load drifts within a
# run); each latency figure is the mean of its two rounds. RSS per connection: the first round
# of each (the second reuses memory the first freed; each ceiling round is a fresh process).
fan_es() {
  bench_log "fan-out round $1: $CLIENTS clients on one document through electric_sync, $RATE deltas/s for $FAN_SECS s"
  "$SKLOAD" fanout --port "$HTTP_SK" --path /ws --secret "$SECRET" -n $CLIENTS --doc "fan$1" --rate $RATE --count $COUNT \
    --settle 3 --timeout 10 --rss-pid "$WORKER_PID" > "$TMPD/es$1"
  echo $? > "$TMPD/es$1.rc"
}
fan_ref() {
  bench_log "fan-out ceiling round $1: the same clients and frames through ws_broadcast"
  "$WSB" --port "$REF_PORT" --lifetime $((FAN_SECS + 120)) & REFPID=$!
  BENCH_CLEANUP_EXTRA+=("kill $REFPID")
  sleep 0.3
  "$SKLOAD" fanout --port "$REF_PORT" --path /ws -n $CLIENTS --no-subscribe --doc fan --rate $RATE --count $COUNT \
    --settle 3 --timeout 10 --rss-pid "$REFPID" > "$TMPD/ref$1"
  kill $REFPID 2>/dev/null; wait $REFPID 2>/dev/null
}
per_conn() { awk -v a="$(kv "$1" rss_before_kb)" -v b="$(kv "$1" rss_parked_kb)" -v k="$(kv "$1" clients_subscribed)" 'BEGIN { if (k > 0) printf "%.2f", (b - a) / k; else print "n/a" }'; }
mean2() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "n/a" || b == "n/a") print "n/a"; else printf "%.2f", (a + b) / 2 }'; }
lat_line() { echo "p50 $(kv "$1" lat_p50_ms) / p95 $(kv "$1" lat_p95_ms) / p99 $(kv "$1" lat_p99_ms) / max $(kv "$1" lat_max_ms) ms; to all: p50 $(kv "$1" all_p50_ms) / p99 $(kv "$1" all_p99_ms) ms; to the first: p50 $(kv "$1" first_p50_ms) / p99 $(kv "$1" first_p99_ms) ms"; }

# Marginal memory: RSS never shrinks after frees, so the first round's growth includes the
# allocator's one-time growth and the second round reuses what the first freed. After both,
# 1,000 connections are held (a run that idles) while 1,000 more connect: their growth goes
# past the earlier peak, so it is the cost of one more connection with a warmed allocator.
fan_marginal() {
  bench_log "fan-out marginal memory: 1,000 more connections on top of 1,000 held"
  "$SKLOAD" fanout --port "$HTTP_SK" --path /ws --secret "$SECRET" -n $CLIENTS --doc fanhold --rate 1 --count 30 \
    --settle 2 --timeout 5 > /dev/null 2>&1 & HOLDPID=$!
  BENCH_CLEANUP_EXTRA+=("kill $HOLDPID")
  for _ in $(seq 1 100); do
    n=$(curl -s -m 2 "http://127.0.0.1:$HTTP_SK/v1/metrics" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["synckit"]["subscriptions"])' 2>/dev/null)
    [ "${n:-0}" -ge "$CLIENTS" ] && break
    sleep 0.2
  done
  "$SKLOAD" fanout --port "$HTTP_SK" --path /ws --secret "$SECRET" -n $CLIENTS --doc fanm --rate $RATE --count $RATE \
    --settle 3 --timeout 10 --rss-pid "$WORKER_PID" > "$TMPD/esm"
  kill $HOLDPID 2>/dev/null; wait $HOLDPID 2>/dev/null
}

[ $WS_OK = 1 ] && fan_es 1
fan_ref 1; fan_ref 2
[ $WS_OK = 1 ] && fan_es 2
[ $WS_OK = 1 ] && fan_marginal
for r in 1 2; do
  f="$TMPD/ref$r"
  echo "ws_broadcast, round $r:  $(kv "$f" clients_subscribed) clients; delivered $(kv "$f" delivered) of $(kv "$f" expected); $(lat_line "$f"); RSS $(kv "$f" rss_before_kb) -> $(kv "$f" rss_parked_kb) kB ($(per_conn "$f") kB per connection)"
done
RPER=$(per_conn "$TMPD/ref1")
R50=$(mean2 "$(kv "$TMPD/ref1" lat_p50_ms)" "$(kv "$TMPD/ref2" lat_p50_ms)")
R99=$(mean2 "$(kv "$TMPD/ref1" lat_p99_ms)" "$(kv "$TMPD/ref2" lat_p99_ms)")
RA99=$(mean2 "$(kv "$TMPD/ref1" all_p99_ms)" "$(kv "$TMPD/ref2" all_p99_ms)")
if [ $WS_OK = 1 ]; then
  for r in 1 2; do
    f="$TMPD/es$r"
    echo "electric_sync, round $r: $(kv "$f" clients_subscribed) of $CLIENTS clients subscribed in $(kv "$f" connect_seconds) s (connect failures $(kv "$f" connect_failures), refused $(kv "$f" handshake_failures)); delivered $(kv "$f" delivered) of $(kv "$f" expected); $(kv "$f" acks) ACKs for $COUNT deltas; $(lat_line "$f"); writer's ACK (own process): p50 $(kv "$f" ack_p50_ms) / p99 $(kv "$f" ack_p99_ms) ms; worker RSS $(kv "$f" rss_before_kb) -> $(kv "$f" rss_parked_kb) kB parked ($(per_conn "$f") kB per connection), $(kv "$f" rss_after_kb) kB after; errors $(kv "$f" errors), closed by server $(kv "$f" closed_by_server)"
    [ -n "$(kv "$f" first_error)" ] && echo "  first error: $(kv "$f" first_error)"
    [ "$(cat "$f.rc")" -eq 0 ] || echo "FAILED: round $r: not every client got every delta (or not every client subscribed)"
    [ "$(kv "$f" acks)" = "$COUNT" ] || echo "FAILED: round $r: the writer got $(kv "$f" acks) ACKs for $COUNT deltas"
  done
  PER=$(per_conn "$TMPD/esm")
  echo "electric_sync, marginal: $(kv "$TMPD/esm" clients_subscribed) more clients on top of $CLIENTS held: worker RSS $(kv "$TMPD/esm" rss_before_kb) -> $(kv "$TMPD/esm" rss_parked_kb) kB ($PER kB per connection); first round (fresh process, includes the allocator's growth): $(per_conn "$TMPD/es1") kB per connection"
  LP50=$(mean2 "$(kv "$TMPD/es1" lat_p50_ms)" "$(kv "$TMPD/es2" lat_p50_ms)")
  LP99=$(mean2 "$(kv "$TMPD/es1" lat_p99_ms)" "$(kv "$TMPD/es2" lat_p99_ms)")
  AP99=$(mean2 "$(kv "$TMPD/es1" all_p99_ms)" "$(kv "$TMPD/es2" all_p99_ms)")
else
  PER=n/a; LP50=n/a; LP99=n/a; AP99=n/a
fi
bench_result "fan-out delta -> client latency p50, $CLIENTS clients, one document, $RATE deltas/s (mean of 2 rounds)" "$LP50" "$R50" ms lower "(SyncKit claims p95 < 5 ms)"
bench_result "fan-out delta -> client latency p99 (mean of 2 rounds)" "$LP99" "$R99" ms lower "p99 <= 20 ms"
bench_result "fan-out delta -> last of $CLIENTS clients, p99 (mean of 2 rounds)" "$AP99" "$RA99" ms lower
bench_result "worker RSS per idle subscribed connection (1,000 more on top of 1,000 held)" "$PER" "$RPER" kB lower "<= 8 KB (SyncKit claims ~4 KB)"
FAN_LINES=("latency p50 (ms)|$LP50|$R50|lower|SyncKit: p95 < 5"
           "latency p99 (ms)|$LP99|$R99|lower|<= 20"
           "delta to all clients p99 (ms)|$AP99|$RA99|lower|"
           "RSS per connection (kB)|$PER|$RPER|lower|<= 8 (SyncKit ~4)")

# ---------------------------------------------------------------- 2. throughput
# The ceiling's table: the shape of electric_sync_docs.fields (no foreign key, no trigger).
if [ "$(bench_sql "SELECT to_regclass('electric_sync_docs.fields') IS NOT NULL")" = t ]; then
  bench_sql "CREATE TABLE bench_plain_fields (LIKE electric_sync_docs.fields INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)" || exit 1
else
  bench_log "electric_sync_docs.fields does not exist: the ceiling uses the contract's shape"
  bench_sql "CREATE TABLE bench_plain_fields (document_id text NOT NULL, field text NOT NULL, value jsonb, deleted bool NOT NULL DEFAULT false,
    ts bigint NOT NULL, client_id text COLLATE \"C\" NOT NULL, counter bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (document_id, field))" || exit 1
fi
echo "ceiling table: $(bench_sql "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'bench_plain_fields'::regclass AND attnum > 0 AND NOT attisdropped")"

# pgbench_tps DOCS SQL-TEMPLATE: tps of pgbench, $WRITERS clients, $TP_SECS s; in the template
# {doc} is the document expression, :k (0..9) and :d (0..DOCS-1) are set.
pgbench_tps() {
  local f; f=$(mktemp)
  local doc="'$3'"; [ "$1" -gt 1 ] && doc="'$3-' || :d"
  { echo '\set k random(0, 9)'; echo "\\set d random(0, $(($1 - 1)))"; echo "${2//\{doc\}/$doc}"; } > "$f"
  "$PGBENCH" -n -h 127.0.0.1 -p "$PGPORT_SK" -U postgres -f "$f" -c $WRITERS -j 2 -T "$TP_SECS" postgres 2>"$f.err" |
    sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1 | xargs -r printf '%.1f\n'
  [ -s "$f.err" ] && grep -m 3 -i error "$f.err" >&2
  rm -f "$f" "$f.err"
}
# The ceiling: the same upsert (LWW on (ts, client_id)) into the plain table.
UPSERT="INSERT INTO bench_plain_fields AS f (document_id, field, value, deleted, ts, client_id, counter, updated_at)
  VALUES ({doc}, 'w' || :client_id || 'f' || :k, to_jsonb('skb:0:' || :k), false,
          (extract(epoch FROM clock_timestamp()) * 1000)::bigint, 'bench-w' || :client_id, 1, now())
  ON CONFLICT (document_id, field) DO UPDATE SET value = EXCLUDED.value, deleted = false, ts = EXCLUDED.ts,
    client_id = EXCLUDED.client_id, counter = f.counter + 1, updated_at = EXCLUDED.updated_at
  WHERE (EXCLUDED.ts, EXCLUDED.client_id) >= (f.ts, f.client_id);"
# Diagnostic, not a ceiling: the endpoint's own statement per delta (as src/synckit/endpoint.cpp
# sends it: the origin setting, which spares WebSocket writes the NOTIFY since 211aa9e, then the
# LWW function with its triggers) at the same concurrency, when this build has it: the SQL's share.
APPLY_FN="electric_sync._synckit_apply(text,text,jsonb,boolean,bigint,text,bigint,boolean)"
OWN="SELECT a.value::text, a.deleted, a.ts, a.client_id, a.counter, a.won
  FROM (SELECT set_config('electric_sync.synckit_origin', '0', true) AS o) s,
  LATERAL electric_sync._synckit_apply(CASE WHEN s.o IS NOT NULL THEN {doc} END, 'w' || :client_id || 'f' || :k,
    to_jsonb('skb:0:' || :k), false, (extract(epoch FROM clock_timestamp()) * 1000)::bigint, 'bench-w' || :client_id, 1, true) a;"

# tp_es DOCS DOC ROUND: one round of writers against electric_sync into $TMPD/tp<DOCS>.<ROUND>
tp_es() {
  local f="$TMPD/tp$1.$3"
  bench_log "throughput round $3 into $1 document(s): $WRITERS writers, window $WINDOW, $TP_SECS s"
  "$SKLOAD" throughput --port "$HTTP_SK" --path /ws --secret "$SECRET" --writers $WRITERS --window $WINDOW \
    --docs "$1" --doc "$2" --seconds "$TP_SECS" > "$f"
  local rc=$?
  echo "electric_sync, $1 document(s), round $3: $(kv "$f" acks) ACKs in $(kv "$f" seconds) s = $(kv "$f" rate) deltas/s; ACK p50 $(kv "$f" ack_p50_ms) / p99 $(kv "$f" ack_p99_ms) ms; writers open $(kv "$f" writers_open)/$WRITERS; errors $(kv "$f" errors), closed by server $(kv "$f" closed_by_server)"
  [ -n "$(kv "$f" first_error)" ] && echo "  first error: $(kv "$f" first_error)"
  [ $rc -eq 0 ] || echo "FAILED: errors, closed writers or no ACK (round $3, $1 document(s))"
}

TP_LINES=()
for docs in 1 $DOCS; do
  name="one document"; doc=tp1; [ $docs -gt 1 ] && { name="$docs documents"; doc=tpm; }
  # Rounds electric_sync, pgbench, pgbench, electric_sync; figures are the means.
  [ $WS_OK = 1 ] && tp_es $docs $doc 1
  bench_log "ceiling: pgbench, $WRITERS clients, the same upsert into bench_plain_fields ($name), 2 rounds"
  c1=$(pgbench_tps $docs "$UPSERT" $doc); c2=$(pgbench_tps $docs "$UPSERT" $doc)
  echo "pgbench, $name: $c1 / $c2 upserts/s ($WRITERS clients, one transaction each)"
  [ $WS_OK = 1 ] && tp_es $docs $doc 2
  ceil=$(mean2 "$c1" "$c2"); fig=n/a
  [ $WS_OK = 1 ] && fig=$(mean2 "$(kv "$TMPD/tp$docs.1" rate)" "$(kv "$TMPD/tp$docs.2" rate)")
  bench_result "sustained deltas/s into $name ($WRITERS writers, window $WINDOW; mean of 2 rounds)" "$fig" "$ceil" deltas/s higher
  TP_LINES+=("deltas/s, $name|$fig|$ceil|higher|")
  if [ $WS_OK = 1 ]; then
    own=n/a
    if [ "$(bench_sql "SELECT to_regprocedure('$APPLY_FN') IS NOT NULL")" = t ]; then
      bench_log "diagnostic: the endpoint's own SQL function through pgbench ($name)"
      own=$(pgbench_tps $docs "$OWN" "own$doc")
    fi
    echo "diagnostic, $name: electric_sync._synckit_apply through pgbench ($WRITERS clients): $own calls/s (the endpoint: $fig deltas/s)"
    TP_LINES+=("  (diagnostic) the endpoint's SQL alone, $name|$own|$ceil|higher|")
  fi
done
if [ $WS_OK = 1 ]; then
  echo "stored: $(bench_sql "SELECT count(*) || ' field rows in ' || count(DISTINCT document_id) || ' documents' FROM electric_sync_docs.fields" 2>/dev/null)"
  echo "metrics: $(curl -s -m 5 "http://127.0.0.1:$HTTP_SK/v1/metrics" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin).get("synckit")))' 2>/dev/null)"
fi

# ---------------------------------------------------------------- table
echo
echo "| figure | electric_sync | ceiling (same run) | ratio | target |"
echo "| --- | --- | --- | --- | --- |"
for l in "${FAN_LINES[@]}" "${TP_LINES[@]}"; do
  IFS='|' read -r n f c dir t <<< "$l"
  if [ "$dir" = higher ]; then r=$(awk -v f="$f" -v c="$c" 'BEGIN { if (f + 0 > 0 && c > 0) printf "%.3f", f / c; else print "n/a" }')
  else r=$(awk -v f="$f" -v c="$c" 'BEGIN { if (f + 0 > 0 && c > 0) printf "%.3f", c / f; else print "n/a" }'); fi
  echo "| $n | $f | $c | $r | $t |"
done
