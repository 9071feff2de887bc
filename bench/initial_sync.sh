#!/usr/bin/env bash
# Initial sync: a 1M-row table (bigint pk, text, int, timestamptz) through HTTP into a client
# (bench/esload sync: offset=-1, then every chunk until up-to-date), rows/s, vs
# `SELECT row_to_json(t) FROM t` through psql to /dev/null. Target >= 50% (Electric ~55k rows/s).
# Usage: bench/initial_sync.sh [--quick]   (--quick: 200k rows)
set -uo pipefail
source "$(dirname "$0")/lib_bench.sh"
ROWS=1000000; [ $BENCH_QUICK = 1 ] && ROWS=200000

bench_build_esload || exit 1
bench_cluster_start initial_sync 54396 3396 || exit 1
bench_log "loading $ROWS rows"
bench_sql "CREATE TABLE items (id bigint PRIMARY KEY, title text NOT NULL, n int, at timestamptz);
           INSERT INTO items SELECT g, 'item ' || md5(g::text), g % 1000, now() - g * interval '1 second'
             FROM generate_series(1, $ROWS) g;" || exit 1
bench_sql "VACUUM ANALYZE items" && bench_sql "CHECKPOINT" || exit 1
# Warm the table into shared buffers / the page cache for both runs.
bench_sql "SELECT count(*) FROM items" >/dev/null
# Measure the sync of an existing table, not the worker's decoding of its 1M-row load: wait
# until the worker has consumed the WAL written so far (the ceiling has no such backlog either).
bench_wait_processed "$(bench_sql "SELECT pg_current_wal_lsn()")" 300 || { echo "FAILED: the worker did not catch up"; exit 1; }

bench_log "ceiling: SELECT row_to_json(t) FROM items t > /dev/null"
t0=$(bench_now)
psql -X -q -At -c "SELECT row_to_json(t) FROM items t" > /dev/null || exit 1
t1=$(bench_now)
CEIL=$(awk -v n=$ROWS -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')

bench_log "figure: initial sync through /v1/shape"
OUT=$(mktemp)
"$ESLOAD" sync --port "$BENCH_HTTP" --path "/v1/shape?table=items" > "$OUT" || { echo "FAILED: the sync did not complete"; cat "$OUT"; exit 1; }
GOT=$(kv "$OUT" rows)
FIG=$(kv "$OUT" rows_per_s)
echo "rows synced: $GOT of $ROWS in $(kv "$OUT" seconds) s ($(kv "$OUT" requests) requests, $(kv "$OUT" bytes) bytes)"
echo "worker RSS after the sync: $(bench_rss_kb "$WORKER_PID") kB"
[ "$GOT" = "$ROWS" ] || echo "FAILED: row count mismatch"
bench_result "initial sync ($ROWS rows)" "$FIG" "$CEIL" rows/s higher ">= 0.5 (Electric: about 55k rows/s)"
rm -f "$OUT"
