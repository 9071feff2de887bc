#!/usr/bin/env bash
# Cached chunk: requests/s for one ~10 KB non-live shape chunk (served from the worker's
# memory), with wrk (-t2 -c100, keep-alive), vs nginx serving the same bytes as a static file
# in the same run. Also shown, not part of the ratio: the same URL through the nginx caching
# proxy (cache HITs). Target >= 50%.
# Usage: bench/cached_chunk.sh [--quick]   (10 s per wrk run; --quick 4 s)
set -uo pipefail
source "$(dirname "$0")/lib_bench.sh"
DUR=10; [ $BENCH_QUICK = 1 ] && DUR=4
command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null || { echo "FAILED: wrk missing"; exit 1; }
esn_install || { echo "FAILED: nginx missing"; exit 1; }

bench_cluster_start cached_chunk 54401 3401 "electric_sync.chunk_bytes = 10000" || exit 1
bench_sql "CREATE TABLE items (id bigint PRIMARY KEY, title text NOT NULL, n int, at timestamptz);
           INSERT INTO items SELECT g, 'item ' || md5(g::text), g % 1000, now() FROM generate_series(1, 2000) g" || exit 1
WORK=$(mktemp -d /tmp/esbench_cached_chunk.XXXXXX); chmod 755 "$WORK"
BENCH_CLEANUP_EXTRA+=("esn_stop $WORK/proxy" "[ -f $WORK/static/run/nginx.pid ] && kill -QUIT \$(cat $WORK/static/run/nginx.pid)" "rm -rf $WORK")
HANDLE=$(curl -s -D - -o /dev/null "http://127.0.0.1:$BENCH_HTTP/v1/shape?table=items&offset=-1" | sed -n 's/^electric-handle: //p' | tr -d '\r')
URL_PATH="/v1/shape?handle=$HANDLE&offset=0_0&table=items"
curl -s -D "$WORK/h" -o "$WORK/chunk.json" "http://127.0.0.1:$BENCH_HTTP$URL_PATH"
SIZE=$(stat -c %s "$WORK/chunk.json")
grep -q '^HTTP/1.1 200' "$WORK/h" && [ "$SIZE" -gt 1000 ] || { echo "FAILED: no chunk at $URL_PATH"; cat "$WORK/h"; exit 1; }
echo "chunk: $URL_PATH, $SIZE bytes of body, $(wc -c < "$WORK/h") bytes of headers"

# nginx serving the same bytes (static file, 2 workers, keep-alive).
mkdir -p "$WORK/static/run" "$WORK/static/www"
cp "$WORK/chunk.json" "$WORK/static/www/chunk.json"
SPORT=$(esn_free_port 18520)
cat > "$WORK/static/nginx.conf" <<NGX
user nobody nogroup;
worker_processes 2;
pid $WORK/static/run/nginx.pid;
error_log $WORK/static/run/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on; tcp_nodelay on; keepalive_requests 1000000;
    client_body_temp_path $WORK/static/run/body; proxy_temp_path $WORK/static/run/proxy;
    fastcgi_temp_path $WORK/static/run/fcgi; uwsgi_temp_path $WORK/static/run/uwsgi; scgi_temp_path $WORK/static/run/scgi;
    server { listen 127.0.0.1:$SPORT; root $WORK/static/www; default_type application/json;
             location / { try_files /chunk.json =404; } }
}
NGX
nginx -p "$WORK/static" -c "$WORK/static/nginx.conf" || { echo "FAILED: static nginx"; exit 1; }
sleep 0.3

rps() { sed -n 's/^Requests\/sec: *//p' "$1"; }
wrk_run() {  # URL OUT
  wrk -t2 -c100 -d${DUR}s --latency "$1" > "$2" 2>&1
  grep -E 'Requests/sec|Non-2xx|Socket errors|99%' "$2" | sed 's/^/    /' >&2
}
bench_log "figure: wrk against electric_sync"
wrk_run "http://127.0.0.1:$BENCH_HTTP$URL_PATH" "$WORK/w1"
bench_log "ceiling: wrk against nginx serving the same bytes"
wrk_run "http://127.0.0.1:$SPORT/v1/shape" "$WORK/w2"
kill -QUIT "$(cat "$WORK/static/run/nginx.pid")"
bench_log "extra: wrk through the nginx caching proxy (HITs)"
PPORT=$(esn_free_port 18530)
esn_stop "$WORK/proxy"
ESN_EXTRA_HTTP="" esn_start "$WORK/proxy" "$PPORT" "127.0.0.1:$BENCH_HTTP" && sed -i 's#access_log .*/access.log electric_edge;#access_log off;#' "$WORK/proxy/electric_sync.conf" &&
  nginx -p "$WORK/proxy" -c "$WORK/proxy/nginx.conf" -s reload && sleep 0.5
curl -s -o /dev/null "http://127.0.0.1:$PPORT$URL_PATH"
wrk_run "http://127.0.0.1:$PPORT$URL_PATH" "$WORK/w3"
esn_stop "$WORK/proxy"

FIG=$(rps "$WORK/w1"); CEIL=$(rps "$WORK/w2")
grep -q 'Non-2xx' "$WORK/w1" && echo "FAILED: electric_sync answered non-2xx responses: $(grep Non-2xx "$WORK/w1")"
echo "through the nginx caching proxy: $(rps "$WORK/w3") req/s"
bench_result "cached chunk ($SIZE B), wrk -t2 -c100 -d${DUR}s" "$FIG" "$CEIL" req/s higher ">= 0.5"
