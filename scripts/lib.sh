# Shared shell functions for the demo and test commands. Source it; needs bash.
# Everything here runs as root (as CI and the README commands do) and runs Postgres as the
# `postgres` OS user (Postgres refuses to run as root).

ES_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# PG_CONFIG may name another (relocated) PostgreSQL installation; the default is the system one.
PG_BIN="/usr/lib/postgresql/15/bin"
[ -n "${PG_CONFIG:-}" ] && PG_BIN="$("$PG_CONFIG" --bindir)"

es_log() { printf '== %s\n' "$*" >&2; }

# Installs the Debian packages we need that are missing (no-op when all are present).
es_install_deps() {
  local pkgs=(build-essential pkg-config postgresql-15 postgresql-client-15 postgresql-server-dev-15
              libboost-dev nlohmann-json3-dev catch2 libssl-dev libpq-dev libcpp-httplib-dev
              curl ca-certificates procps "$@")
  local missing=()
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  # The server-dev headers and the server must be the same minor release.
  if [ ${#missing[@]} -eq 0 ]; then
    local dev srv
    dev=$(dpkg-query -W -f='${Version}' postgresql-server-dev-15 2>/dev/null)
    srv=$(dpkg-query -W -f='${Version}' postgresql-15 2>/dev/null)
    [ "$dev" = "$srv" ] || missing+=(postgresql-15 postgresql-client-15 postgresql-server-dev-15)
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    es_log "installing: ${missing[*]}"
    mkdir -p /etc/postgresql-common
    grep -qs '^create_main_cluster *= *false' /etc/postgresql-common/createcluster.conf ||
      echo 'create_main_cluster = false' >> /etc/postgresql-common/createcluster.conf
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# es_regress DIR PORT: pg_regress (make installcheck) against the installed extension, from a
# copy of the test files in DIR (a new folder; the postgres user may write it, and
# regression.diffs stays there). Prints pg_regress's output; returns its status.
es_regress() {
  cp -r "$ES_ROOT"/{Makefile,electric_sync.control,sql,expected,test} "$1/"
  mkdir -p "$1/src"
  chown -R postgres: "$1"
  (cd "$1" && su postgres -s /bin/bash -c "make -s installcheck ${PG_CONFIG:+PG_CONFIG=$PG_CONFIG} REGRESS_PORT=$2" 2>&1)
}

# Builds (progress every 5 s, the compiler's output in .build.log) and installs into the
# system PostgreSQL's folders (said once, with how to undo it).
es_build_install() {
  local log="$ES_ROOT/.build.log" total t0=$SECONDS pid pgc="${PG_CONFIG:-pg_config}"
  total=$(make -C "$ES_ROOT" -n 2>/dev/null | grep -c -- ' -c ' || true)
  if [ "$total" -gt 0 ]; then
    es_log "building electric_sync: $total C++ files to compile with $(nproc) jobs (compiler output: $log)"
  else
    es_log "electric_sync is already built"
  fi
  make -C "$ES_ROOT" -j"$(nproc)" > "$log" 2>&1 &
  pid=$!
  while kill -0 $pid 2>/dev/null; do
    sleep 5
    if kill -0 $pid 2>/dev/null && [ "$total" -gt 0 ]; then
      es_log "  compiled $(grep -c -- ' -c ' "$log" || true)/$total ($((SECONDS - t0)) s)"
    fi
  done
  if ! wait $pid; then
    es_log "the build failed after $((SECONDS - t0)) s; its first errors (all of it in $log):"
    grep -m 12 -E 'error|Error' "$log" >&2
    return 1
  fi
  if [ "$total" -gt 0 ]; then
    es_log "built in $((SECONDS - t0)) s, $(grep -c 'warning:' "$log" || true) compiler warnings"
  fi
  es_log "installing into the system PostgreSQL: $("$pgc" --pkglibdir)/electric_sync.so and" \
    "$("$pgc" --sharedir)/extension/electric_sync* (undo with: make uninstall)"
  if ! make -C "$ES_ROOT" -s install >> "$log" 2>&1; then
    tail -n 20 "$log" >&2
    return 1
  fi
}

# A folder the postgres user can use: $1 if postgres can reach and write it, else a folder
# under /var/tmp named after it (printed).
es_pg_dir() {
  local want="$1"
  mkdir -p "$want"
  chown postgres: "$want"
  if su postgres -s /bin/sh -c "test -w '$want' && test -x '$want'" 2>/dev/null; then
    echo "$want"
  else
    local alt="/var/tmp/electric_sync-$(echo "$want" | md5sum | cut -c1-12)"
    mkdir -p "$alt"
    chown postgres: "$alt"
    echo "$alt"
  fi
}

es_pg() { su postgres -s /bin/bash -c "$*"; }

# es_cluster_start DIR PGPORT HTTPPORT [extra conf lines...]: initdb if needed, (re)write our
# settings, start if not running, create the extension. Idempotent; restarts after a crash.
es_cluster_start() {
  local dir="$1" port="$2" http="$3"; shift 3
  local data="$dir/data" run="$dir/run"
  mkdir -p "$run"; chown postgres: "$dir" "$run"
  if [ ! -f "$data/PG_VERSION" ]; then
    es_log "initdb $data"
    es_pg "$PG_BIN/initdb -D '$data' -U postgres --auth=trust -E UTF8 --locale=C.UTF-8" >/dev/null
  fi
  {
    echo "port = $port"
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = '$run'"
    echo "shared_preload_libraries = 'electric_sync'"
    echo "wal_level = logical"
    echo "max_replication_slots = 10"
    echo "max_wal_senders = 10"
    echo "electric_sync.port = $http"
    echo "electric_sync.database = 'postgres'"
    if grep -qa output_plugin_libraries "$PG_BIN/postgres"; then
      echo "output_plugin_libraries = 'pgoutput, test_decoding, electric_sync'"
    fi
    for l in "$@"; do echo "$l"; done
  } > "$data/electric_sync.conf"
  chown postgres: "$data/electric_sync.conf"
  grep -q "^include_if_exists = 'electric_sync.conf'" "$data/postgresql.conf" ||
    echo "include_if_exists = 'electric_sync.conf'" >> "$data/postgresql.conf"
  if ! es_pg "$PG_BIN/pg_ctl -D '$data' status" >/dev/null 2>&1; then
    es_log "starting Postgres on port $port (HTTP $http)"
    es_pg "$PG_BIN/pg_ctl -D '$data' -l '$dir/postgres.log' -w -t 60 start" >/dev/null
  fi
  es_pg "$PG_BIN/psql -X -q -h '$run' -p $port -U postgres -d postgres -v ON_ERROR_STOP=1 -c 'SET client_min_messages = warning' -c 'CREATE EXTENSION IF NOT EXISTS electric_sync' -c 'ALTER EXTENSION electric_sync UPDATE'" >/dev/null
}

es_cluster_stop() {
  local dir="$1"
  [ -f "$dir/data/PG_VERSION" ] || return 0
  if es_pg "$PG_BIN/pg_ctl -D '$dir/data' status" >/dev/null 2>&1; then
    es_pg "$PG_BIN/pg_ctl -D '$dir/data' -m fast -w -t 30 stop" >/dev/null
  fi
}

# es_wait_health URL SECONDS: waits for 200 from /v1/health.
es_wait_health() {
  local url="$1" secs="${2:-60}" i
  for ((i = 0; i < secs * 10; i++)); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/v1/health" 2>/dev/null)" = 200 ] && return 0
    sleep 0.1
  done
  return 1
}
