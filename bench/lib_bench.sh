# Shared helpers for the bench/*.sh scripts. Source it; needs bash; run as root.
# Each benchmark starts its own throwaway cluster (scripts/lib.sh) on its own ports, measures
# its ceiling in the same run, prints figure / ceiling / ratio and stops the cluster.
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$BENCH_DIR/../scripts/lib.sh"
source "$BENCH_DIR/nginx/nginx_lib.sh"

BENCH_QUICK=0
for a in "$@"; do [ "$a" = "--quick" ] && BENCH_QUICK=1; done

bench_log() { printf '.. %s\n' "$*" >&2; }

# Builds bench/esload.cpp (once per source change) into bench/.build/esload.
bench_build_esload() {
  mkdir -p "$BENCH_DIR/.build"
  ESLOAD="$BENCH_DIR/.build/esload"
  if [ ! -x "$ESLOAD" ] || [ "$BENCH_DIR/esload.cpp" -nt "$ESLOAD" ]; then
    g++ -std=c++17 -O2 -o "$ESLOAD" "$BENCH_DIR/esload.cpp" -I"$(pg_config --includedir)" -lpq -lpthread || return 1
  fi
}

# bench_cluster_start NAME PGPORT HTTPPORT [conf lines...]: a fresh cluster in /tmp/esbench_NAME.
bench_cluster_start() {
  local name="$1" pgport="$2" http="$3"; shift 3
  BENCH_CLUSTER=$(es_pg_dir "/tmp/esbench_$name")
  BENCH_PGPORT="$pgport"; BENCH_HTTP="$http"
  es_cluster_stop "$BENCH_CLUSTER" >/dev/null 2>&1
  rm -rf "$BENCH_CLUSTER/data"
  trap bench_cleanup EXIT
  bench_wait_port_free "$pgport"; bench_wait_port_free "$http"
  es_cluster_start "$BENCH_CLUSTER" "$pgport" "$http" "max_wal_size = '4GB'" "electric_sync.read_auth = 'none'" "$@" || return 1
  es_wait_health "http://127.0.0.1:$http" 60 || { bench_log "worker not healthy"; tail -20 "$BENCH_CLUSTER/postgres.log" >&2; return 1; }
  export PGHOST=127.0.0.1 PGPORT="$pgport" PGUSER=postgres PGDATABASE=postgres
  BENCH_CONNINFO="host=127.0.0.1 port=$pgport user=postgres dbname=postgres"
  WORKER_PID=$(bench_sql "SELECT pid FROM electric_sync.worker_status")
  # `su` starts Postgres with a soft open-files limit of 1024, and the worker does not raise
  # it itself (see bench/README.md): more than ~1,000 held clients then fail. So we restart
  # the cluster with the soft limit at the hard limit (BENCH_RAISE_NOFILE=0 to skip).
  WORKER_NOFILE_SOFT=$(awk '/Max open files/ {print $4}' "/proc/$WORKER_PID/limits")
  if [ "${BENCH_RAISE_NOFILE:-1}" = 1 ]; then
    local hard; hard=$(awk '/Max open files/ {print $5}' "/proc/$WORKER_PID/limits")
    es_cluster_stop "$BENCH_CLUSTER" >/dev/null 2>&1
    bench_wait_port_free "$pgport"; bench_wait_port_free "$http"
    es_pg "ulimit -n $hard; $PG_BIN/pg_ctl -D '$BENCH_CLUSTER/data' -l '$BENCH_CLUSTER/postgres.log' -w -t 60 start" >/dev/null || return 1
    es_wait_health "http://127.0.0.1:$http" 60 || return 1
    WORKER_PID=$(bench_sql "SELECT pid FROM electric_sync.worker_status")
  fi
  WORKER_NOFILE=$(awk '/Max open files/ {print $4}' "/proc/$WORKER_PID/limits")
}

# A local port still held by a client socket (or its TIME_WAIT) cannot be bound: wait (<= 70 s).
bench_wait_port_free() {
  local i
  for ((i = 0; i < 140; i++)); do
    ss -tanH "( sport = :$1 )" 2>/dev/null | grep -q '127.0.0.1:' || return 0
    [ $i = 0 ] && bench_log "port $1 is still in use on 127.0.0.1 (TIME_WAIT?), waiting"
    sleep 0.5
  done
}

bench_cluster_stop() {
  [ -n "${BENCH_CLUSTER:-}" ] || return 0
  es_cluster_stop "$BENCH_CLUSTER" >/dev/null 2>&1
  rm -rf "$BENCH_CLUSTER/data"
  BENCH_CLUSTER=""
}

BENCH_CLEANUP_EXTRA=()
bench_cleanup() {
  local f
  for f in "${BENCH_CLEANUP_EXTRA[@]}"; do eval "$f" >/dev/null 2>&1; done
  bench_cluster_stop
}

bench_sql() { psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }

bench_rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }

# Sums the RSS of the worker process (all its threads share one RSS).
bench_now() { date +%s.%N; }

# kv FILE KEY: value of KEY=... in an esload output file.
kv() { sed -n "s/^$2=//p" "$1" | head -1; }

# bench_result NAME FIGURE CEILING UNIT [higher|lower] [TARGET-TEXT]: the three lines every
# benchmark prints. ratio = figure/ceiling when higher is better, ceiling/figure when lower is.
bench_result() {
  local name="$1" fig="$2" ceil="$3" unit="$4" dir="${5:-higher}" target="${6:-}"
  local ratio
  if [ "$dir" = higher ]; then ratio=$(awk -v f="$fig" -v c="$ceil" 'BEGIN { if (c > 0) printf "%.3f", f / c; else print "n/a" }')
  else ratio=$(awk -v f="$fig" -v c="$ceil" 'BEGIN { if (f > 0) printf "%.3f", c / f; else print "n/a" }'); fi
  echo "benchmark: $name"
  echo "figure: $fig $unit"
  echo "ceiling: $ceil $unit"
  echo "ratio: $ratio"
  [ -n "$target" ] && echo "target: $target"
  return 0
}

# bench_wait_processed LSN SECONDS: waits (in one session) until the worker has processed LSN.
bench_wait_processed() {
  psql -X -q -At -c "DO \$\$ DECLARE t0 timestamptz := clock_timestamp(); BEGIN
      LOOP
        EXIT WHEN (SELECT processed_lsn FROM electric_sync.worker_status) >= '$1'::pg_lsn;
        IF clock_timestamp() - t0 > interval '$2 seconds' THEN RAISE EXCEPTION 'timeout'; END IF;
        PERFORM pg_sleep(0.005);
      END LOOP; END \$\$" 2>/dev/null
}
