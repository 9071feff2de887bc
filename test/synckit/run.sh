#!/usr/bin/env bash
# The SyncKit endpoint (/ws) tests against a running cluster (issue 14): the real
# @synckit-js/sdk 0.1.1 in Node with `ws`, and a raw frame client of our own.
# Environment (set by scripts/test.sh): ELECTRIC_URL, DATABASE_URL, ES_JWT_SECRET, and for the
# cluster restart ES_TEST_DIR, ES_PG_BIN, ES_PGPORT, ES_HTTP_PORT.
# Usage: test/synckit/run.sh [file.test.mjs ...]
set -uo pipefail
cd "$(dirname "$0")"

command -v node >/dev/null 2>&1 || { echo "node is not installed"; exit 1; }
stamp=node_modules/.package-lock.json
if [ ! -d node_modules ] || [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  npm ci --no-audit --no-fund --loglevel=error || { echo "npm ci failed"; exit 1; }
fi

# restart.test.mjs restarts the worker and the cluster: it runs last.
LAST=(restart.test.mjs)
if [ $# -gt 0 ]; then
  files=("$@")
else
  files=()
  for f in *.test.mjs; do
    case " ${LAST[*]} " in *" $f "*) ;; *) files+=("$f") ;; esac
  done
  files+=("${LAST[@]}")
fi

# TAP on stdout so that "# pass N" / "# fail N" are printed whatever the terminal;
# --test-force-exit ends a file's process when its tests are done even if a socket is left open.
opts=(--test --test-concurrency=1 --test-reporter=tap)
node --help 2>/dev/null | grep -q -- '--test-force-exit' && opts+=(--test-force-exit)
node "${opts[@]}" "${files[@]}"
exit $?
