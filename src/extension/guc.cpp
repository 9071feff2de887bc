// electric_sync.* GUCs. Secrets are superuser-only (GUC_SUPERUSER_ONLY hides them from others).
#include "pg/compat.hpp"
extern "C" {
#include "utils/guc.h"
}
#include "extension/guc.hpp"
#include <climits>

char *es_guc_database = nullptr;
char *es_guc_listen_address = nullptr;
int es_guc_port = 3000;
int es_guc_io_threads = 1;
int es_guc_db_pool_size = 4;
int es_guc_snapshot_cache_mb = 256;
char *es_guc_slot_name = nullptr;
char *es_guc_secret = nullptr;
char *es_guc_jwt_secret = nullptr;
int es_guc_long_poll_timeout_ms = 20000;
int es_guc_sse_timeout_ms = 60000;
int es_guc_chunk_bytes = 10 * 1024 * 1024;
int es_guc_max_age = 60;
int es_guc_stale_age = 300;
int es_guc_batch_changes = 10000;
int es_guc_poll_interval_ms = 1000;
bool es_guc_allow_shape_deletion = true;
char *es_guc_conninfo = nullptr;
int es_guc_max_shape_log_kb = 64 * 1024;
char *es_guc_secret_file = nullptr;
char *es_guc_jwt_secret_file = nullptr;
int es_guc_http_header_timeout_ms = 30000;
int es_guc_http_idle_timeout_ms = 60000;
int es_guc_http_max_connections = 10000;
int es_guc_read_auth = ES_READ_AUTH_SECRET;
char *es_guc_read_anon_role = nullptr;
char *es_guc_jwt_public_key_file = nullptr;
bool es_guc_read_allow_bypassrls = false;
int es_guc_device_token_ttl_s = 3600;
int es_guc_max_tracked_clients = 10000;

static const struct config_enum_entry kReadAuthOptions[] = {
    {"secret", ES_READ_AUTH_SECRET, false}, {"jwt", ES_READ_AUTH_JWT, false}, {"none", ES_READ_AUTH_NONE, false},
    {nullptr, 0, false}};

