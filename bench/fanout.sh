#!/usr/bin/env bash
# Fan-out: 10,000 concurrent live long-poll clients on one shape, held by the worker; worker
# RSS growth per client; time for one change (one INSERT) to reach all of them. Ceiling: the
# same clients held by a plain single-threaded epoll loop (bench/esload ref) that is told
# about the change right after the commit is acknowledged.
# Targets: <= 10 KB per client, all delivered within 1 s.
# Usage: bench/fanout.sh [--quick]   (--quick: 2,000 clients)
set -uo pipefail
source "$(dirname "$0")/lib_bench.sh"
CLIENTS=10000; [ $BENCH_QUICK = 1 ] && CLIENTS=2000
REF_PORT=3409
SETTLE=$(awk -v k=$CLIENTS 'BEGIN { printf "%.1f", 2 + k / 2500 }')

bench_build_esload || exit 1
# Long-poll hold at its maximum so no request times out while the clients connect.
bench_cluster_start fanout 54399 3399 "electric_sync.long_poll_timeout = 40000" || exit 1
echo "worker open-files soft limit: $WORKER_NOFILE_SOFT as started by es_cluster_start; $WORKER_NOFILE for this run"
bench_sql "CREATE TABLE fan (id bigserial PRIMARY KEY, seq bigint NOT NULL, note text)" || exit 1
SQL="INSERT INTO fan (seq, note) VALUES ({seq}, 'the change')"
OUT=$(mktemp); OUTR=$(mktemp)

bench_log "figure: $CLIENTS clients on one shape through electric_sync"
"$ESLOAD" live --port "$BENCH_HTTP" --path "/v1/shape?table=fan" -n $CLIENTS --conninfo "$BENCH_CONNINFO" --sql "$SQL" \
  --count 1 --settle "$SETTLE" --timeout 30 --rss-pid "$WORKER_PID" > "$OUT"
RC=$?

bench_log "ceiling: the same clients held by the reference epoll loop"
"$ESLOAD" ref --port $REF_PORT --lifetime 120 & REFPID=$!
BENCH_CLEANUP_EXTRA+=("kill $REFPID")
sleep 0.3
"$ESLOAD" live --port $REF_PORT --ref-publish $REF_PORT --path "/v1/shape?table=fan" -n $CLIENTS --conninfo "$BENCH_CONNINFO" \
  --sql "$SQL" --count 1 --settle "$SETTLE" --timeout 30 --rss-pid "$REFPID" > "$OUTR"
kill $REFPID 2>/dev/null

R0=$(kv "$OUT" rss_before_kb); R1=$(kv "$OUT" rss_parked_kb)
PER=$(awk -v a="$R0" -v b="$R1" -v k=$CLIENTS 'BEGIN { printf "%.2f", (b - a) / k }')
RR0=$(kv "$OUTR" rss_before_kb); RR1=$(kv "$OUTR" rss_parked_kb)
RPER=$(awk -v a="$RR0" -v b="$RR1" -v k=$CLIENTS 'BEGIN { printf "%.2f", (b - a) / k }')
echo "electric_sync: $(kv "$OUT" clients_ok) of $CLIENTS clients got the change; all within $(kv "$OUT" lat_max_ms) ms (p50 $(kv "$OUT" lat_p50_ms) ms); worker RSS $R0 -> $R1 kB while holding them ($PER kB per client), $(kv "$OUT" rss_after_kb) kB after; connect failures $(kv "$OUT" connect_failures); statuses: $(grep '^status_' "$OUT" | tr '\n' ' ')"
echo "reference:     $(kv "$OUTR" clients_ok) of $CLIENTS clients; all within $(kv "$OUTR" lat_max_ms) ms (p50 $(kv "$OUTR" lat_p50_ms) ms); RSS $RR0 -> $RR1 kB ($RPER kB per client)"
[ $RC -eq 0 ] || { echo "FAILED: not every client got the change:"; grep -E 'status_|clients_|commit_error|header_fail|connect_fail' "$OUT"; }
bench_result "fan-out, time for one change to reach $CLIENTS live clients" "$(kv "$OUT" lat_max_ms)" "$(kv "$OUTR" lat_max_ms)" ms lower "all within 1000 ms"
bench_result "fan-out, worker RSS growth per held client" "$PER" "$RPER" kB/client lower "<= 10 KB per client"
rm -f "$OUT" "$OUTR"
