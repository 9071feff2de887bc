#!/usr/bin/env bash
# Where the write path's time goes: pushes bundles with bench/oversync_load against a throwaway
# cluster with track_functions = 'all' and pg_stat_statements (track = all), then prints the
# functions by self time and the statements (nested ones included) by total time.
# Usage: bench/oversync_profile.sh [ROWS] [USERS] [BUNDLES_PER_USER] [extra conf lines...]
#   (defaults 10 1 200; the cluster uses ports 54471 / 3471)
set -uo pipefail
source "$(dirname "$0")/lib_bench.sh"
export PATH="$PATH:/usr/local/go/bin"
ROWS=${1:-10}; USERS=${2:-1}; PER=${3:-200}; shift $(( $# < 3 ? $# : 3 ))
SECRET=profile-secret-$(date +%s)
BENCH_RAISE_NOFILE=0 bench_cluster_start oversync_profile "${PROFILE_PGPORT:-54471}" "${PROFILE_HTTP:-3471}" \
  "electric_sync.jwt_secret = '$SECRET'" "electric_sync.db_pool_size = 8" "max_connections = 200" \
  "shared_preload_libraries = 'electric_sync, pg_stat_statements'" "pg_stat_statements.track = all" \
  "track_functions = 'all'" "$@" || exit 1
LOAD="$BENCH_DIR/.build/oversync_load"
mkdir -p "$BENCH_DIR/.build"
(cd "$BENCH_DIR/oversync_load" && go build -o "$LOAD" .) || exit 1
bench_sql "CREATE EXTENSION pg_stat_statements;
           CREATE TABLE public.notes (_sync_scope_id text NOT NULL, id uuid NOT NULL, body text, PRIMARY KEY (_sync_scope_id, id));
           SELECT electric_sync.oversync_register_table('public.notes');" >/dev/null || exit 1
# warm-up, then reset the counters
"$LOAD" -base "http://127.0.0.1:$BENCH_HTTP" -secret "$SECRET" -mode push -users "$USERS" -bundles 20 -rows "$ROWS" -prefix w >/dev/null
bench_sql "SELECT pg_stat_statements_reset(); SELECT pg_stat_reset();" >/dev/null
out=$("$LOAD" -base "http://127.0.0.1:$BENCH_HTTP" -secret "$SECRET" -mode push -users "$USERS" -bundles "$PER" -rows "$ROWS" -prefix p)
echo "$out"
n=$(echo "$out" | sed -n 's/^bundles=//p')
sleep 0.7  # function stats are sent at transaction end, at most every 500 ms
echo "== functions by self time (ms per bundle)"
psql -X -q -c "SELECT funcname, calls, round((self_time / $n)::numeric, 3) AS self_ms_per_bundle,
                      round((total_time / $n)::numeric, 3) AS total_ms_per_bundle
                 FROM pg_stat_user_functions ORDER BY self_time DESC LIMIT 25"
echo "== statements by total time (ms per bundle)"
psql -X -q -c "SELECT calls, round((total_exec_time / $n)::numeric, 3) AS ms_per_bundle,
                      round(mean_exec_time::numeric, 3) AS mean_ms, left(regexp_replace(query, '\s+', ' ', 'g'), 150) AS query
                 FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 40"
