#!/usr/bin/env bash
# The include barrier fails the build, docs/architecture.md describes the tree and src/ keeps its
# function and file lengths: compiles test/barrier/*.cpp with the flags of the thread
# side (make barrier-flags) and checks that the bad files fail (with the barrier's message where
# it applies) and the good one compiles. Prints "barrier: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
read -r -a CMD <<< "$(make -s barrier-compile-cmd | sed 's/ -MMD//; s/ -MP//')"
pass=0; fail=0
check() {  # name expect(ok|fail) file [message]
  local out; out=$("${CMD[@]}" -fsyntax-only "$3" 2>&1); local rc=$?
  if [ "$2" = ok ] && [ $rc = 0 ]; then pass=$((pass + 1)); echo "ok   $1"; return; fi
  if [ "$2" = fail ] && [ $rc != 0 ] && { [ -z "${4:-}" ] || grep -q "$4" <<< "$out"; }; then
    pass=$((pass + 1)); echo "ok   $1"; return
  fi
  fail=$((fail + 1)); echo "FAIL $1 (exit $rc)"; echo "$out" | head -5
}
check "thread-side file including postgres.h after other headers fails with the barrier's message" fail test/barrier/bad_postgres_h.cpp "electric_sync barrier"
check "thread-side file including another server header fails" fail test/barrier/bad_server_header.cpp
check "thread-side file including only C++ and libpq headers compiles" ok test/barrier/good.cpp
# The build really compiles every thread-side and core source that way: the commands make would
# run name src/barrier and never the server include directory.
server=$(make -s barrier-server-include); before=$fail
for f in $(make -s barrier-sources); do
  line=$(make -s -n -B "${f%.cpp}.o" 2>/dev/null | grep -- " -c -o ${f%.cpp}.o")
  if [ -z "$line" ] || ! grep -q -- "src/barrier" <<< "$line" || grep -q -- "-I$server " <<< "$line "; then
    fail=$((fail + 1)); echo "FAIL $f is not compiled behind the barrier"
  fi
done
[ $fail = $before ] && pass=$((pass + 1)) && echo "ok   every thread-side and core source is compiled behind the barrier"
# docs/architecture.md names every folder of src/ (and of src/core/).
before=$fail
for d in src/*/ src/core/*/; do
  d=${d%/}; rel=${d#src/}
  ls "$d"/*.cpp "$d"/*.hpp "$d"/*.h "$d"/*/ >/dev/null 2>&1 || continue  # build leftovers only
  grep -qF "\`$d/\`" docs/architecture.md || grep -qF "\`${rel#core/}/\`" docs/architecture.md ||
    { fail=$((fail + 1)); echo "FAIL docs/architecture.md does not describe $d/"; }
done
[ $fail = $before ] && pass=$((pass + 1)) && echo "ok   docs/architecture.md describes every folder of src/"
# The docs stand alone: no tracked file points at notes outside the repository.
outside=$(git ls-files -z | xargs -0 grep -lE '(\.\./shared/|/work/shared|shared/docs/|\blimits\.md\b|electric-protocol\.md|oversync-protocol\.md|examples-to-follow\.md)' -- 2>/dev/null | grep -v '^test/barrier/run.sh$')
if [ -z "$outside" ]; then pass=$((pass + 1)); echo "ok   no file points at notes outside the repository"
else fail=$((fail + 1)); echo "FAIL files pointing outside the repository: $outside"; fi
# No function in src/ over 120 lines and no file over 800 (test/barrier/lengths.awk); first the
# checker itself on a generated file with a 130-line function, which it must refuse.
long=$(mktemp --suffix=.cpp)
{ echo "int f(int x) {"; for i in $(seq 128); do echo "    x += $i;"; done; echo "    return x;"; echo "}"; } > "$long"
if awk -v MAXF=120 -v MAXL=800 -f test/barrier/lengths.awk "$long" >/dev/null; then
  fail=$((fail + 1)); echo "FAIL the length check accepts a 131-line function"
else pass=$((pass + 1)); echo "ok   the length check refuses a 131-line function"; fi
rm -f "$long"
if out=$(awk -v MAXF=120 -v MAXL=800 -f test/barrier/lengths.awk $(git ls-files 'src/*.cpp' 'src/*.hpp' 'src/*.h') 2>&1); then
  pass=$((pass + 1)); echo "ok   no function in src/ over 120 lines, no file over 800"
else fail=$((fail + 1)); echo "FAIL lengths:"; echo "$out"; fi
echo "barrier: $pass passed, $fail failed"
[ $fail = 0 ]
