# Runs Debian's nginx as a standalone process (own prefix, config, logs, pid file; never the
# system service) with bench/nginx/electric_sync.conf. Source it; needs bash; run as root.
#
#   esn_install                       installs nginx (Debian package) if missing
#   esn_free_port START               prints the first free TCP port >= START on 127.0.0.1
#   esn_start DIR LISTEN_PORT ORIGIN  writes DIR/nginx.conf and starts nginx on 127.0.0.1:PORT
#                                     in front of ORIGIN (host:port); logs in DIR/run
#   esn_stop DIR                      stops that nginx (by its pid file)
#   esn_origin_requests DIR [GREP]    origin requests so far (lines of DIR/run/origin.log)
# Log formats: access.log = edge requests with $upstream_cache_status; origin.log = one line
# per request that reached the electric_sync server.

ESN_DIR_SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

esn_install() {
  command -v nginx >/dev/null 2>&1 && return 0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null 2>&1 || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; }
  command -v nginx >/dev/null 2>&1
}

esn_free_port() {
  local p="$1"
  while ss -ltnH "sport = :$p" 2>/dev/null | grep -q .; do p=$((p + 1)); done
  echo "$p"
}

esn_start() {
  local dir="$1" port="$2" origin="$3"
  origin="${origin#http://}"; origin="${origin%/}"
  mkdir -p "$dir/run" "$dir/cache" "$dir/tmp"
  rm -f "$dir/run/"*.log "$dir/run/electric_inner.sock"
  rm -rf "${dir:?}/cache/"*
  chown -R nobody:nogroup "$dir/cache" "$dir/tmp"
  sed -e "s#@LISTEN@#127.0.0.1:$port#g" -e "s#@ORIGIN@#$origin#g" \
      -e "s#@CACHE_DIR@#$dir/cache#g" -e "s#@RUN_DIR@#$dir/run#g" \
      "$ESN_DIR_SELF/electric_sync.conf" > "$dir/electric_sync.conf"
  cat > "$dir/nginx.conf" <<EOF
user nobody nogroup;
worker_processes ${ESN_WORKERS:-2};
worker_rlimit_nofile $(ulimit -Hn);
pid $dir/run/nginx.pid;
error_log $dir/run/error.log warn;
events { worker_connections 32768; multi_accept on; }
http {
    default_type application/octet-stream;
    sendfile on;
    tcp_nodelay on;
    keepalive_timeout 75s;
    keepalive_requests 100000;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    log_format electric_edge '\$msec \$status \$upstream_cache_status \$upstream_addr \$request_time "\$request_uri"';
    log_format electric_origin '\$msec \$status \$upstream_status \$request_time "\$request_uri"';
    include $dir/electric_sync.conf;
    ${ESN_EXTRA_HTTP:-}
}
EOF
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  nginx -p "$dir" -c "$dir/nginx.conf" -t -q 2>"$dir/run/configtest.log" || { cat "$dir/run/configtest.log" >&2; return 1; }
  nginx -p "$dir" -c "$dir/nginx.conf" 2>>"$dir/run/error.log" || return 1
  local i
  for ((i = 0; i < 50; i++)); do
    ss -ltnH "sport = :$port" 2>/dev/null | grep -q . && return 0
    sleep 0.1
  done
  return 1
}

esn_stop() {
  local dir="$1" pid
  [ -f "$dir/run/nginx.pid" ] || return 0
  pid=$(cat "$dir/run/nginx.pid" 2>/dev/null)
  [ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null
  local i
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -TERM "$pid" 2>/dev/null
  return 0
}

esn_origin_requests() {
  local dir="$1" pat="${2:-.}"
  [ -f "$dir/run/origin.log" ] || { echo 0; return 0; }
  grep -c -- "$pat" "$dir/run/origin.log" || true
}
