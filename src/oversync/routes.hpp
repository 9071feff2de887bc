// oversync v0.2.0 HTTP routes (/sync/..., /syncx/...): the write path's wire contract
// (docs/oversync.md). Runs on a DB-pool thread with a libpq
// connection; all state and logic of the routes lives in SQL (sql/install/5x_oversync_*.sql).
#pragma once
#include "core/common/http_types.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

typedef struct pg_conn PGconn;

namespace es::oversync {

// What the routes take from the host. The contract's limits, TTLs and retention are the
// electric_sync.oversync_* settings (src/extension/guc_oversync.cpp), read by the SQL functions in the
// backend serving each request, so a reload applies to the next request. A TTL here that is
// > 0 overrides its setting (the dev server's --push-ttl etc.); 0 = the database's setting.
struct Config {
    std::string jwt_secret;  // electric_sync.jwt_secret (HS256); empty = every token rejected
    std::string app_name = "electric_sync";
    int schema_version = 1;
    int jwt_leeway_seconds = 0;
    int push_session_ttl_seconds = 0;  // 0 = electric_sync.oversync_push_session_ttl
    int initialization_lease_ttl_seconds = 0;  // 0 = electric_sync.oversync_initialization_lease_ttl
    int snapshot_session_ttl_seconds = 0;  // 0 = electric_sync.oversync_snapshot_session_ttl
    int default_rows_per_committed_bundle_chunk = 1000;
    int max_rows_per_committed_bundle_chunk = 5000;
    int64_t max_rows_per_snapshot_session = 0;  // 0 = unlimited
    int64_t max_bytes_per_snapshot_session = 0;  // 0 = unlimited
    int64_t max_bytes_per_bundle = 0;  // advertised only (as v0.2.0)
    size_t max_body_bytes = 32 * 1024 * 1024;  // larger bodies: 413
    int max_attempts = 3;  // serialization failure / deadlock retries
    bool draining = false;  // server shutting down: 503 service_unavailable
    bool watch_enabled = false;  // GET /sync/watch (SSE) served by the host
};

// Structural ceiling of a push chunk's rows, checked while parsing (the maximum of
// electric_sync.oversync_max_rows_per_push_chunk; the setting itself is checked in SQL).
inline constexpr int kMaxPushChunkRowsCeiling = 100000;

// True for paths under /sync/ and /syncx/.
bool handles(const es::http::Request &req);

// Runs on a DB pool thread. conn == nullptr means the database is unreachable (503 JSON).
// Never throws; bad input gives a 4xx JSON error body.
// caller, when given, receives the authenticated user and source (empty when the request was
// refused before that).
struct Caller {
    std::string user, source;
};
es::http::Response handle(const es::http::Request &req, PGconn *conn, const Config &cfg, Caller *caller = nullptr);

// Authenticates a /sync/ request (bearer JWT + Oversync-Source-ID). On success fills user and
// source and returns true; otherwise fills `error` with the 401/400 response.
bool authenticate(const es::http::Request &req, const Config &cfg, std::string &user, std::string &source,
                  es::http::Response &error);

}  // namespace es::oversync
