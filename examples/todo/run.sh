#!/usr/bin/env bash
# make example: the todo app against the demo cluster of `make demo` (Postgres 54329, HTTP 3000;
# DATABASE_URL / ELECTRIC_URL for another). Creates and registers public.todos if missing, adds
# two rows for the user when it has none, installs the npm packages, builds the bundle, mints a
# development token (1 day) and serves the app on the first free port of 8151..8159.
# TODO_USER (default demo-user) is the user whose todos the page shows and writes.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PGURL="${DATABASE_URL:-postgresql://postgres@127.0.0.1:${PGPORT:-54329}/postgres}"
BASE="${ELECTRIC_URL:-http://127.0.0.1:${ELECTRIC_SYNC_PORT:-3000}}"
USER_ID="${TODO_USER:-demo-user}"
PSQL=(psql "$PGURL" -X -q -At -v ON_ERROR_STOP=1)

if [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/v1/health" 2>/dev/null)" != 200 ] || ! "${PSQL[@]}" -c 'SELECT 1' >/dev/null 2>&1; then
  echo "electric_sync is not answering at $BASE (database $PGURL): start the demo cluster with 'make demo'" >&2
  exit 1
fi
command -v node >/dev/null && command -v npm >/dev/null || { echo "node and npm are needed (apt-get install nodejs npm)" >&2; exit 1; }

PGOPTIONS="-c client_min_messages=warning" "${PSQL[@]}" -f "$HERE/schema.sql" >/dev/null
"${PSQL[@]}" -v user="$USER_ID" >/dev/null <<'SQL'
INSERT INTO public.todos (_sync_scope_id, id, title, created_at)
SELECT :'user', gen_random_uuid(), t, now() - make_interval(secs => n)
  FROM (VALUES ('Read examples/todo/README.md', 2), ('Open this page in a second window', 1)) v(t, n)
 WHERE NOT EXISTS (SELECT 1 FROM public.todos WHERE _sync_scope_id = :'user');
SQL

stamp="$HERE/node_modules/.package-lock.json"
if [ ! -f "$stamp" ] || [ "$HERE/package-lock.json" -nt "$stamp" ]; then
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
fi
(cd "$HERE" && node build.mjs)

TOKEN=$("${PSQL[@]}" -c "SELECT electric_sync.oversync_dev_token('$(printf '%s' "$USER_ID" | sed "s/'/''/g")', '1 day')")
echo "Open the URL below in two browser windows; edit in one, or in SQL:"
echo "  psql $PGURL -c \"INSERT INTO public.todos (_sync_scope_id, id, title) VALUES ('$USER_ID', gen_random_uuid(), 'from SQL')\""
echo "Stop with Ctrl-C."
TODO_ELECTRIC_URL="$BASE" TODO_TOKEN="$TOKEN" TODO_USER="$USER_ID" exec node "$HERE/server.mjs"
