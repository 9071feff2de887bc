#!/bin/bash
# oversync end-to-end tests: wire-level conformance (test/oversync/wire, stdlib only) and the
# real oversqlite client (test/oversync, github.com/mobiletoly/go-oversync v0.2.0).
#
#   test/oversync/run.sh [--local [--devserver]] [--wire-only]
#
# Against a running server (default): env OVERSYNC_BASE_URL (http://127.0.0.1:3093),
# OVERSYNC_JWT_SECRET (dev-secret), DATABASE_URL (libpq conninfo/URL of the server's database,
# used with psql for server-side SQL; the role must be a superuser).
# --local: builds and installs the extension, starts a throwaway cluster (port 54393, as the
# postgres OS user) and tests the worker's own HTTP server (electric_sync.jwt_secret set, the
# routes served on the worker's port); with --devserver, the dev server (port 3093) instead.
# Runs the tests and stops everything.
# Exits non-zero on any failure, or when the oversqlite module cannot be downloaded
# (set OVERSYNC_ALLOW_NO_CLIENT=1 to run the wire tests alone in that case).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
local=0; wire_only=0; devserver=0
for a in "$@"; do
  case "$a" in
    --local) local=1 ;;
    --wire-only) wire_only=1 ;;
    --devserver) devserver=1 ;;
    *) echo "usage: $0 [--local [--devserver]] [--wire-only]" >&2; exit 2 ;;
  esac
done

cleanup() { :; }
trap 'cleanup' EXIT

if [ $local = 1 ]; then
  pgbin=$(${PG_CONFIG:-pg_config} --bindir)
  pgport=${OVERSYNC_PG_PORT:-54393}
  httpport=${OVERSYNC_HTTP_PORT:-3093}
  work=$(mktemp -d /tmp/oversync-e2e.XXXXXX)
  chown postgres: "$work"
  (cd "$root" && make -s -j2 >/dev/null && make -s install >/dev/null) || { echo "build failed" >&2; exit 1; }
  su postgres -s /bin/bash -c "$pgbin/initdb -D $work/data -A trust -U postgres" >"$work/initdb.log" 2>&1 || { cat "$work/initdb.log"; exit 1; }
  export OVERSYNC_JWT_SECRET=${OVERSYNC_JWT_SECRET:-e2e-secret-$RANDOM}
  cat >>"$work/data/postgresql.conf" <<CONF
port = $pgport
listen_addresses = ''
unix_socket_directories = '$work'
shared_preload_libraries = 'electric_sync'
wal_level = logical
electric_sync.port = 0
electric_sync.database = 'oversync_e2e'
electric_sync.jwt_secret = '$OVERSYNC_JWT_SECRET'
max_connections = 100
CONF
  if su postgres -s /bin/bash -c "$pgbin/postgres --describe-config" 2>/dev/null | grep "^output_plugin_libraries" >/dev/null; then
    echo "output_plugin_libraries = 'pgoutput, test_decoding, electric_sync'" >>"$work/data/postgresql.conf"
  fi
  su postgres -s /bin/bash -c "$pgbin/pg_ctl -D $work/data -l $work/pg.log -w start" >/dev/null || { tail -20 "$work/pg.log"; exit 1; }
  export DATABASE_URL="host=$work port=$pgport dbname=oversync_e2e user=postgres"
  psql "host=$work port=$pgport dbname=postgres user=postgres" -X -q -c "CREATE DATABASE oversync_e2e" || exit 1
  psql "$DATABASE_URL" -X -q -c "CREATE EXTENSION electric_sync" || exit 1
  devpid=
  cleanup() {
    [ -n "$devpid" ] && { kill "$devpid" 2>/dev/null; wait "$devpid" 2>/dev/null; }
    su postgres -s /bin/bash -c "$pgbin/pg_ctl -D $work/data -m fast -w stop" >/dev/null 2>&1
    rm -rf "$work"
  }
  if [ $devserver = 1 ]; then
    bash "$root/test/oversync/devserver/build.sh" "$work/devserver" >/dev/null || exit 1
    export OVERSYNC_BASE_URL="http://127.0.0.1:$httpport"
    "$work/devserver" --port "$httpport" --db "$DATABASE_URL" --jwt-secret "$OVERSYNC_JWT_SECRET" >"$work/devserver.log" 2>&1 &
    devpid=$!
  else
    for _ in $(seq 1 100); do
      addr=$(psql "$DATABASE_URL" -X -At -c "SELECT http_address FROM electric_sync.worker_status WHERE state = 'active'" 2>/dev/null)
      [ -n "$addr" ] && break
      sleep 0.1
    done
    [ -n "$addr" ] || { echo "the worker did not become active" >&2; tail -20 "$work/pg.log"; exit 1; }
    export OVERSYNC_BASE_URL="$addr"
  fi
  for _ in $(seq 1 50); do curl -s -o /dev/null "$OVERSYNC_BASE_URL/syncx/health" && break; sleep 0.1; done
fi

export OVERSYNC_BASE_URL=${OVERSYNC_BASE_URL:-http://127.0.0.1:3093}
export OVERSYNC_JWT_SECRET=${OVERSYNC_JWT_SECRET:-dev-secret}
export DATABASE_URL=${DATABASE_URL:-host=/tmp/os_pg port=54393 dbname=ostest user=postgres}
rc=0

echo "== oversync wire conformance tests ($OVERSYNC_BASE_URL)"
(cd "$here/wire" && go test -count=1 -v ./... 2>&1) | tee /tmp/oversync-wire.$$.log | grep -E '^(=== RUN|--- |ok|FAIL|PASS|panic)|_test.go'
[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1

if [ $wire_only = 0 ]; then
  echo "== oversqlite client tests"
  if ! (cd "$here" && GOFLAGS=-mod=mod go mod download github.com/mobiletoly/go-oversync 2>/tmp/oversync-dl.$$.log); then
    echo "oversqlite (github.com/mobiletoly/go-oversync v0.2.0) could not be downloaded from the Go module proxy:"
    sed 's/^/  /' /tmp/oversync-dl.$$.log
    if [ "${OVERSYNC_ALLOW_NO_CLIENT:-0}" != 1 ]; then rc=1; fi
  else
    (cd "$here" && GOFLAGS=-mod=mod go test -count=1 -v -timeout 10m ./... 2>&1) | tee /tmp/oversync-client.$$.log | grep -E '^(=== RUN|--- |ok|FAIL|PASS|panic)|_test.go'
    [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
  fi
fi
"$here/quickstart.sh" || rc=1   # the quickstart of docs/oversync.md, as written
rm -f /tmp/oversync-*.$$.log
exit $rc
