#!/usr/bin/env bash
# Write path throughput (oversync): push commit rate for 1-row and 10-row bundles with 1, 10 and
# 100 concurrent users (each bundle: create session, one chunk, commit), and the pull rate of a
# device catching up on 10,000 bundles. Ceilings, measured in the same run: the same rows
# committed with plain SQL, one transaction per bundle at the same concurrency (pgbench), and
# for the pull the same rows read with plain SQL.
# Usage: bench/oversync_throughput.sh [--quick]   (--quick: fewer bundles per user, 2,000 to pull)
set -uo pipefail
source "$(dirname "$0")/lib_bench.sh"
export PATH="$PATH:/usr/local/go/bin"
SECRET=bench-secret-$(date +%s)
PULL_BUNDLES=10000; [ $BENCH_QUICK = 1 ] && PULL_BUNDLES=2000

bench_cluster_start oversync "${THROUGHPUT_PGPORT:-54398}" "${THROUGHPUT_HTTP:-3398}" "electric_sync.jwt_secret = '$SECRET'" "electric_sync.db_pool_size = 8" "max_connections = 200" || exit 1
LOAD="$BENCH_DIR/.build/oversync_load"
mkdir -p "$BENCH_DIR/.build"
(cd "$BENCH_DIR/oversync_load" && go build -o "$LOAD" .) || { bench_log "building the load generator failed"; exit 1; }

bench_sql "CREATE TABLE public.notes (_sync_scope_id text NOT NULL, id uuid NOT NULL, body text, PRIMARY KEY (_sync_scope_id, id));
           SELECT electric_sync.oversync_register_table('public.notes');
           CREATE TABLE public.plain (scope text NOT NULL, id uuid NOT NULL, body text, PRIMARY KEY (scope, id));" >/dev/null || exit 1

# ceiling USERS ROWS TXNS_PER_USER: commits/s of one transaction per bundle inserting ROWS rows.
ceiling() {
  local f; f=$(mktemp)
  { echo "BEGIN;"; for ((r = 0; r < $2; r++)); do echo "INSERT INTO public.plain VALUES ('c' || :client_id, gen_random_uuid(), 'bench row');"; done; echo "COMMIT;"; } > "$f"
  pgbench -n -h 127.0.0.1 -p "$BENCH_PGPORT" -U postgres -f "$f" -c "$1" -j "$(( $1 < 4 ? $1 : 4 ))" -t "$3" postgres 2>/dev/null |
    sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1
  rm -f "$f"
}

run=0
for rows in 1 10; do
  for users in 1 10 100; do
    run=$((run + 1))
    per=$(( users == 1 ? 300 : users == 10 ? 60 : 10 ))
    [ $BENCH_QUICK = 1 ] && per=$(( per / 3 > 0 ? per / 3 : 1 ))
    out=$("$LOAD" -base "http://127.0.0.1:$BENCH_HTTP" -secret "$SECRET" -mode push -users $users -bundles $per -rows $rows -prefix "p${run}u")
    n=$(echo "$out" | sed -n 's/^bundles=//p'); s=$(echo "$out" | sed -n 's/^seconds=//p'); e=$(echo "$out" | sed -n 's/^errors=//p')
    [ "$e" = 0 ] || bench_log "push errors: $(echo "$out" | sed -n 's/^first_error=//p')"
    fig=$(awk -v n="$n" -v s="$s" 'BEGIN { printf "%.0f", n / s }')
    ceil=$(ceiling $users $rows $per)
    target=""; [ $rows = 10 ] && target=">= 0.3 of the ceiling"
    bench_result "push, $rows-row bundles, $users concurrent users ($n bundles)" "$fig" "${ceil%.*}" "bundles/s" higher "$target"
  done
done

# Pull: one user with PULL_BUNDLES bundles of one row each, written by plain SQL transactions
# on the registered table (each commit is a bundle), then one device pulls them all.
bench_log "writing $PULL_BUNDLES bundles for the pull"
bench_sql "DO \$\$ BEGIN FOR i IN 1..$PULL_BUNDLES LOOP
             PERFORM electric_sync.oversync_exec_write('puller', 'bench', \$q\$INSERT INTO public.notes VALUES ('puller', gen_random_uuid(), 'pulled row')\$q\$);
             COMMIT; END LOOP; END \$\$" >/dev/null 2>&1 ||
bench_sql "DO \$\$ BEGIN FOR i IN 1..$PULL_BUNDLES LOOP
             INSERT INTO public.notes VALUES ('puller', gen_random_uuid(), 'pulled row'); COMMIT; END LOOP; END \$\$" >/dev/null ||
  { bench_log "writing the bundles failed"; exit 1; }
have=$(bench_sql "SELECT count(*) FROM electric_sync.os_bundle_log WHERE user_id = 'puller'")
out=$("$LOAD" -base "http://127.0.0.1:$BENCH_HTTP" -secret "$SECRET" -mode pull -user puller)
n=$(echo "$out" | sed -n 's/^bundles=//p'); r=$(echo "$out" | sed -n 's/^rows=//p'); s=$(echo "$out" | sed -n 's/^seconds=//p')
[ "$(echo "$out" | sed -n 's/^errors=//p')" = 0 ] || bench_log "pull error: $(echo "$out" | sed -n 's/^first_error=//p')"
bench_log "pulled $n of $have bundles, $r rows"
t0=$(bench_now)
psql -X -q -At -c "SELECT row_to_json(b) FROM electric_sync.os_bundle_rows b WHERE b.user_id = 'puller'" > /dev/null
t1=$(bench_now)
ceil=$(awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
bench_result "pull, a device catching up on $n bundles ($r rows)" "$(awk -v n="$n" -v s="$s" 'BEGIN { printf "%.0f", n / s }')" "$ceil" "bundles/s" higher
echo "pull rows/s: $(awk -v n="$r" -v s="$s" 'BEGIN { printf "%.0f", n / s }')"
