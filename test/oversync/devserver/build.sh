#!/bin/bash
# Builds the oversync dev server: the route handler + pure core + libpq + cpp-httplib.
set -euo pipefail
cd "$(dirname "$0")/../../.."
OUT=${1:-/tmp/oversync_devserver}
g++ -std=c++17 -O1 -g -Wall -Isrc -I"$(pg_config --includedir)" -o "$OUT" \
    test/oversync/devserver/main.cpp src/oversync/routes.cpp src/oversync/watch.cpp src/pool/pq.cpp src/pool/db_pool.cpp \
    src/core/oversync/canonical.cpp src/core/oversync/request.cpp src/core/auth/jwt.cpp \
    $(pkg-config --cflags --libs cpp-httplib) -lpq -lssl -lcrypto -pthread
echo "built $OUT"
