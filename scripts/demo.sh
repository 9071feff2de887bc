#!/usr/bin/env bash
# make demo / make demo-stop: a throwaway local cluster serving electric_sync over HTTP.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PGPORT="${PGPORT:-54329}"
HTTP_PORT="${ELECTRIC_SYNC_PORT:-3000}"
want="$ES_ROOT/.demo"

case "${1:-start}" in
start)
  t0=$SECONDS
  es_log "demo 1/4: the Debian packages electric_sync needs (installed if missing)"
  es_install_deps
  es_log "demo 2/4: build and install"
  es_build_install
  es_log "demo 3/4: the demo cluster (Postgres $PGPORT, HTTP $HTTP_PORT)"
  dir=$(es_pg_dir "$want")
  [ "$dir" = "$want" ] || { ln -sfn "$dir" "$want/cluster"; es_log "cluster data in $dir (postgres cannot reach $want)"; }
  echo "$dir" > "$want/.dir" 2>/dev/null || true
  # A development JWT secret for the write path, in a file only postgres reads (the value itself
  # never goes through ALTER SYSTEM, which would log it on reload). Kept across runs.
  secret_file="$dir/jwt_secret"
  if [ ! -s "$secret_file" ]; then
    install -m 600 -o postgres -g postgres /dev/null "$secret_file"
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$secret_file"
  fi
  # Reads: open to anyone who reaches the port (a development choice, printed below). A real
  # install sets electric_sync.read_auth = 'jwt' or 'secret' (docs/authorization.md).
  es_cluster_start "$dir" "$PGPORT" "$HTTP_PORT" "electric_sync.jwt_secret_file = '$secret_file'" \
    "electric_sync.read_auth = 'none'"
  es_log "demo 4/4: sample tables (items for reads, notes for the write path) and a development token"
  es_pg "$PG_BIN/psql -X -q -h '$dir/run' -p $PGPORT -U postgres -d postgres -v ON_ERROR_STOP=1" <<'SQL' >/dev/null
CREATE TABLE IF NOT EXISTS public.items (
  id bigint PRIMARY KEY,
  title text NOT NULL,
  done boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO public.items (id, title) VALUES (1, 'Try electric_sync'), (2, 'Sync a shape'), (3, 'Write back')
ON CONFLICT (id) DO NOTHING;
-- The write path's sample table (docs/oversync.md, quickstart): rows scoped by user.
CREATE TABLE IF NOT EXISTS public.notes (
  _sync_scope_id text NOT NULL,
  id uuid NOT NULL,
  body text,
  PRIMARY KEY (_sync_scope_id, id));
SELECT electric_sync.oversync_register_table('public.notes')
 WHERE NOT EXISTS (SELECT 1 FROM electric_sync.os_tables WHERE schema_name = 'public' AND table_name = 'notes');
SQL
  if ! es_wait_health "http://127.0.0.1:$HTTP_PORT" 60; then
    es_log "the HTTP server did not become healthy; see $dir/postgres.log"
    exit 1
  fi
  token=$(es_pg "$PG_BIN/psql -X -At -h '$dir/run' -p $PGPORT -U postgres -d postgres -c \"SELECT electric_sync.oversync_dev_token('demo-user', '1 day')\"" 2>/dev/null || true)
  cat <<MSG
electric_sync demo is running.
  DATABASE_URL=postgresql://postgres@127.0.0.1:$PGPORT/postgres
  HTTP base URL: http://127.0.0.1:$HTTP_PORT   (try: curl 'http://127.0.0.1:$HTTP_PORT/v1/shape?table=items&offset=-1')
  reads: electric_sync.read_auth = 'none' (anyone reaching 127.0.0.1:$HTTP_PORT reads every table; for
    tokens, roles and row-level security see docs/authorization.md)
  write path: table public.notes is registered; JWT secret in $secret_file (development only)
    a token for user demo-user (1 day): ${token:-"(could not mint one; see $dir/postgres.log)"}
    mint another: psql "postgresql://postgres@127.0.0.1:$PGPORT/postgres" -At -c "SELECT electric_sync.oversync_dev_token('alice')"
    then follow the quickstart at the top of docs/oversync.md (skip its step 3: the secret is set)
  stop with: make demo-stop; remove the installed extension with: make uninstall
MSG
  echo "electric_sync demo ready in $((SECONDS - t0)) s: Postgres on 127.0.0.1:$PGPORT, HTTP on http://127.0.0.1:$HTTP_PORT"
  ;;
stop)
  dir="$want"
  [ -f "$want/.dir" ] && dir=$(cat "$want/.dir")
  es_cluster_stop "$dir"
  echo "electric_sync demo stopped."
  ;;
*)
  echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
