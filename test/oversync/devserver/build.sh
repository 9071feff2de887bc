#!/bin/bash
# Builds the oversync dev server: the route handler + pure core + libpq + cpp-httplib.
set -euo pipefail
cd "$(dirname "$0")/../../.."
OUT=${1:-/tmp/oversync_devserver}
g++ -std=c++17 -O1 -g -Wall -Isrc -I"$(pg_config --includedir)" -o "$OUT" \
    test/oversync/devserver/main.cpp src/svc/oversync_routes.cpp src/svc/oversync_watch.cpp src/svc/pq.cpp src/svc/db_pool.cpp \
    src/core/oversync_canonical.cpp src/core/oversync_request.cpp src/core/jwt.cpp \
    $(pkg-config --cflags --libs cpp-httplib) -lpq -lssl -lcrypto -pthread
echo "built $OUT"
