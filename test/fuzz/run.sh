#!/usr/bin/env bash
# Builds every libFuzzer target (test/fuzz/fuzz_*.cpp) and runs each for a while.
#
#   test/fuzz/run.sh [seconds]      seconds per target; default 60, or 10 when SMOKE=1
#   FUZZ_RUNS=N test/fuzz/run.sh    stop each target after N executions instead (long runs)
#   FUZZ_TARGETS="order_by jwt"     only these targets (names without fuzz_)
#   FUZZ_JOBS=2                     targets run at the same time (default 1)
#
# ASan runs with malloc_context_size=0 (about twice the executions per second; a report then
# lacks allocation stacks: rerun the artifact with ASAN_OPTIONS= to get them).
# Prints one line per target and, last, exactly "N passed, M failed". A target passes when it
# ran without a crash (sanitizer report, FUZZ_ASSERT, timeout, out of memory). Exit status 0
# only if every target passed. Crashing inputs are kept in test/fuzz/build/artifacts/.
# Installs clang + libFuzzer (Debian 12: clang-14, libclang-rt-14-dev) when missing (CI runs
# as root on a fresh Debian 12).
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
FUZZ_DIR=test/fuzz
BUILD=$FUZZ_DIR/build

if [ -n "${1:-}" ]; then SECONDS_PER=$1
elif [ "${SMOKE:-0}" = 1 ]; then SECONDS_PER=10
else SECONDS_PER=${FUZZ_SECONDS:-60}; fi
JOBS=${FUZZ_JOBS:-1}

have_fuzzer() {
    command -v clang++ >/dev/null 2>&1 || return 1
    local t; t=$(mktemp -d)
    echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*,unsigned long){return 0;}' > "$t/t.cpp"
    clang++ -fsanitize=fuzzer,address,undefined "$t/t.cpp" -o "$t/t" >/dev/null 2>&1
    local rc=$?
    rm -rf "$t"
    return $rc
}

if ! have_fuzzer; then
    echo "fuzz: installing clang and libFuzzer" >&2
    SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq >/dev/null 2>&1
    $SUDO apt-get install -y -qq clang libclang-rt-dev nlohmann-json3-dev libssl-dev libboost-dev >/dev/null 2>&1 ||
        $SUDO apt-get install -y -qq clang libclang-rt-14-dev >/dev/null 2>&1
    if ! have_fuzzer; then
        echo "fuzz: clang++ -fsanitize=fuzzer does not work" >&2
        echo "0 passed, 1 failed"
        exit 1
    fi
fi

echo "fuzz: building targets" >&2
mkdir -p "$BUILD/artifacts" "$BUILD/logs" "$BUILD/corpus"
if ! make -s -f $FUZZ_DIR/fuzz.mk -j"${FUZZ_BUILD_JOBS:-2}" >"$BUILD/build.log" 2>&1; then
    tail -30 "$BUILD/build.log" >&2
    echo "fuzz: build failed (see $BUILD/build.log)" >&2
    echo "0 passed, 1 failed"
    exit 1
fi

names=$(make -s -f $FUZZ_DIR/fuzz.mk list)
if [ -n "${FUZZ_TARGETS:-}" ]; then
    sel=; for t in $FUZZ_TARGETS; do sel="$sel fuzz_${t#fuzz_}"; done
    names=$sel
fi

run_one() {   # name -> writes $BUILD/logs/<name>.result
    local name=$1 short=${1#fuzz_}
    local bin=$BUILD/$name log=$BUILD/logs/$name.log work=$BUILD/corpus/$short seeds=$FUZZ_DIR/corpus/$short
    mkdir -p "$work"
    local limit=(-max_total_time="$SECONDS_PER")
    [ -n "${FUZZ_RUNS:-}" ] && limit=(-runs="$FUZZ_RUNS")
    local start=$(date +%s)
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0:malloc_context_size=0} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "$bin" "${limit[@]}" -max_len="${FUZZ_MAX_LEN:-16384}" -timeout=25 -rss_limit_mb=2560 -print_final_stats=1 \
        -artifact_prefix="$BUILD/artifacts/$short-" "$work" $( [ -d "$seeds" ] && echo "$seeds" ) >"$log" 2>&1
    local rc=$? secs=$(( $(date +%s) - start ))
    local execs; execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    local crashes; crashes=$(ls "$BUILD/artifacts/$short-"* 2>/dev/null | wc -l)
    if [ $rc -eq 0 ]; then
        printf 'PASS %-24s %12s execs %6ss  0 crashes\n' "$name" "${execs:-?}" "$secs" > "$BUILD/logs/$name.result"
    else
        printf 'FAIL %-24s %12s execs %6ss  exit %s, see %s\n' "$name" "${execs:-?}" "$secs" "$rc" "$log" \
            > "$BUILD/logs/$name.result"
    fi
}

passed=0 failed=0 running=0
for n in $names; do
    rm -f "$BUILD/logs/$n.result"
    if [ ! -x "$BUILD/$n" ]; then
        printf 'FAIL %-24s not built\n' "$n" > "$BUILD/logs/$n.result"
        continue
    fi
    run_one "$n" &
    running=$((running + 1))
    if [ $running -ge "$JOBS" ]; then wait -n; running=$((running - 1)); fi
done
wait
for n in $names; do
    line=$(cat "$BUILD/logs/$n.result" 2>/dev/null || echo "FAIL $n no result")
    echo "$line"
    case $line in PASS*) passed=$((passed + 1)) ;; *) failed=$((failed + 1)) ;; esac
done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