void es_define_gucs() {
    DefineCustomStringVariable("electric_sync.database", "Database the worker serves.", nullptr, &es_guc_database,
                               "postgres", PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
    DefineCustomStringVariable("electric_sync.listen_address", "Address the HTTP server binds.", nullptr,
                               &es_guc_listen_address, "127.0.0.1", PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("electric_sync.port", "HTTP port (0 = any free port, -1 = no HTTP).", nullptr, &es_guc_port,
                            3000, -1, 65535, PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("electric_sync.io_threads", "HTTP I/O threads (event loops).", nullptr, &es_guc_io_threads,
                            1, 1, 64, PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("electric_sync.db_pool_size",
                            "libpq connections used by HTTP requests (snapshots, write path).", nullptr,
                            &es_guc_db_pool_size, 4, 1, 64, PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
    DefineCustomStringVariable("electric_sync.slot_name", "Logical replication slot of the worker.", nullptr,
                               &es_guc_slot_name, "electric_sync", PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
    DefineCustomStringVariable("electric_sync.conninfo",
                               "Extra libpq connection options for the worker's own connections "
                               "(host, port, dbname and user are filled in).",
                               nullptr, &es_guc_conninfo, "", PGC_POSTMASTER, GUC_SUPERUSER_ONLY, nullptr, nullptr,
                               nullptr);
    DefineCustomEnumVariable("electric_sync.read_auth",
                             "Who may read shapes: secret (electric_sync.secret required; nothing is served "
                             "without one), jwt (bearer tokens; rows and columns as the token's role sees "
                             "them), none (anyone).",
                             nullptr, &es_guc_read_auth, ES_READ_AUTH_SECRET, kReadAuthOptions, PGC_SIGHUP, 0, nullptr,
                             nullptr, nullptr);
    DefineCustomStringVariable("electric_sync.read_anon_role",
                               "jwt mode: the role of readers without a token, and of tokens without a role "
                               "claim (empty: such requests get 401).",
                               nullptr, &es_guc_read_anon_role, "", PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomStringVariable("electric_sync.jwt_public_key_file",
                               "File holding the public key readers' RS256/ES256 tokens are verified with "
                               "(PEM, or a JWKS document; read at start and on reload).",
                               nullptr, &es_guc_jwt_public_key_file, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, nullptr,
                               nullptr, nullptr);
    DefineCustomBoolVariable("electric_sync.read_allow_bypassrls",
                             "Whether a token may name a role with BYPASSRLS (it then reads every row).", nullptr,
                             &es_guc_read_allow_bypassrls, false, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("electric_sync.device_token_ttl",
                            "Lifetime of a device token issued by POST /v1/enroll and /v1/enroll/refresh.", nullptr,
                            &es_guc_device_token_ttl_s, 3600, 60, 30 * 86400, PGC_SIGHUP, GUC_UNIT_S, nullptr, nullptr,
                            nullptr);
    DefineCustomIntVariable("electric_sync.max_tracked_clients",
                            "Clients remembered for electric_sync.clients (the least recently seen is dropped first).",
                            nullptr, &es_guc_max_tracked_clients, 10000, 1, 1000000, PGC_SIGHUP, 0, nullptr, nullptr,
                            nullptr);
    DefineCustomStringVariable("electric_sync.secret",
                               "Shared secret for /v1/shape (secret or api_secret parameter): required in "
                               "read_auth = secret, and reads unrestricted in every mode.",
                               nullptr, &es_guc_secret, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, nullptr, nullptr, nullptr);
    DefineCustomStringVariable("electric_sync.jwt_secret", "HS256 secret for the write path's bearer tokens.", nullptr,
                               &es_guc_jwt_secret, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, nullptr, nullptr, nullptr);
    // Postgres logs "parameter X changed to Y" (with the value) for every setting changed by a
    // reload: the *_file settings name a file holding the secret instead, read by the worker.
    DefineCustomStringVariable("electric_sync.secret_file",
                               "File holding the shared secret for /v1/shape, /v1/metrics and "
                               "DELETE (read at start and on reload; overrides electric_sync.secret).",
                               nullptr, &es_guc_secret_file, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, nullptr, nullptr,
                               nullptr);
    DefineCustomStringVariable("electric_sync.jwt_secret_file",
                               "File holding the write path's HS256 secret (read at start and on "
                               "reload; overrides electric_sync.jwt_secret).",
                               nullptr, &es_guc_jwt_secret_file, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, nullptr, nullptr,
                               nullptr);
    DefineCustomIntVariable("electric_sync.http_header_timeout",
                            "A request (head and body) must arrive within this of its first byte "
                            "(a new connection's first request: of the connection); else 408 and "
                            "close (0 = no limit).",
                            nullptr, &es_guc_http_header_timeout_ms, 30000, 0, 3600000, PGC_SIGHUP, GUC_UNIT_MS,
                            nullptr, nullptr, nullptr);
    DefineCustomIntVariable("electric_sync.http_idle_timeout",
                            "A keep-alive connection with no request in progress is closed after "
                            "this (0 = never). Long-polls and streams are not affected.",
                            nullptr, &es_guc_http_idle_timeout_ms, 60000, 0, 3600000, PGC_SIGHUP, GUC_UNIT_MS, nullptr,
                            nullptr, nullptr);
    DefineCustomIntVariable("electric_sync.http_max_connections",
                            "HTTP client connections held at once; more get 503 and are closed "
                            "(0 = as many as the worker's descriptor budget allows).",
                            "Never more than the open-files limit minus what Postgres itself may "
                            "use (max_files_per_process).",
                            &es_guc_http_max_connections, 10000, 0, 1000000, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("electric_sync.long_poll_timeout", "How long a live request is held.", nullptr,
                            &es_guc_long_poll_timeout_ms, 20000, 100, 40000, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr,
                            nullptr);
    DefineCustomIntVariable("electric_sync.sse_timeout", "How long an SSE stream stays open.", nullptr,
                            &es_guc_sse_timeout_ms, 60000, 1000, 3600000, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr,
                            nullptr);
    DefineCustomIntVariable("electric_sync.chunk_bytes", "Shape log chunk size threshold.", nullptr,
                            &es_guc_chunk_bytes, 10 * 1024 * 1024, 1024, INT_MAX, PGC_SIGHUP, GUC_UNIT_BYTE, nullptr,
                            nullptr, nullptr);
    DefineCustomIntVariable("electric_sync.max_age", "cache-control max-age of non-live responses.", nullptr,
                            &es_guc_max_age, 60, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_S, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("electric_sync.stale_age", "cache-control stale-while-revalidate of non-live responses.",
                            nullptr, &es_guc_stale_age, 300, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_S, nullptr, nullptr,
                            nullptr);
    DefineCustomIntVariable(
        "electric_sync.snapshot_cache_mb",
        "Memory for initial snapshot chunks held by the HTTP side, all shapes together.",
        "Least recently used snapshots beyond it are served from electric_sync.shape_snapshot_chunks.",
        &es_guc_snapshot_cache_mb, 256, 0, INT_MAX / 2, PGC_SIGHUP, GUC_UNIT_MB, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("electric_sync.batch_changes",
                            "Changes decoded per worker transaction (at least one whole "
                            "transaction).",
                            nullptr, &es_guc_batch_changes, 10000, 1, INT_MAX, PGC_SIGHUP, 0, nullptr, nullptr,
                            nullptr);
    DefineCustomIntVariable(
        "electric_sync.poll_interval", "How often the worker looks for changes when not woken by a commit.", nullptr,
        &es_guc_poll_interval_ms, 1000, 10, 60000, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr, nullptr);
    DefineCustomBoolVariable("electric_sync.allow_shape_deletion", "Whether DELETE /v1/shape is allowed.", nullptr,
                             &es_guc_allow_shape_deletion, true, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("electric_sync.max_shape_log_size",
                            "A shape whose live log grows past this is rotated: its clients get "
                            "409 must-refetch and re-sync from a fresh snapshot (0 = never).",
                            nullptr, &es_guc_max_shape_log_kb, 64 * 1024, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_KB, nullptr,
                            nullptr, nullptr);
}
