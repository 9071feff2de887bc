#!/usr/bin/env bash
# Through nginx: 10,000 live long-poll clients on one shape behind the caching proxy
# (bench/nginx/electric_sync.conf), one change; origin requests per change (requests that
# reached the electric_sync server, from nginx's inner-hop log) and the time until every
# client has it. Ceiling: the same through the same nginx in front of the reference epoll
# origin (bench/esload ref). Target <= 20 origin requests per change.
# Usage: bench/nginx_fanout.sh [--quick]   (--quick: 2,000 clients)
set -uo pipefail
source "$(dirname "$0")/lib_bench.sh"
CLIENTS=10000; [ $BENCH_QUICK = 1 ] && CLIENTS=2000
REF_PORT=3410
SETTLE=$(awk -v k=$CLIENTS 'BEGIN { printf "%.1f", 2 + k / 2500 }')

esn_install || { echo "FAILED: nginx could not be installed"; exit 1; }
bench_build_esload || exit 1
bench_cluster_start nginx_fanout 54400 3400 "electric_sync.long_poll_timeout = 30000" || exit 1
bench_sql "CREATE TABLE fan (id bigserial PRIMARY KEY, seq bigint NOT NULL, note text)" || exit 1
SQL="INSERT INTO fan (seq, note) VALUES ({seq}, 'the change')"
NGX=/tmp/esbench_nginx_fanout_nginx
OUT=$(mktemp); OUTR=$(mktemp)
BENCH_CLEANUP_EXTRA+=("esn_stop $NGX")

run_through_nginx() {  # ORIGIN OUTFILE [esload args...]
  local origin="$1" out="$2"; shift 2
  local port; port=$(esn_free_port 18500)
  esn_stop "$NGX"
  esn_start "$NGX" "$port" "$origin" || { echo "FAILED: nginx did not start"; cat "$NGX/run/error.log"; return 1; }
  "$ESLOAD" live --port "$port" -n $CLIENTS --settle "$SETTLE" --timeout 30 --conninfo "$BENCH_CONNINFO" --sql "$SQL" --count 1 "$@" > "$out"
  local rc=$?
  echo "origin_live_requests=$(esn_origin_requests "$NGX" 'live=true')" >> "$out"
  echo "origin_requests=$(esn_origin_requests "$NGX")" >> "$out"
  awk '{print $3}' "$NGX/run/access.log" | sort | uniq -c | awk '{printf "edge_%s=%s\n", $2, $1}' >> "$out"
  esn_stop "$NGX"
  return $rc
}

bench_log "figure: $CLIENTS clients through nginx in front of electric_sync"
run_through_nginx "127.0.0.1:$BENCH_HTTP" "$OUT" --path "/v1/shape?table=fan"
RC=$?
bench_log "ceiling: the same through nginx in front of the reference epoll origin"
"$ESLOAD" ref --port $REF_PORT --lifetime 120 & REFPID=$!
BENCH_CLEANUP_EXTRA+=("kill $REFPID")
sleep 0.3
run_through_nginx "127.0.0.1:$REF_PORT" "$OUTR" --path "/v1/shape?table=fan" --ref-publish $REF_PORT
kill $REFPID 2>/dev/null

echo "electric_sync behind nginx: $(kv "$OUT" clients_ok) of $CLIENTS clients got the change, all within $(kv "$OUT" lat_max_ms) ms (p50 $(kv "$OUT" lat_p50_ms)); origin live requests $(kv "$OUT" origin_live_requests) (all origin requests incl. the initial sync: $(kv "$OUT" origin_requests)); edge cache statuses: $(grep '^edge_' "$OUT" | tr '\n' ' ')"
echo "reference behind nginx:     $(kv "$OUTR" clients_ok) of $CLIENTS clients, all within $(kv "$OUTR" lat_max_ms) ms (p50 $(kv "$OUTR" lat_p50_ms)); origin live requests $(kv "$OUTR" origin_live_requests)"
[ $RC -eq 0 ] || { echo "FAILED: not every client got the change:"; grep -E 'status_|clients_|commit_error|header_fail|connect_fail' "$OUT"; }
bench_result "through nginx, origin requests per change ($CLIENTS live clients)" "$(kv "$OUT" origin_live_requests)" "$(kv "$OUTR" origin_live_requests)" requests lower "<= 20 origin requests per change"
bench_result "through nginx, time for one change to reach $CLIENTS clients" "$(kv "$OUT" lat_max_ms)" "$(kv "$OUTR" lat_max_ms)" ms lower
rm -f "$OUT" "$OUTR"
