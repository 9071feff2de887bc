#!/usr/bin/env bash
# Memory per shape: 10,000 idle shapes (`grp = $1`, params[1] = 0..9999, each created by a
# client's GET offset=-1 so both the worker's routing and its HTTP side hold it); worker RSS
# growth per shape. There is no machine ceiling for this one: the ratio is against the
# 10 KB target (target / figure; >= 1 meets it). Postgres-side storage per shape is shown too.
# Target <= 10 KB per shape (Electric: about 600 KB).
# Usage: bench/shape_memory.sh [--quick]   (--quick: 2,000 shapes)
set -uo pipefail
source "$(dirname "$0")/lib_bench.sh"
SHAPES=10000; [ $BENCH_QUICK = 1 ] && SHAPES=2000

bench_cluster_start shape_memory 54402 3402 || exit 1
bench_sql "CREATE TABLE mem (id int PRIMARY KEY, grp int NOT NULL, v text);
           INSERT INTO mem SELECT g, g, 'row ' || g FROM generate_series(1, 1000) g" || exit 1
WORK=$(mktemp -d /tmp/esbench_shape_memory.XXXXXX)
BENCH_CLEANUP_EXTRA+=("rm -rf $WORK")
# One shape first, so that one-time allocations are not counted.
curl -s -o /dev/null "http://127.0.0.1:$BENCH_HTTP/v1/shape?table=mem&where=grp%20%3D%20%241&params%5B1%5D=-1&offset=-1"
sleep 1
R0=$(bench_rss_kb "$WORKER_PID")
DB0=$(bench_sql "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'electric_sync' AND c.relkind IN ('r', 'm')")
for ((i = 0; i < SHAPES; i++)); do
  printf 'url = "http://127.0.0.1:%s/v1/shape?table=mem&where=grp%%20%%3D%%20%%241&params%%5B1%%5D=%d&offset=-1"\noutput = "/dev/null"\n' "$BENCH_HTTP" "$i"
done > "$WORK/urls.cfg"
bench_log "creating $SHAPES shapes over HTTP (8 at a time)"
T0=$(bench_now)
curl -s --no-progress-meter --parallel --parallel-max 8 --max-time 60 -K "$WORK/urls.cfg" -w '%{http_code}\n' > "$WORK/codes"
T1=$(bench_now)
OK=$(grep -c '^200$' "$WORK/codes")
N=$(bench_sql "SELECT count(*) FROM electric_sync.shapes WHERE table_name = 'mem'")
sleep 2
R1=$(bench_rss_kb "$WORKER_PID")
DB1=$(bench_sql "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'electric_sync' AND c.relkind IN ('r', 'm')")
# The shapes stay idle; one change to the table must still be routed (to one of them).
bench_sql "UPDATE mem SET v = 'changed' WHERE id = 7"
sleep 2
R2=$(bench_rss_kb "$WORKER_PID")
PER=$(awk -v a="$R0" -v b="$R1" -v n="$OK" 'BEGIN { if (n > 0) printf "%.2f", (b - a) / n; else print 0 }')
echo "created $OK of $SHAPES shapes over HTTP in $(awk -v a="$T0" -v b="$T1" 'BEGIN{printf "%.1f", b-a}') s ($N in electric_sync.shapes); non-200: $(grep -vc '^200$' "$WORK/codes")"
echo "worker RSS: $R0 kB -> $R1 kB ($PER kB per shape); $R2 kB after one routed change"
echo "Postgres-side storage (electric_sync tables): $(awk -v a="$DB0" -v b="$DB1" -v n="$OK" 'BEGIN { if (n > 0) printf "%.2f", (b - a) / n / 1024; else print 0 }') kB per shape"
[ "$OK" -eq "$SHAPES" ] || echo "FAILED: only $OK of $SHAPES shapes were created"
bench_result "memory per idle shape ($OK shapes)" "$PER" 10 kB/shape lower "<= 10 KB per shape (ceiling = the target; Electric: about 600 KB)"
