#!/usr/bin/env bash
# Connection storm: 20,000 idle TCP connections (opened as fast as the listen queue takes them,
# never sending a byte; a closed one is reopened 5 s later) while a writer commits 10 tx/s.
# Figures during the storm, against the same figures in a quiet run (same script run):
#   - /v1/health p99 over a keep-alive connection opened before the storm (one request every
#     50 ms, like a load balancer's probe);
#   - live delivery latency p99 of an unrelated shape: commit -> long-poll client has it
#     (bench/esload live, 10 clients on one shape, connected before the storm).
# Target: both within 2x of the quiet run. Also shown: connections the worker held, connections
# turned away (503, over the cap / descriptor budget), health over fresh connections during the
# storm, and health once the storm ends. Only loopback addresses (storm sockets bound to
# 127.0.0.10-17). Bounded: ~90 s, everything it starts is stopped.
# Usage: bench/conn_storm.sh [--quick]  (--quick: 5,000 connections, 8 s of commits)
set -uo pipefail
source "$(dirname "$0")/lib_bench.sh"
CONNS=20000; SECS=15; RATE=10
[ $BENCH_QUICK = 1 ] && { CONNS=5000; SECS=8; }
COUNT=$((RATE * SECS))
HOLDERS=2   # storm processes (each below the client's open-files limit)
STORM_PGPORT=${STORM_PGPORT:-54405}; STORM_HTTP=${STORM_HTTP:-3405}

# Our own client limit: the storm processes hold CONNS/HOLDERS sockets each.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
NEED=$((CONNS / HOLDERS + 256))
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge $NEED ] || { echo "FAILED: ulimit -n $(ulimit -n) < $NEED"; exit 1; }

bench_build_esload || exit 1
# The cap is the worker's descriptor budget (not the 10,000 default): the storm meets the limit
# that protects Postgres's own descriptors.
bench_cluster_start connstorm "$STORM_PGPORT" "$STORM_HTTP" "electric_sync.http_max_connections = 0" || exit 1
bench_sql "CREATE TABLE storm_q (id bigserial PRIMARY KEY, shape int NOT NULL, seq bigint NOT NULL, note text);
           CREATE TABLE storm_s (LIKE storm_q INCLUDING ALL)" || exit 1
TMP=$(mktemp -d); BENCH_CLEANUP_EXTRA+=("rm -rf $TMP")

cat > "$TMP/storm.mjs" <<'EOF'
// hold PORT N FIRST_ADDR_INDEX OUT: N idle connections; closed ones reopen after 5 s.
// health PORT DELAY_S SECS OUT: keep-alive GET /v1/health every 50 ms; samples after DELAY_S.
// fresh PORT DELAY_S SECS OUT: a new connection per GET /v1/health every 250 ms; counts statuses.
import net from 'node:net'
import http from 'node:http'
import { writeFileSync } from 'node:fs'
const [mode, port, a, b, out] = process.argv.slice(2)
const PORT = Number(port)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
if (mode === 'hold') {
  const N = Number(a), base = Number(b)
  const st = { open: 0, opened: 0, closed: 0, got503: 0, errors: 0 }
  const dump = () => writeFileSync(out, Object.entries(st).map(([k, v]) => `${k}=${v}`).join('\n') + '\n')
  const one = (i) => {
    const s = net.connect({ host: '127.0.0.1', port: PORT, localAddress: `127.0.0.${base + (i % 4)}` })
    let connected = false
    s.on('connect', () => { connected = true; st.open++; st.opened++ })
    s.on('data', (d) => { if (d.toString('latin1').startsWith('HTTP/1.1 503')) st.got503++ })
    s.on('error', () => { st.errors++ })
    s.on('close', () => { if (connected) st.open--; st.closed++; setTimeout(() => one(i), 5000).unref() })
  }
  process.on('SIGTERM', () => { dump(); process.exit(0) })
  setInterval(dump, 500)
  for (let i = 0; i < N; i += 200) {
    for (let j = i; j < Math.min(N, i + 200); j++) one(j)
    await sleep(20)
  }
} else {
  const delay = Number(a) * 1000, secs = Number(b) * 1000
  const t0 = Date.now()
  const lat = [], codes = {}
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  const get = (fresh) => new Promise((resolve) => {
    const s = performance.now()
    const req = http.get({ host: '127.0.0.1', port: PORT, path: '/v1/health', agent: fresh ? false : agent, timeout: 5000 }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode, ms: performance.now() - s }))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', (e) => resolve({ status: e.code || 'error', ms: performance.now() - s }))
  })
  while (Date.now() - t0 < delay + secs) {
    const r = await get(mode === 'fresh')
    if (Date.now() - t0 >= delay) {
      codes[r.status] = (codes[r.status] || 0) + 1
      if (r.status === 200) lat.push(r.ms)
    }
    await sleep(mode === 'fresh' ? 250 : 50)
  }
  lat.sort((x, y) => x - y)
  const pct = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(2) : 'n/a')
  writeFileSync(out, `samples=${lat.length}\np50_ms=${pct(0.5)}\np99_ms=${pct(0.99)}\nmax_ms=${pct(1)}\n` +
    `codes=${Object.entries(codes).map(([k, v]) => `${k}:${v}`).join(',')}\n`)
  process.exit(0)
}
EOF

