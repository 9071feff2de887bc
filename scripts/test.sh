#!/usr/bin/env bash
# make test: installs what is missing, builds, and runs every test suite:
#   1. Catch2 unit tests of the pure C++ core (make unit), the include barrier, a fuzz smoke run
#   2. pg_regress tests (temporary instance, run as the postgres OS user)
#   3. end-to-end tests against a throwaway cluster with the real clients (test/e2e, test/oversync,
#      test/nginx)
#   4. the README and docs/install.md as written (test/readme)
#   5. packaging (test/packaging): META.json, make dist, make deb, the installed package
# Ends with one summary line "N passed, M failed".
set -uo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ES_ROOT"

PASSED=0
FAILED=0
FAILED_NAMES=()
record() {  # record NAME PASSED FAILED
  PASSED=$((PASSED + $2)); FAILED=$((FAILED + $3))
  [ "$3" -eq 0 ] || FAILED_NAMES+=("$1")
  es_log "$1: $2 passed, $3 failed"
}

extra=()
command -v node >/dev/null 2>&1 || extra+=(nodejs npm)
command -v go >/dev/null 2>&1 || [ -x /usr/local/go/bin/go ] || extra+=(golang-go)
es_install_deps "${extra[@]}"
export PATH="$PATH:/usr/local/go/bin"
es_build_install || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }

# 1. unit tests
es_log "unit tests (Catch2)"
unit_out=$(make -s unit 2>&1); unit_rc=$?
echo "$unit_out" | tail -n 5
if [ $unit_rc -eq 0 ]; then
  n=$(echo "$unit_out" | sed -n 's/.*All tests passed ([0-9]* assertions* in \([0-9]*\) test cases*).*/\1/p' | tail -1)
  record unit "${n:-1}" 0
else
  p=$(echo "$unit_out" | sed -n 's/^test cases: *[0-9]* | *\([0-9]*\) passed.*/\1/p' | tail -1)
  f=$(echo "$unit_out" | sed -n 's/^test cases:.*| *\([0-9]*\) failed.*/\1/p' | tail -1)
  record unit "${p:-0}" "${f:-1}"
fi

# 1a. the hub (the one meeting point of the main thread and the I/O threads) under ThreadSanitizer
es_log "hub under ThreadSanitizer (make unit-tsan)"
tsan_out=$(make -s unit-tsan 2>&1); tsan_rc=$?
echo "$tsan_out" | tail -n 5
if [ $tsan_rc -eq 0 ]; then
  n=$(echo "$tsan_out" | sed -n 's/.*All tests passed ([0-9]* assertions* in \([0-9]*\) test cases*).*/\1/p' | tail -1)
  record unit-tsan "${n:-1}" 0
else
  echo "$tsan_out" | grep -A30 'WARNING: ThreadSanitizer' | head -n 60
  record unit-tsan 0 1
fi

