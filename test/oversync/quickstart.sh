#!/bin/bash
# Runs the quickstart of docs/oversync.md as written: every ```sh block after a
# "<!-- quickstart -->" line, in order, in one bash, against DATABASE_URL / OVERSYNC_BASE_URL
# (scripts/test.sh sets them); checks that the pushed row comes back in the pull and in the
# table; then `go run`s examples/oversync-quickstart with a token for the same user.
# Step 3 points electric_sync.jwt_secret_file at a new file: it is reset at the end, so the
# cluster's own electric_sync.jwt_secret is in force again. Ends with "N passed, M failed".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
: "${DATABASE_URL:?DATABASE_URL is required}" "${OVERSYNC_BASE_URL:?OVERSYNC_BASE_URL is required}"
export DATABASE_URL OVERSYNC_BASE_URL PATH="$PATH:/usr/local/go/bin"
script=$(mktemp /tmp/oversync-quickstart.XXXXXX.sh)
awk '/<!-- quickstart -->/ {want=1; next} want && /^```sh/ {inblk=1; next} inblk && /^```/ {inblk=0; want=0; next} inblk {print}' \
  "$root/docs/oversync.md" > "$script"
{ echo; echo 'echo "QS_ID=$ID"; echo "QS_TOKEN=$TOKEN"'; } >> "$script"
pass=0; fail=0
out=$(cd "$root" && bash -e "$script" 2>&1); rc=$?
echo "$out" | grep -v '^QS_TOKEN='
id=$(echo "$out" | sed -n 's/^QS_ID=//p'); token=$(echo "$out" | sed -n 's/^QS_TOKEN=//p')
if [ $rc -eq 0 ] && [ -n "$id" ] && echo "$out" | grep -q "$id" && echo "$out" | grep -qx 'alice|hello'; then
  echo "--- PASS: quickstart (docs/oversync.md): row $id pushed, pulled back and in public.notes"; pass=$((pass+1))
else
  echo "--- FAIL: quickstart (docs/oversync.md) (exit $rc)"; fail=$((fail+1))
fi
if [ -n "$token" ] && (cd "$root/examples/oversync-quickstart" && OVERSYNC_TOKEN=$token go run . 2>&1) | tee /tmp/oversync-qs-go.$$.log | tail -1 | grep -q '^ok: row'; then
  echo "--- PASS: examples/oversync-quickstart (go run)"; pass=$((pass+1))
else
  cat /tmp/oversync-qs-go.$$.log 2>/dev/null; echo "--- FAIL: examples/oversync-quickstart (go run)"; fail=$((fail+1))
fi
psql "$DATABASE_URL" -X -q -c "ALTER SYSTEM RESET electric_sync.jwt_secret_file" -c "SELECT pg_reload_conf()" >/dev/null
sleep 1
rm -f "$script" /tmp/oversync-qs-go.$$.log
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