# run_phase NAME TABLE SETTLE: esload live (10 clients, commits after SETTLE s) + the health probe
# sampling over the same window. Outputs $TMP/NAME.live and $TMP/NAME.health.
run_phase() {
  local name="$1" table="$2" settle="$3"
  node "$TMP/storm.mjs" health "$BENCH_HTTP" "$((settle + 1))" "$((SECS - 1))" "$TMP/$name.health" & local hp=$!
  "$ESLOAD" live --port "$BENCH_HTTP" --path "/v1/shape?table=$table" -n 10 --shapes 1 \
    --conninfo "$BENCH_CONNINFO" --sql "INSERT INTO $table (shape, seq, note) VALUES ({s}, {seq}, 'x')" \
    --rate $RATE --count $COUNT --settle "$settle" --timeout 10 > "$TMP/$name.live"
  local rc=$?
  wait $hp
  return $rc
}

bench_log "quiet: $COUNT commits at $RATE/s, 10 live clients on storm_q, health probe"
run_phase quiet storm_q 2; RCQ=$?

bench_log "storm: $CONNS idle connections from $HOLDERS processes, then the same measurements (storm_s)"
SETTLE=12
run_phase storm storm_s $SETTLE & PHASE=$!
sleep 1.5   # the live clients and the probe are connected: now the storm
HPIDS=()
for ((h = 0; h < HOLDERS; h++)); do
  node "$TMP/storm.mjs" hold "$BENCH_HTTP" $((CONNS / HOLDERS)) $((10 + 4 * h)) "$TMP/hold$h" & HPIDS+=($!)
  BENCH_CLEANUP_EXTRA+=("kill ${HPIDS[-1]}")
done
sleep $((SETTLE - 3))
# metrics and fresh-connection health during the storm
# (at the cap a fresh connection may get 503 too: a few tries)
held() {
  local i v
  for ((i = 0; i < 20; i++)); do
    v=$(curl -s -m 2 "http://127.0.0.1:$BENCH_HTTP/v1/metrics" | sed -n 's/.*"connections":\([0-9]*\).*/\1/p')
    [ -n "$v" ] && { echo "$v"; return; }
    sleep 0.1
  done
  echo "?"
}
HELD=$(held)
node "$TMP/storm.mjs" fresh "$BENCH_HTTP" 0 5 "$TMP/fresh" &
FRESHPID=$!
wait $PHASE; RCS=$?
wait $FRESHPID
HELD_AT_END=$(held)
for p in "${HPIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
for p in "${HPIDS[@]}"; do wait "$p" 2>/dev/null; done
sum() { local t=0 f; for ((f = 0; f < HOLDERS; f++)); do t=$((t + $(kv "$TMP/hold$f" "$1"))); done; echo $t; }
T0=$(bench_now); REC=""
for ((i = 0; i < 100; i++)); do
  [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$BENCH_HTTP/v1/health")" = 200 ] && { REC=$(awk -v a="$T0" -v b="$(bench_now)" 'BEGIN { printf "%.2f", b - a }'); break; }
  sleep 0.1
done
METRICS=$(curl -s -m 5 "http://127.0.0.1:$BENCH_HTTP/v1/metrics")
REJ=$(echo "$METRICS" | sed -n 's/.*"rejected_connections":\([0-9]*\).*/\1/p')
CAP=$(echo "$METRICS" | sed -n 's/.*"max_connections":\([0-9]*\).*/\1/p')
ERRS=$(grep -c "Too many open files" "$BENCH_CLUSTER/postgres.log")

echo "storm: $CONNS connections attempted; worker held $HELD (at the end of the window: $HELD_AT_END; cap = descriptor budget $CAP); turned away with 503: $REJ; storm clients saw 503 on $(sum got503), closes $(sum closed), connect errors $(sum errors)"
echo "health over fresh connections during the storm: $(kv "$TMP/fresh" codes); /v1/health 200 again ${REC:-NEVER} s after the storm; 'Too many open files' in the log: $ERRS"
for n in quiet storm; do
  echo "$n: health p50 $(kv "$TMP/$n.health" p50_ms) ms, p99 $(kv "$TMP/$n.health" p99_ms) ms, max $(kv "$TMP/$n.health" max_ms) ms ($(kv "$TMP/$n.health" samples) samples, $(kv "$TMP/$n.health" codes)); live delivered $(kv "$TMP/$n.live" delivered) of $(kv "$TMP/$n.live" expected_deliveries), p50 $(kv "$TMP/$n.live" lat_p50_ms) ms, p99 $(kv "$TMP/$n.live" lat_p99_ms) ms, max $(kv "$TMP/$n.live" lat_max_ms) ms"
done
[ $RCQ -eq 0 ] && [ $RCS -eq 0 ] || echo "FAILED: not every live client got every change (quiet rc $RCQ, storm rc $RCS)"
[ -n "$REC" ] || echo "FAILED: /v1/health did not answer 200 after the storm"
[ "$ERRS" = 0 ] || echo "FAILED: the worker ran out of descriptors"
bench_result "/v1/health p99 during a $CONNS-connection storm (ceiling: quiet run)" "$(kv "$TMP/storm.health" p99_ms)" "$(kv "$TMP/quiet.health" p99_ms)" ms lower "ratio >= 0.5 (within 2x)"
bench_result "live delivery p99 during a $CONNS-connection storm (ceiling: quiet run)" "$(kv "$TMP/storm.live" lat_p99_ms)" "$(kv "$TMP/quiet.live" lat_p99_ms)" ms lower "ratio >= 0.5 (within 2x)"
