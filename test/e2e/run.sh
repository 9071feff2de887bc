#!/usr/bin/env bash
# Runs the end-to-end tests with Node's built-in test runner against a running cluster.
# Environment (set by scripts/test.sh): ELECTRIC_URL, DATABASE_URL, ES_TEST_DIR, ES_PG_BIN,
# ES_PGPORT, ES_HTTP_PORT. Arguments: test files to run (default: every *.test.mjs here, then the
# destructive suites of destructive/ in the order below: they load, crash, drop and restart the
# cluster, so they run last and one after the other).
set -uo pipefail
cd "$(dirname "$0")"

# (Re)install the pinned clients when node_modules is missing or older than the lock file.
stamp=node_modules/.package-lock.json
if [ ! -d node_modules ] || [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  npm ci --no-audit --no-fund --loglevel=error || { echo "npm ci failed"; exit 1; }
fi

DESTRUCTIVE=(destructive/no_stall.test.mjs destructive/crash.test.mjs destructive/lifecycle.test.mjs)
if [ $# -gt 0 ]; then files=("$@"); else files=(*.test.mjs "${DESTRUCTIVE[@]}"); fi

# TAP reporter on stdout so that "# pass N" / "# fail N" are printed whatever the terminal.
# --test-force-exit (Node >= 20.14) ends a file's process when its tests are done even if a hung
# server left a socket open; every test also has its own timeout.
opts=(--test --test-concurrency=1 --test-reporter=tap)
node --help 2>/dev/null | grep -q -- '--test-force-exit' && opts+=(--test-force-exit)
node "${opts[@]}" "${files[@]}"
exit $?
