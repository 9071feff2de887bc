#!/usr/bin/env bash
# Routing: changes/s from commit to shape logs, (a) with 1,000 shapes `col = $1` on one table,
# (b) with 100 shapes whose where clauses cannot be indexed (`val % 100 = k`), vs the rate
# at which pgoutput decodes the same WAL backlog (pg_logical_slot_get_binary_changes on a
# separate slot). Targets >= 100k and >= 20k changes/s (Electric: about 5k, and 140).
#
# The backlog: the worker is paused (SIGSTOP, while it is idle) during the inserts, so the
# WAL to route exists before it resumes; then we time from SIGCONT until processed_lsn
# reaches the WAL position after the inserts. Each change matches exactly one shape.
# Usage: bench/routing.sh [--quick]   (default 50k changes per case; --quick 10k)
set -uo pipefail
source "$(dirname "$0")/lib_bench.sh"
N=50000; [ $BENCH_QUICK = 1 ] && N=10000
PER_TX=100
LIMIT_S=${ROUTING_LIMIT_S:-300}

bench_cluster_start routing 54397 3397 || exit 1
BENCH_CLEANUP_EXTRA+=("kill -CONT $WORKER_PID")

# run_case NAME TABLE SHAPE-SQL: prints "<figure> <ceiling>" on the last line.
run_case() {
  local name="$1" table="$2" shapes_sql="$3"
  bench_sql "CREATE TABLE $table (id bigserial PRIMARY KEY, col int NOT NULL, val int NOT NULL, note text)" || return 1
  local t0 t1
  t0=$(bench_now)
  bench_sql "$shapes_sql" >/dev/null || { bench_log "$name: creating the shapes failed"; return 1; }
  t1=$(bench_now)
  local nshapes; nshapes=$(bench_sql "SELECT count(*) FROM electric_sync.shapes WHERE table_name = '$table'")
  bench_log "$name: $nshapes shapes created in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s"
  # Let the worker pick them up (one change through, then idle).
  bench_sql "INSERT INTO $table (col, val, note) VALUES (-1, -1, 'warm-up')"
  bench_wait_processed "$(bench_sql "SELECT pg_current_wal_lsn()")" 120 || { bench_log "$name: worker does not catch up"; return 1; }
  local c0; c0=$(bench_sql "SELECT changes_processed FROM electric_sync.worker_status")
  local log0; log0=$(bench_sql "SELECT coalesce(sum(cardinality(l.entries)), 0) FROM electric_sync.shape_log l JOIN electric_sync.shapes s ON s.shape_id = l.shape_id WHERE s.table_name = '$table'")
  bench_sql "CREATE PUBLICATION p_$table FOR TABLE $table" >/dev/null
  bench_sql "SELECT pg_create_logical_replication_slot('bench_$table', 'pgoutput')" >/dev/null || return 1
  sleep 0.5
  kill -STOP "$WORKER_PID"
  local ntx=$((N / PER_TX))
  t0=$(bench_now)
  bench_sql "DO \$\$ BEGIN FOR i IN 0..$((ntx - 1)) LOOP
               INSERT INTO $table (col, val, note)
                 SELECT g % 1000, g, 'change ' || g FROM generate_series(i * $PER_TX, i * $PER_TX + $PER_TX - 1) g;
               COMMIT;
             END LOOP; END \$\$"
  t1=$(bench_now)
  local target; target=$(bench_sql "SELECT pg_current_wal_lsn()")
  bench_log "$name: $N inserts in $ntx transactions written in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}') s (worker paused); WAL to $target"
  t0=$(bench_now)
  kill -CONT "$WORKER_PID"
  local ok=0
  bench_wait_processed "$target" "$LIMIT_S" && ok=1
  t1=$(bench_now)
  local c1; c1=$(bench_sql "SELECT changes_processed FROM electric_sync.worker_status")
  local done=$((c1 - c0))
  local fig; fig=$(awk -v n="$done" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
  local log1; log1=$(bench_sql "SELECT coalesce(sum(cardinality(l.entries)), 0) FROM electric_sync.shape_log l JOIN electric_sync.shapes s ON s.shape_id = l.shape_id WHERE s.table_name = '$table'")
  if [ $ok = 1 ]; then
    bench_log "$name: routed $done changes in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}') s; shape_log grew by $((log1 - log0)) entries (expected $N)"
  else
    bench_log "$name: FAILED to catch up within $LIMIT_S s: $done of $N changes processed (rate shown is partial)"
  fi
  # Ceiling: pgoutput over the same backlog, with the worker idle again.
  t0=$(bench_now)
  local msgs; msgs=$(bench_sql "SELECT count(*) FROM pg_logical_slot_get_binary_changes('bench_$table', NULL, NULL,
                       'proto_version', '1', 'publication_names', 'p_$table')")
  t1=$(bench_now)
  local ceil; ceil=$(awk -v n="$N" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
  bench_log "$name: pgoutput decoded $msgs messages ($N changes) in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}') s"
  bench_sql "SELECT pg_drop_replication_slot('bench_$table')" >/dev/null
  [ $ok = 1 ] && [ $((log1 - log0)) -ne "$N" ] && bench_log "$name: WARNING shape_log entries ($((log1 - log0))) != changes ($N)"
  echo "$fig $ceil $ok"
}

A=$(run_case "1000 shapes col = \$1" r_eq \
  "SELECT count(electric_sync.create_shape('r_eq', 'col = \$1', NULL, 'default', ARRAY[g::text])) FROM generate_series(0, 999) g" | tail -1)
B=$(run_case "100 shapes val % 100 = k" r_mod \
  "SELECT count(electric_sync.create_shape('r_mod', 'val % 100 = ' || g)) FROM generate_series(0, 99) g" | tail -1)
read -r AF AC AOK <<<"$A"
read -r BF BC BOK <<<"$B"
[ "${AOK:-0}" = 1 ] || echo "FAILED: case (a) did not finish (figure is a partial rate)"
bench_result "routing, 1,000 shapes col = \$1 ($N changes)" "${AF:-0}" "${AC:-0}" changes/s higher ">= 100k changes/s (Electric: about 5k)"
[ "${BOK:-0}" = 1 ] || echo "FAILED: case (b) did not finish (figure is a partial rate)"
bench_result "routing, 100 shapes val % 100 = k ($N changes)" "${BF:-0}" "${BC:-0}" changes/s higher ">= 20k changes/s (Electric: about 140)"