# 1b. the include barrier: a Postgres header on the thread side or in src/core fails the build.
es_log "include barrier (test/barrier)"
bar_out=$(bash test/barrier/run.sh 2>&1)
echo "$bar_out" | tail -n 8
bp=$(echo "$bar_out" | sed -n 's/^barrier: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
bf=$(echo "$bar_out" | sed -n 's/^barrier: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
record barrier "${bp:-0}" "${bf:-1}"

# 1c. libFuzzer smoke run of every parser target (test/fuzz, docs/fuzzing.md): a few seconds each.
es_log "fuzz smoke (libFuzzer)"
fuzz_out=$(bash test/fuzz/run.sh "${FUZZ_SMOKE_SECONDS:-5}" 2>&1)
echo "$fuzz_out" | tail -n 25
fp=$(echo "$fuzz_out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' | tail -1)
ff=$(echo "$fuzz_out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p' | tail -1)
record fuzz "${fp:-0}" "${ff:-1}"

# 2. pg_regress, in a copy of the test files the postgres user can write to.
es_log "pg_regress"
rdir=$(mktemp -d /tmp/electric_sync-regress.XXXXXX)
reg_out=$(es_regress "$rdir" "${REGRESS_PORT:-54390}"); reg_rc=$?
echo "$reg_out" | grep -E '\.\.\. |tests passed|failed' | tail -n 60
rp=$(echo "$reg_out" | grep -cE '\.\.\. ok|^ok [0-9]')
rf=$(echo "$reg_out" | grep -cE '\.\.\. FAILED|\.\.\. failed|^not ok [0-9]')
if [ $reg_rc -ne 0 ]; then
  [ -f "$rdir/regression.diffs" ] && head -n 200 "$rdir/regression.diffs"
  [ "$rf" -eq 0 ] && rf=1
fi
record pg_regress "$rp" "$rf"

# 3. end-to-end tests against a throwaway cluster.
E2E_PGPORT="${E2E_PGPORT:-54339}"
E2E_HTTP="${E2E_HTTP_PORT:-3339}"
tdir=$(es_pg_dir "$ES_ROOT/.testrun")
es_cluster_stop "$tdir" >/dev/null 2>&1
rm -rf "$tdir/data"
export ES_TEST_DIR="$tdir" ES_PG_BIN="$PG_BIN" ES_PGPORT="$E2E_PGPORT" ES_HTTP_PORT="$E2E_HTTP"
export ELECTRIC_URL="http://127.0.0.1:$E2E_HTTP"
export DATABASE_URL="postgresql://postgres@127.0.0.1:$E2E_PGPORT/postgres"
export ES_JWT_SECRET="electric-sync-test-secret"
# test/oversync: the write path against the same worker. The real oversqlite client module is
# refused by the Go module proxy here (403, docs/oversync.md): run the wire-level suite without it.
export OVERSYNC_BASE_URL="$ELECTRIC_URL" OVERSYNC_JWT_SECRET="$ES_JWT_SECRET" OVERSYNC_ALLOW_NO_CLIENT=1
if es_cluster_start "$tdir" "$E2E_PGPORT" "$E2E_HTTP" "electric_sync.jwt_secret = '$ES_JWT_SECRET'" "electric_sync.read_auth = 'none'" \
   "electric_sync.chunk_bytes = 10000" "electric_sync.long_poll_timeout = 4000" \
   && es_wait_health "$ELECTRIC_URL" 60; then
  for suite in test/e2e/run.sh test/oversync/run.sh test/synckit/run.sh test/nginx/run.sh test/browser/run.sh; do
    [ -x "$suite" ] || continue
    es_log "e2e: $suite"
    out=$("$suite" 2>&1); rc=$?
    log="$tdir/$(echo "$suite" | tr '/' '_').log"
    printf '%s\n' "$out" > "$log"
    echo "$out" | tail -n 40
    # the failures in full (TAP "not ok" blocks, go "--- FAIL"), bounded
    echo "$out" | grep -E -A40 '^not ok|^\s*--- FAIL' | head -n 300
    # node's test runner prints "# pass N" / "# fail N"; go test prints ok/FAIL lines.
    p=$(echo "$out" | sed -n 's/^# pass \([0-9]*\)$/\1/p' | awk '{s+=$1} END {print s+0}')
    f=$(echo "$out" | sed -n 's/^# fail \([0-9]*\)$/\1/p' | awk '{s+=$1} END {print s+0}')
    # a plain "N passed, M failed" closing line (test/nginx)
    np=$(echo "$out" | sed -n 's/^\([0-9]*\) passed, [0-9]* failed$/\1/p' | tail -1)
    nf=$(echo "$out" | sed -n 's/^[0-9]* passed, \([0-9]*\) failed$/\1/p' | tail -1)
    p=$((p + ${np:-0})); f=$((f + ${nf:-0}))
    gp=$(echo "$out" | grep -cE '^\s*--- PASS')
    gf=$(echo "$out" | grep -cE '^\s*--- FAIL')
    p=$((p + gp)); f=$((f + gf))
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    record "$suite" "$p" "$f"
  done
else
  echo "the test cluster did not start:"; tail -n 50 "$tdir/postgres.log"
  record e2e-cluster 0 1
fi
es_cluster_stop "$tdir"

# 4. the README's quickstart and docs/install.md, as written (test/readme/run.mjs runs every
#    sh block in order: make demo, curl, live follow, the JS client, make example, make demo-stop).
es_log "the README and docs/install.md, as written (test/readme)"
readme_out=$(node test/readme/run.mjs README.md docs/install.md 2>&1)
echo "$readme_out" | tail -n 40
rp=$(echo "$readme_out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' | tail -1)
rf=$(echo "$readme_out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p' | tail -1)
record readme "${rp:-0}" "${rf:-1}"

# 5. packaging: META.json, make dist, the Debian package built from the zip, installed and
#    tested with pg_regress (test/packaging/run.sh; it installs the tree's build again after).
es_log "packaging (test/packaging)"
pkg_out=$(bash test/packaging/run.sh 2>&1)
echo "$pkg_out" | tail -n 40
pp=$(echo "$pkg_out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' | tail -1)
pf=$(echo "$pkg_out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p' | tail -1)
record packaging "${pp:-0}" "${pf:-1}"

[ ${#FAILED_NAMES[@]} -eq 0 ] || es_log "failed suites: ${FAILED_NAMES[*]}"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
