#!/usr/bin/env bash
# Latency: commit to client delivery, p50 and p99, with 1,000 live long-poll clients on 100
# shapes (`shape = k`) at 100 transactions/s (one 1-row INSERT each, synchronous_commit=on).
# Latency = when the client has the change - when the INSERT was sent (so it includes the
# commit itself). Ceiling: the same clients and the same commits, but the change is handed to
# a plain epoll origin (bench/esload ref) right after the commit is acknowledged.
# Target p99 <= 20 ms. Usage: bench/latency.sh [--quick]  (20 s of commits; --quick 8 s)
set -uo pipefail
source "$(dirname "$0")/lib_bench.sh"
CLIENTS=1000; SHAPES=100; RATE=100; SECS=20
[ $BENCH_QUICK = 1 ] && SECS=8
COUNT=$((RATE * SECS))
REF_PORT=3406

bench_build_esload || exit 1
bench_cluster_start latency 54398 3398 || exit 1
bench_sql "CREATE TABLE lat (id bigserial PRIMARY KEY, shape int NOT NULL, seq bigint NOT NULL, note text)" || exit 1
SQL="INSERT INTO lat (shape, seq, note) VALUES ({s}, {seq}, 'x')"
OUT=$(mktemp); OUTR=$(mktemp)

bench_log "figure: $CLIENTS clients on $SHAPES shapes through electric_sync, $RATE tx/s for $SECS s"
"$ESLOAD" live --port "$BENCH_HTTP" --path "/v1/shape?table=lat&where=shape%20%3D%20{s}" -n $CLIENTS --shapes $SHAPES \
  --conninfo "$BENCH_CONNINFO" --sql "$SQL" --rate $RATE --count $COUNT --settle 2 --timeout 10 --rss-pid "$WORKER_PID" > "$OUT"
RC=$?

bench_log "ceiling: the same against the reference epoll origin"
"$ESLOAD" ref --port $REF_PORT --shapes $SHAPES --lifetime $((SECS + 60)) & REFPID=$!
BENCH_CLEANUP_EXTRA+=("kill $REFPID")
sleep 0.3
"$ESLOAD" live --port $REF_PORT --ref-publish $REF_PORT --path "/v1/shape?table=lat" -n $CLIENTS --shapes $SHAPES \
  --conninfo "$BENCH_CONNINFO" --sql "$SQL" --rate $RATE --count $COUNT --settle 2 --timeout 10 > "$OUTR"
kill $REFPID 2>/dev/null

echo "electric_sync: delivered $(kv "$OUT" delivered) of $(kv "$OUT" expected_deliveries); p50 $(kv "$OUT" lat_p50_ms) ms, p90 $(kv "$OUT" lat_p90_ms) ms, p99 $(kv "$OUT" lat_p99_ms) ms, max $(kv "$OUT" lat_max_ms) ms; $(kv "$OUT" requests) requests; worker RSS $(kv "$OUT" rss_parked_kb) kB"
echo "reference:     delivered $(kv "$OUTR" delivered) of $(kv "$OUTR" expected_deliveries); p50 $(kv "$OUTR" lat_p50_ms) ms, p90 $(kv "$OUTR" lat_p90_ms) ms, p99 $(kv "$OUTR" lat_p99_ms) ms, max $(kv "$OUTR" lat_max_ms) ms"
[ $RC -eq 0 ] || { echo "FAILED: not every client got every change:"; grep -E 'status_|clients_|commit_error|header_fail' "$OUT"; }
bench_result "latency p50, $CLIENTS clients / $SHAPES shapes / $RATE tx/s" "$(kv "$OUT" lat_p50_ms)" "$(kv "$OUTR" lat_p50_ms)" ms lower
bench_result "latency p99, $CLIENTS clients / $SHAPES shapes / $RATE tx/s" "$(kv "$OUT" lat_p99_ms)" "$(kv "$OUTR" lat_p99_ms)" ms lower "p99 <= 20 ms"
rm -f "$OUT" "$OUTR"
