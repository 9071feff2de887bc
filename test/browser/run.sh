#!/usr/bin/env bash
# Browser test of examples/todo (test/browser/todo.mjs) against a running electric_sync.
# Environment (set by scripts/test.sh): ELECTRIC_URL, DATABASE_URL; ES_TEST_DIR (screenshots go
# to $ES_TEST_DIR/browser-artifacts, else a new folder under /tmp). Installs what is missing:
# the Debian package chromium, the npm packages of this folder and of examples/todo (kept in
# their node_modules, reinstalled when the lock file is newer), and builds the app's bundle.
# Ends with "N passed, M failed".
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
APP="$ROOT/examples/todo"

fail_setup() { echo "FAIL - $1"; echo "0 passed, 1 failed"; exit 1; }
: "${ELECTRIC_URL:?ELECTRIC_URL is required}"
: "${DATABASE_URL:?DATABASE_URL is required}"

if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  source "$ROOT/scripts/lib.sh"
  es_install_deps chromium || fail_setup "could not install chromium"
fi
npm_install() {  # (re)install a folder's pinned packages when node_modules is missing or older than the lock
  local stamp="$1/node_modules/.package-lock.json"
  if [ ! -f "$stamp" ] || [ "$1/package-lock.json" -nt "$stamp" ]; then
    (cd "$1" && npm ci --no-audit --no-fund --loglevel=error) || return 1
  fi
}
npm_install "$HERE" || fail_setup "npm ci in test/browser failed"
npm_install "$APP" || fail_setup "npm ci in examples/todo failed"
(cd "$APP" && node build.mjs) || fail_setup "the todo app does not build"

if [ -n "${ES_TEST_DIR:-}" ]; then
  export BROWSER_ARTIFACTS="$ES_TEST_DIR/browser-artifacts"
  rm -rf "$BROWSER_ARTIFACTS"
else
  export BROWSER_ARTIFACTS="$(mktemp -d /tmp/electric_sync-browser.XXXXXX)"
fi
node "$HERE/todo.mjs"
