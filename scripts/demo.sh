#!/usr/bin/env bash
# make demo / make demo-stop: a throwaway local cluster serving electric_sync over HTTP.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PGPORT="${PGPORT:-54329}"
HTTP_PORT="${ELECTRIC_SYNC_PORT:-3000}"
want="$ES_ROOT/.demo"

case "${1:-start}" in
start)
  es_install_deps
  es_build_install
  dir=$(es_pg_dir "$want")
  [ "$dir" = "$want" ] || { ln -sfn "$dir" "$want/cluster"; es_log "cluster data in $dir (postgres cannot reach $want)"; }
  echo "$dir" > "$want/.dir" 2>/dev/null || true
  es_cluster_start "$dir" "$PGPORT" "$HTTP_PORT"
  es_pg "$PG_BIN/psql -X -q -h '$dir/run' -p $PGPORT -U postgres -d postgres -v ON_ERROR_STOP=1" <<'SQL' >/dev/null
CREATE TABLE IF NOT EXISTS public.items (
  id bigint PRIMARY KEY,
  title text NOT NULL,
  done boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO public.items (id, title) VALUES (1, 'Try electric_sync'), (2, 'Sync a shape'), (3, 'Write back')
ON CONFLICT (id) DO NOTHING;
SQL
  if ! es_wait_health "http://127.0.0.1:$HTTP_PORT" 60; then
    es_log "the HTTP server did not become healthy; see $dir/postgres.log"
    exit 1
  fi
  cat <<MSG
electric_sync demo is running.
  DATABASE_URL=postgresql://postgres@127.0.0.1:$PGPORT/postgres
  HTTP base URL: http://127.0.0.1:$HTTP_PORT   (try: curl 'http://127.0.0.1:$HTTP_PORT/v1/shape?table=items&offset=-1')
  stop with: make demo-stop
MSG
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
