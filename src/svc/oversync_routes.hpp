// oversync v0.2.0 HTTP routes (/sync/..., /syncx/...): the write path's wire contract
// (docs/oversync.md, shared oversync-protocol.md). Runs on a DB-pool thread with a libpq
// connection; all state and logic of the routes lives in SQL (sql/install/5x_oversync_*.sql).
#pragma once
#include "core/http_types.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

typedef struct pg_conn PGconn;

namespace es::oversync {

// Limits and TTLs, with the contract's defaults (protocol §7).
struct Config {
    std::string jwt_secret;                 // electric_sync.jwt_secret (HS256); empty = every token rejected
    std::string app_name = "electric_sync";
    int schema_version = 1;
    int jwt_leeway_seconds = 0;
    int default_bundles_per_pull = 1000;
    int max_bundles_per_pull = 5000;
    int default_rows_per_push_chunk = 1000;
    int max_rows_per_push_chunk = 5000;
    int push_session_ttl_seconds = 900;
    int initialization_lease_ttl_seconds = 900;
    int default_rows_per_committed_bundle_chunk = 1000;
    int max_rows_per_committed_bundle_chunk = 5000;
    int default_rows_per_snapshot_chunk = 1000;
    int max_rows_per_snapshot_chunk = 5000;
    int snapshot_session_ttl_seconds = 900;
    int64_t max_rows_per_snapshot_session = 0;   // 0 = unlimited
    int64_t max_bytes_per_snapshot_session = 0;  // 0 = unlimited
    int64_t max_rows_per_bundle = 0;             // advertised only (as v0.2.0)
    int64_t max_bytes_per_bundle = 0;            // advertised only (as v0.2.0)
    size_t max_body_bytes = 32 * 1024 * 1024;    // larger bodies: 413
    int max_attempts = 3;                        // serialization failure / deadlock retries
    bool draining = false;                       // server shutting down: 503 service_unavailable
    bool watch_enabled = false;                  // GET /sync/watch (SSE) served by the host
};

// True for paths under /sync/ and /syncx/.
bool handles(const es::http::Request &req);

// Runs on a DB pool thread. conn == nullptr means the database is unreachable (503 JSON).
// Never throws; bad input gives a 4xx JSON error body.
es::http::Response handle(const es::http::Request &req, PGconn *conn, const Config &cfg);

// Authenticates a /sync/ request (bearer JWT + Oversync-Source-ID). On success fills user and
// source and returns true; otherwise fills `error` with the 401/400 response.
bool authenticate(const es::http::Request &req, const Config &cfg, std::string &user, std::string &source,
                  es::http::Response &error);

}  // namespace es::oversync
