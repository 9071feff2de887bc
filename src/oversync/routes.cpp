#include "oversync/routes.hpp"

#include "core/auth/jwt.hpp"
#include "core/oversync/errors.hpp"
#include "core/oversync/request.hpp"
#include "pool/pq.hpp"

#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <vector>

namespace es::oversync {

using es::http::Request;
using es::http::Response;
using nlohmann::json;
using Params = std::vector<std::optional<std::string>>;

namespace {

std::atomic<int> g_inflight{0};

struct InflightGuard {
    InflightGuard() { g_inflight.fetch_add(1); }
    ~InflightGuard() { g_inflight.fetch_sub(1); }
};

Response json_reply(int status, std::string body) {
    if (body.empty() || body.back() != '\n') body += '\n';
    Response r = es::http::json_response(status, std::move(body));
    r.set("cache-control", "no-store");
    return r;
}

Response error_reply(int status, const std::string &code, const std::string &msg, const json &extra = nullptr) {
    Response r = es::http::json_response(status, error_body(code, msg, extra));
    r.set("cache-control", "no-store");
    return r;
}

Response no_content() {
    Response r;
    r.status = 204;
    r.set("cache-control", "no-store");
    return r;
}

bool is_retryable(const std::string &state) { return state == "40001" || state == "40P01" || state == "55P03"; }

// Runs `SELECT fn(params)` in its own transaction (optionally REPEATABLE READ), retrying
// serialization failures and deadlocks. Returns the single text result (nullopt for NULL).
// Maps a contract error raised by os_raise to ApiError; others to ApiError(500/400 route code).
std::optional<std::string> call(PGconn *conn, const std::string &sql, const Params &params, bool repeatable_read,
                                const std::string &failed_code, const std::string &invalid_code, int attempts) {
    for (int attempt = 1;; attempt++) {
        try {
            if (repeatable_read) es::svc::pq_command(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ");
            auto r = es::svc::pq_exec(conn, sql, params);
            if (repeatable_read) es::svc::pq_command(conn, "COMMIT");
            if (r.rows() < 1) return std::nullopt;
            return r.opt(0, 0);
        } catch (const es::svc::PqError &e) {
            if (repeatable_read && conn && PQtransactionStatus(conn) != PQTRANS_IDLE) {
                try {
                    es::svc::pq_command(conn, "ROLLBACK");
                } catch (...) {}
            }
            const std::string &st = e.sqlstate;
            if (st == kContractSqlstate) {
                int status = contract_status(e.detail);
                json extra;
                if (!e.hint.empty()) {
                    try {
                        extra = json::parse(e.hint);
                    } catch (...) {}
                }
                if (status == 0) throw ApiError(500, failed_code, e.what());  // a code this table lacks
                throw ApiError(status, e.detail, e.what(), extra);
            }
            if (is_retryable(st) && attempt < attempts) continue;
            if (st.rfind("08", 0) == 0 || st == "57P01" || st == "57P03")
                throw ApiError(503, "service_unavailable", "database unavailable");
            // Bad data reaching the database (types, constraints, FKs): the request's fault.
            if (!invalid_code.empty() &&
                (st.rfind("22", 0) == 0 || st.rfind("23", 0) == 0 || st == "42703" || st == "428C9" || st == "42804" ||
                 st == "55000"))
                throw ApiError(400, invalid_code, e.what());
            throw ApiError(500, failed_code, e.what());
        }
    }
}

int clamp_rows(const std::map<std::string, std::string> &q, const char *name, int dflt, int max,
               const std::string &code) {
    auto it = q.find(name);
    if (it == q.end() || it->second.empty()) return dflt;
    auto v = parse_int64(it->second);
    if (!v || *v <= 0) throw ApiError(400, code, std::string(name) + " must be a positive integer");
    return *v > max ? max : int(*v);
}

std::optional<int64_t> opt_nonneg(const std::map<std::string, std::string> &q, const char *name,
                                  const std::string &code) {
    auto it = q.find(name);
    if (it == q.end() || it->second.empty()) return std::nullopt;
    auto v = parse_int64(it->second);
    if (!v || *v < 0) throw ApiError(400, code, std::string(name) + " must be a non-negative integer");
    return v;
}

json features(const Config &cfg) {
    json f = json::object();
    for (const char *n :
         {"bundle_pull", "bundle_push", "push_session_chunking", "committed_bundle_row_fetch", "snapshot_chunking",
          "status_endpoint", "graceful_shutdown", "capabilities_endpoint", "history_pruned_errors",
          "structured_sync_keys", "registered_write_rejection_enforced", "accepted_push_replay_visibility",
          "committed_bundle_visibility", "retained_floor_visibility", "retained_window_visibility",
          "history_pruned_visibility", "connect_lifecycle", "scope_initialization_leases"})
        f[n] = true;
    // Plain SQL writes are captured as bundles instead of being rejected (docs/oversync.md).
    f["registered_write_rejection_enforced"] = false;
    f["server_checkpoint_tracking"] = false;
    f["bundle_change_watch"] = cfg.watch_enabled;
    return f;
}

// db: electric_sync.os_api_limits() (the oversync_* settings); Config adds the rest.
json bundle_limits(const Config &c, json db) {
    if (!db.is_object()) db = json::object();
    db["max_bytes_per_bundle"] = c.max_bytes_per_bundle;
    db["default_rows_per_committed_bundle_chunk"] = c.default_rows_per_committed_bundle_chunk;
    db["max_rows_per_committed_bundle_chunk"] = c.max_rows_per_committed_bundle_chunk;
    db["max_rows_per_snapshot_session"] = c.max_rows_per_snapshot_session;
    db["max_bytes_per_snapshot_session"] = c.max_bytes_per_snapshot_session;
    if (c.push_session_ttl_seconds > 0) db["push_session_ttl_seconds"] = c.push_session_ttl_seconds;
    if (c.snapshot_session_ttl_seconds > 0) db["snapshot_session_ttl_seconds"] = c.snapshot_session_ttl_seconds;
    if (c.initialization_lease_ttl_seconds > 0)
        db["initialization_lease_ttl_seconds"] = c.initialization_lease_ttl_seconds;
    return db;
}

// A TTL override for the SQL functions: NULL = the database's setting.
std::optional<std::string> ttl_param(int seconds) {
    if (seconds <= 0) return std::nullopt;
    return std::to_string(seconds);
}

// An int parameter for SQL from an int64 the client sent: out-of-range values are pinned to the
// int range (the SQL check against the setting then refuses them).
std::string int_param(int64_t v) {
    if (v > INT32_MAX) v = INT32_MAX;
    if (v < INT32_MIN) v = INT32_MIN;
    return std::to_string(v);
}

// Splits "/sync/a/b/c" into {"a","b","c"}.
std::vector<std::string> segments(const std::string &path, size_t prefix_len) {
    std::vector<std::string> out;
    size_t i = prefix_len;
    while (i <= path.size()) {
        size_t j = path.find('/', i);
        if (j == std::string::npos) j = path.size();
        out.push_back(path.substr(i, j - i));
        i = j + 1;
    }
    while (!out.empty() && out.back().empty()) out.pop_back();
    return out;
}

void require_method(const Request &req, const char *m) {
    if (req.method != m) throw ApiError(405, "method_not_allowed", "method " + req.method + " not allowed");
}

Response status_route(const Request &req, PGconn *conn, const Config &cfg, bool health) {
    if (req.method != "GET" && req.method != "HEAD") throw ApiError(405, "method_not_allowed", "method not allowed");
    const std::string code = health ? "health_failed" : "status_failed";
    json db = json::parse(call(conn, "SELECT electric_sync.os_api_status()", {}, false, code, "", 1).value_or("{}"));
    bool healthy = !cfg.draining && db.value("user_state_retention_floor_ahead_count", 0) == 0;
    nlohmann::ordered_json s;
    s["status"] = healthy ? "healthy" : "unhealthy";
    s["version"] = "v1";
    s["app_name"] = cfg.app_name;
    s["lifecycle"] = cfg.draining ? "shutting_down" : "running";
    s["accepting_operations"] = !cfg.draining;
    s["inflight_operations"] = g_inflight.load();
    s["registered_tables"] = db["registered_tables"];
    s["features"] = features(cfg);
    for (auto it = db.begin(); it != db.end(); ++it)
        if (it.key() != "registered_tables") s[it.key()] = it.value();
    return json_reply(health && !healthy ? 503 : 200, s.dump());
}

// The request as the routes see it.
struct RouteCtx {
    const Request &req;
    PGconn *conn;
    const Config &cfg;
    const std::string &user, &source;
    std::vector<std::string> seg;  // path segments after "/sync/"
    std::map<std::string, std::string> q;
    int att;
    std::optional<std::string> lease, push_ttl;
};

// Push sessions: create, stage chunks, commit, delete.
std::optional<Response> push_routes(const RouteCtx &c) {
    if (c.seg.size() == 1 && c.seg[0] == "push-sessions") {
        require_method(c.req, "POST");
        auto r = parse_push_create(c.req.body);
        return json_reply(
            200,
            *call(c.conn, "SELECT electric_sync.os_api_push_create($1, $2, $3::bigint, $4::int, $5, $6::int, $7::int)",
                  {c.user, c.source, std::to_string(r.source_bundle_id), std::to_string(r.planned_row_count),
                   r.initialization_id, c.push_ttl, c.lease},
                  false, "push_session_create_failed", "push_session_invalid", c.att));
    }
    if (c.seg.size() == 2 && c.seg[0] == "push-sessions") {
        require_method(c.req, "DELETE");
        call(c.conn, "SELECT electric_sync.os_api_push_delete($1, $2)", {c.user, c.seg[1]}, false,
             "push_session_delete_failed", "push_chunk_invalid", c.att);
        return no_content();
    }
    if (c.seg.size() == 3 && c.seg[0] == "push-sessions" && c.seg[2] == "chunks") {
        require_method(c.req, "POST");
        auto r = parse_push_chunk(c.req.body, kMaxPushChunkRowsCeiling);  // the setting: in SQL
        return json_reply(
            200,
            *call(c.conn, "SELECT electric_sync.os_api_push_chunk($1, $2, $3, $4::int, $5::jsonb, $6::int, $7::int)",
                  {c.user, c.source, c.seg[1], std::to_string(r.start_row_ordinal), r.rows.dump(), c.push_ttl, c.lease},
                  false, "push_chunk_failed", "push_chunk_invalid", c.att));
    }
    if (c.seg.size() == 3 && c.seg[0] == "push-sessions" && c.seg[2] == "commit") {
        require_method(c.req, "POST");
        return json_reply(200,
                          *call(c.conn, "SELECT electric_sync.os_api_push_commit($1, $2, $3, $4::int)",
                                {c.user, c.source, c.seg[1], c.lease}, false, "push_session_commit_failed",
                                "push_commit_invalid", c.att));
    }
    return std::nullopt;
}

// Reading: committed-bundle rows, pull, snapshot sessions.
std::optional<Response> read_routes(const RouteCtx &c) {
    if (c.seg.size() == 3 && c.seg[0] == "committed-bundles" && c.seg[2] == "rows") {
        require_method(c.req, "GET");
        auto seq = parse_int64(c.seg[1]);
        if (!seq || *seq <= 0)
            throw ApiError(400, "committed_bundle_chunk_invalid", "bundle_seq must be a positive integer");
        auto after = opt_nonneg(c.q, "after_row_ordinal", "committed_bundle_chunk_invalid");
        int max = clamp_rows(c.q, "max_rows", c.cfg.default_rows_per_committed_bundle_chunk,
                             c.cfg.max_rows_per_committed_bundle_chunk, "committed_bundle_chunk_invalid");
        Params p{c.user, std::to_string(*seq), std::nullopt, std::to_string(max)};
        if (after) p[2] = std::to_string(*after);
        return json_reply(
            200,
            *call(c.conn, "SELECT electric_sync.os_api_committed_rows($1, $2::bigint, $3::bigint, $4::int)", p, true,
                  "committed_bundle_rows_failed", "", c.att));
    }
    if (c.seg.size() == 1 && c.seg[0] == "pull") {
        require_method(c.req, "GET");
        auto after = opt_nonneg(c.q, "after_bundle_seq", "invalid_request").value_or(0);
        auto target = opt_nonneg(c.q, "target_bundle_seq", "invalid_request").value_or(0);
        // max_bundles: absent = NULL (SQL picks the default); its range is the
        // electric_sync.oversync_max_bundles_per_pull setting, checked in SQL.
        std::optional<std::string> max;
        if (auto it = c.q.find("max_bundles"); it != c.q.end() && !it->second.empty()) {
            auto v = parse_int64(it->second);
            if (!v) throw ApiError(400, "invalid_request", "max_bundles must be an integer");
            max = int_param(*v);
        }
        return json_reply(
            200,
            *call(c.conn, "SELECT electric_sync.os_api_pull($1, $2::bigint, $3::int, $4::bigint)",
                  {c.user, std::to_string(after), max, std::to_string(target)}, true, "pull_failed", "", c.att));
    }
    if (c.seg.size() == 1 && c.seg[0] == "snapshot-sessions") {
        require_method(c.req, "POST");
        auto r = parse_snapshot_create(c.req.body, c.source);
        std::optional<std::string> repl;
        if (!r.source_replacement.is_null()) repl = r.source_replacement.dump();
        return json_reply(
            200,
            *call(c.conn,
                  "SELECT electric_sync.os_api_snapshot_create($1, $2, $3::jsonb, $4::int, $5::bigint, $6::bigint)",
                  {c.user, c.source, repl, ttl_param(c.cfg.snapshot_session_ttl_seconds),
                   std::to_string(c.cfg.max_rows_per_snapshot_session),
                   std::to_string(c.cfg.max_bytes_per_snapshot_session)},
                  true, "snapshot_session_create_failed", "", c.att));
    }
    if (c.seg.size() == 2 && c.seg[0] == "snapshot-sessions") {
        if (c.req.method == "DELETE") {
            call(c.conn, "SELECT electric_sync.os_api_snapshot_delete($1, $2)", {c.user, c.seg[1]}, false,
                 "snapshot_session_delete_failed", "", c.att);
            return no_content();
        }
        require_method(c.req, "GET");
        auto after = opt_nonneg(c.q, "after_row_ordinal", "snapshot_chunk_invalid").value_or(0);
        // max_rows: absent = NULL; lowered to electric_sync.oversync_max_rows_per_snapshot_chunk in SQL.
        std::optional<std::string> max;
        if (c.q.count("max_rows") && !c.q.at("max_rows").empty())
            max = std::to_string(clamp_rows(c.q, "max_rows", 1, INT32_MAX, "snapshot_chunk_invalid"));
        return json_reply(
            200,
            *call(c.conn, "SELECT electric_sync.os_api_snapshot_chunk($1, $2, $3::bigint, $4::int)",
                  {c.user, c.seg[1], std::to_string(after), max}, true, "snapshot_chunk_failed", "", c.att));
    }
    return std::nullopt;
}

Response sync_route(const Request &req, PGconn *conn, const Config &cfg, const std::string &user,
                    const std::string &source) {
    auto seg = segments(req.path, 6);  // after "/sync/"
    auto q = parse_query(req.query);
    const int att = cfg.max_attempts;
    const std::optional<std::string> lease = ttl_param(cfg.initialization_lease_ttl_seconds);
    const std::optional<std::string> push_ttl = ttl_param(cfg.push_session_ttl_seconds);
    if (seg.size() == 1 && seg[0] == "connect") {
        require_method(req, "POST");
        auto r = parse_connect(req.body);
        return json_reply(200,
                          *call(conn, "SELECT electric_sync.os_api_connect($1, $2, $3::boolean, $4::int)",
                                {user, source, r.has_local_pending_rows ? "true" : "false", lease}, false,
                                "connect_failed", "connect_invalid", att));
    }
    if (seg.size() == 1 && seg[0] == "capabilities") {
        require_method(req, "GET");
        json reg =
            json::parse(call(conn, "SELECT electric_sync.os_api_registered()", {}, false, "capabilities_failed", "", 1)
                            .value_or("{}"));
        nlohmann::ordered_json c;
        c["protocol_version"] = "v1";
        c["schema_version"] = cfg.schema_version;
        c["app_name"] = cfg.app_name;
        c["registered_tables"] = reg["registered_tables"];
        c["registered_table_specs"] = reg["registered_table_specs"];
        c["features"] = features(cfg);
        c["bundle_limits"] = bundle_limits(cfg, reg["bundle_limits"]);
        return json_reply(200, c.dump());
    }
    RouteCtx c{req, conn, cfg, user, source, seg, q, att, lease, push_ttl};
    if (auto r = push_routes(c)) return *r;
    if (auto r = read_routes(c)) return *r;
    if (seg.size() == 1 && seg[0] == "watch") {
        require_method(req, "GET");
        if (!cfg.watch_enabled)
            throw ApiError(503, "bundle_change_watch_disabled", "bundle change watch is not enabled on this server");
        // Streaming: the host serves it with watch_prepare + WatchHub (oversync/watch.hpp).
        throw ApiError(500, "bundle_change_watch_failed", "the watch stream is served by the streaming path");
    }
    throw ApiError(404, "not_found", "no route for " + req.path);
}

}  // namespace

bool handles(const Request &req) { return req.path.rfind("/sync/", 0) == 0 || req.path.rfind("/syncx/", 0) == 0; }

bool authenticate(const Request &req, const Config &cfg, std::string &user, std::string &source, Response &error) {
    const std::string *auth = req.header("authorization");
    std::string token = auth ? es::jwt::bearer_token(*auth) : std::string();
    if (token.empty()) {
        error = error_reply(401, "authentication_failed", "missing bearer token");
        error.set("www-authenticate", "Bearer");
        return false;
    }
    auto now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    auto claims = es::jwt::verify_hs256(token, cfg.jwt_secret, now, cfg.jwt_leeway_seconds);
    if (!claims.ok) {
        error = error_reply(401, "authentication_failed", claims.error);
        error.set("www-authenticate", "Bearer error=\"invalid_token\"");
        return false;
    }
    const std::string *src = req.header("oversync-source-id");
    std::string s = src ? trim(*src) : std::string();
    if (s.empty()) {
        error = error_reply(400, "invalid_request", "Oversync-Source-ID header is required");
        return false;
    }
    if (s.size() > 512) {
        error = error_reply(400, "invalid_request", "Oversync-Source-ID header is too long");
        return false;
    }
    user = claims.subject;
    source = s;
    return true;
}

Response handle(const Request &req, PGconn *conn, const Config &cfg, Caller *caller) {
    InflightGuard g;
    try {
        bool syncx = req.path.rfind("/syncx/", 0) == 0;
        if (req.body.size() > cfg.max_body_bytes) return error_reply(413, "invalid_request", "request body too large");
        if (syncx) {
            if (req.path == "/syncx/health" || req.path == "/syncx/status") {
                if (!conn) {
                    if (req.path == "/syncx/health") return error_reply(503, "health_failed", "database unavailable");
                    return error_reply(503, "service_unavailable", "database unavailable");
                }
                return status_route(req, conn, cfg, req.path == "/syncx/health");
            }
            return error_reply(404, "not_found", "no route for " + req.path);
        }
        std::string user, source;
        Response err;
        if (!authenticate(req, cfg, user, source, err)) return err;
        if (caller) *caller = Caller{user, source};
        if (cfg.draining) return error_reply(503, "service_unavailable", "server is shutting down");
        if (!conn) return error_reply(503, "service_unavailable", "database unavailable");
        return sync_route(req, conn, cfg, user, source);
    } catch (const ApiError &e) {
        return error_reply(e.status, e.code, e.what(), e.extra);
    } catch (const std::exception &e) {
        return error_reply(500, "internal_error", e.what());
    } catch (...) {
        return error_reply(500, "internal_error", "unknown error");
    }
}

}  // namespace es::oversync
