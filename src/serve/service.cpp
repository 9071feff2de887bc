#include "serve/service.hpp"
#include "oversync/routes.hpp"
#include "oversync/watch.hpp"
#include "pool/pq.hpp"
#include "serve/enroll_routes.hpp"
#include "serve/reader_routes.hpp"
#include "serve/shape_routes.hpp"
#include "synckit/endpoint.hpp"
#include "core/electric/electric.hpp"

#include <libpq-fe.h>

#include <chrono>

namespace es::svc {

// How often the authorized shapes' roles are compared with the catalogs (docs/authorization.md).
static constexpr int kRoleCheckIntervalMs = 2000;

static const char *kSessionSql =
    "SET DateStyle = 'ISO, DMY'; SET TimeZone = 'UTC'; SET IntervalStyle = 'iso_8601'; "
    "SET extra_float_digits = 1; SET bytea_output = 'hex'; SET statement_timeout = 0";

Service::Service(ServiceOptions opts, ServiceConfig cfg) : opts_(std::move(opts)), cfg_(std::move(cfg)) {
    clients_.set_max_clients(static_cast<size_t>(std::max(cfg_.max_tracked_clients, 1)));
    pool_ = std::make_unique<DbPool>(opts_.conninfo, opts_.pool_size, kSessionSql);
    shapes_ = std::make_unique<ShapeRoutes>(*this, hub_);
    watch_ = std::make_unique<oversync::WatchHub>(opts_.conninfo, 25000);
}

Service::~Service() { stop(); }

void Service::start() {
    pool_->start();
    watch_->start();
    if (opts_.port >= 0) {
        http::ServerOptions so;
        so.address = opts_.listen_address;
        so.port = opts_.port;
        so.threads = opts_.io_threads;
        {
            ServiceConfig c = config();
            so.header_timeout_ms = c.http_header_timeout_ms;
            so.idle_timeout_ms = c.http_idle_timeout_ms;
            so.max_connections = c.http_max_connections;
        }
        so.fd_budget = opts_.http_fd_budget;
        server_ = std::make_unique<http::Server>(so, [this](http::ExchangePtr ex) { handle(std::move(ex)); });
        server_->start();
        synckit_ = std::make_unique<synckit::Endpoint>(*pool_, *server_, opts_.conninfo);
        {
            ServiceConfig c = config();
            synckit_->set_config(c.synckit, c.read_keys);
        }
        synckit_->start();
        schedule_stats();
        schedule_clients();
        schedule_probe();
        schedule_role_check();
    }
}

void Service::schedule_role_check() {
    role_check_timer_ = server_->after(kRoleCheckIntervalMs, [this] {
        // Not while the extension is missing (created, dropped or being upgraded): the function
        // would not exist, and each failed call is an ERROR in the server log.
        if (active_ && !role_check_inflight_.exchange(true)) {
            pool_->submit([this](PGconn *conn) {
                if (conn) {
                    try {
                        pq_exec(conn, "SELECT electric_sync._check_reader_roles()", {});
                    } catch (const std::exception &) {
                        // best effort: the next round tries again
                    }
                }
                role_check_inflight_ = false;
            });
        }
        schedule_role_check();
    });
}

void Service::schedule_probe() {
    // Every second; every 3 s while degraded (each failed attempt logs a line).
    probe_timer_ = server_->after(pool_degraded_ ? 3000 : 1000, [this] {
        if (!probe_inflight_.exchange(true)) {
            pool_->submit([this](PGconn *conn) {
                bool ok = false;
                if (conn) {
                    PGresult *r = PQexec(conn, "SELECT 1");
                    ok = PQresultStatus(r) == PGRES_TUPLES_OK;
                    PQclear(r);
                }
                if (ok) {
                    probe_failures_ = 0;
                    pool_degraded_ = false;
                } else if (!conn || ++probe_failures_ >= 2) {
                    // A broken connection is replaced by the next job: one failed query is not
                    // yet a verdict; a failed connection attempt is.
                    pool_degraded_ = true;
                }
                probe_inflight_ = false;
            });
        }
        schedule_probe();
    });
}

void Service::schedule_stats() {
    stats_timer_ = server_->after(5000, [this] {
        hub_.trim_snapshots(config().snapshot_cache_bytes);
        std::string js = "[";
        for (auto &s : hub_.all()) {
            size_t entries, bytes, waiting;
            std::string last;
            bool gone;
            {
                std::lock_guard<std::mutex> g(s->mutex());
                gone = s->status() == Shape::Status::Gone;
                entries = s->log().size();
                last = s->log_end().to_string();
            }
            if (gone) continue;
            bytes = s->log_bytes();
            waiting = s->waiting();
            if (js.size() > 1) js += ',';
            js += "{\"id\":" + std::to_string(s->info().id) + ",\"entries\":" + std::to_string(entries) +
                ",\"bytes\":" + std::to_string(bytes) + ",\"last\":\"" + last +
                "\",\"waiting\":" + std::to_string(waiting) + "}";
        }
        js += "]";
        if (js != last_stats_ && js != "[]") {
            last_stats_ = js;
            pool_->submit([js](PGconn *conn) {
                try {
                    pq_exec(conn,
                            "INSERT INTO electric_sync.shape_stats AS st (shape_id, row_count, log_entries, log_bytes, "
                            " last_offset, waiting_clients, updated_at) "
                            "SELECT j.id, r.snapshot_rows, j.entries, j.bytes, j.last, j.waiting, now() "
                            "FROM json_to_recordset($1::json) AS j(id bigint, entries bigint, bytes bigint, last text, "
                            "waiting int) "
                            "JOIN electric_sync.shapes s ON s.shape_id = j.id "
                            "LEFT JOIN electric_sync.shape_runtime r ON r.shape_id = j.id "
                            "ON CONFLICT (shape_id) DO UPDATE SET row_count = excluded.row_count, "
                            " log_entries = excluded.log_entries, log_bytes = excluded.log_bytes, "
                            " last_offset = excluded.last_offset, waiting_clients = excluded.waiting_clients, "
                            " updated_at = excluded.updated_at",
                            {js});
                } catch (const std::exception &) {
                    // statistics are best effort
                }
            });
        }
        schedule_stats();
    });
}

void Service::stop() {
    if (server_) server_->stop();
    if (synckit_) synckit_->stop();
    if (watch_) watch_->stop();
    if (pool_) pool_->stop();
}

void Service::schedule_clients() {
    clients_timer_ = server_->after(2000, [this] {
        auto ch = clients_.take_changes();
        if (synckit_) {
            auto sk = synckit_->take_client_changes();
            for (auto &c : sk.changed) ch.changed.push_back(std::move(c));
            for (auto &d : sk.dropped) ch.dropped.push_back(std::move(d));
        }
        if (!ch.changed.empty() || !ch.dropped.empty()) {
            nlohmann::json rows = nlohmann::json::array();
            for (const auto &c : ch.changed) {
                nlohmann::json shapes = nlohmann::json::array();
                for (const auto &s : c.shapes)
                    shapes.push_back({{"handle", s.handle},
                                      {"offset", s.offset},
                                      {"up_to_date", s.up_to_date},
                                      {"at", double(s.at_ms) / 1000.0}});
                auto opt = [](const std::string &v) { return v.empty() ? nlohmann::json() : nlohmann::json(v); };
                rows.push_back({{"client_id", c.client_id},
                                {"kind", c.kind},
                                {"role_name", opt(c.role)},
                                {"device_id", opt(c.device)},
                                {"subject", opt(c.subject)},
                                {"user_id", opt(c.user)},
                                {"source_id", opt(c.source)},
                                {"user_agent", opt(c.user_agent)},
                                {"first_seen", double(c.first_seen_ms) / 1000.0},
                                {"last_seen", double(c.last_seen_ms) / 1000.0},
                                {"requests", c.requests},
                                {"errors", c.errors},
                                {"last_status", c.last_status},
                                {"status", c.status},
                                {"shapes", shapes},
                                {"last_pull_after", c.last_pull_after >= 0 ? nlohmann::json(c.last_pull_after)
                                                                           : nlohmann::json()},
                                {"documents", c.kind == "synckit" ? nlohmann::json(c.documents) : nlohmann::json()}});
            }
            nlohmann::json dropped = ch.dropped;
            pool_->submit([rows = rows.dump(), dropped = dropped.dump()](PGconn *conn) {
                try {
                    pq_exec(conn,
                            "WITH d AS (DELETE FROM electric_sync.client_activity "
                            "  WHERE client_id IN (SELECT jsonb_array_elements_text($2::jsonb))) "
                            "INSERT INTO electric_sync.client_activity AS a (client_id, kind, role_name, device_id, "
                            " subject, user_id, source_id, user_agent, first_seen, last_seen, requests, errors, "
                            " last_status, status, shapes, last_pull_after, documents) "
                            "SELECT j.client_id, j.kind, j.role_name, "
                            " CASE WHEN j.device_id ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' "
                            "      THEN j.device_id::uuid END, "
                            " j.subject, j.user_id, j.source_id, j.user_agent, to_timestamp(j.first_seen), "
                            " to_timestamp(j.last_seen), j.requests, j.errors, j.last_status, j.status, j.shapes, "
                            " j.last_pull_after, j.documents "
                            "FROM jsonb_to_recordset($1::jsonb) AS j(client_id text, kind text, role_name text, "
                            " device_id text, subject text, user_id text, source_id text, user_agent text, "
                            " first_seen float8, last_seen float8, requests bigint, errors bigint, last_status int, "
                            " status text, shapes jsonb, last_pull_after bigint, documents jsonb) "
                            "ON CONFLICT (client_id) DO UPDATE SET kind = excluded.kind, role_name = excluded.role_name, "
                            " device_id = excluded.device_id, subject = excluded.subject, user_id = excluded.user_id, "
                            " source_id = excluded.source_id, user_agent = excluded.user_agent, "
                            " last_seen = excluded.last_seen, requests = excluded.requests, errors = excluded.errors, "
                            " last_status = excluded.last_status, status = excluded.status, shapes = excluded.shapes, "
                            " last_pull_after = coalesce(excluded.last_pull_after, a.last_pull_after), "
                            " documents = excluded.documents",
                            {rows, dropped});
                } catch (const std::exception &) {
                    // best effort, like the statistics
                }
            });
        }
        schedule_clients();
    });
}

void Service::set_config(ServiceConfig cfg) {
    clients_.set_max_clients(static_cast<size_t>(std::max(cfg.max_tracked_clients, 1)));
    if (server_) server_->set_limits(cfg.http_header_timeout_ms, cfg.http_idle_timeout_ms, cfg.http_max_connections);
    if (synckit_) synckit_->set_config(cfg.synckit, cfg.read_keys);
    std::lock_guard<std::mutex> g(cfg_mu_);
    cfg.devices = cfg_.devices;
    cfg_ = std::move(cfg);
}

void Service::set_devices(std::shared_ptr<const auth::DeviceState> d) {
    std::lock_guard<std::mutex> g(cfg_mu_);
    cfg_.devices = std::move(d);
}

bool Service::device_revoked(const std::string &device_id) const {
    std::lock_guard<std::mutex> g(cfg_mu_);
    return cfg_.devices && cfg_.devices->revoked.count(device_id) > 0;
}

bool Service::reject_without_secret(const http::ExchangePtr &ex) {
    const http::Request &req = ex->request();
    std::string secret = config().secret;
    if (secret.empty() || req.method == "OPTIONS") return false;
    electric::QueryParams q = electric::parse_query(req.query);
    const std::string *given = electric::find_param(q, "secret");
    if (!given) given = electric::find_param(q, "api_secret");
    if (given && electric::secret_equals(*given, secret)) return false;
    http::Response r = http::json_response(401, electric::unauthorized_body());
    r.set("cache-control", "no-store");
    add_common_headers(req, r);
    ex->respond(std::move(r));
    return true;
}

ServiceConfig Service::config() const {
    std::lock_guard<std::mutex> g(cfg_mu_);
    return cfg_;
}

void Service::note_oversync_client(const http::Request &rq, const http::Response &r, const std::string &user,
                                   const std::string &source) {
    const std::string *ua = rq.header("user-agent");
    bool push_staging = rq.path.rfind("/sync/push-sessions", 0) == 0 && rq.path.find("/commit") == std::string::npos &&
        rq.method == "POST";
    bool pull = rq.path == "/sync/pull";
    bool pending = push_staging || (pull && r.body.find("\"has_more\":true") != std::string::npos);
    int64_t after = -1;
    if (pull) {
        electric::QueryParams q = electric::parse_query(rq.query);
        const std::string *a = electric::find_param(q, "after_bundle_seq");
        after = 0;
        if (a && !a->empty() && a->size() < 19 && a->find_first_not_of("0123456789") == std::string::npos)
            after = std::stoll(*a);
    }
    clients_.note_oversync(user, source, ua ? *ua : "", r.status, pending, after, now_unix_ms());
}

int64_t now_unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

void add_common_headers(const http::Request &, http::Response &r) {
    for (auto &h : electric::cors_headers()) r.set(h.first, h.second);
    r.set("electric-server", "electric_sync/" ES_EXT_VERSION);
}

namespace {

// CORS preflights of every route are answered before any authentication: a browser sends them
// without the Authorization header it asks permission for. (/v1/shape answers its own, the same.)
void respond_preflight(const http::ExchangePtr &ex) {
    http::Response r;
    r.status = 204;
    for (auto &h : electric::preflight_headers(ex->request().header("access-control-request-headers")))
        r.set(h.first, h.second);
    r.set("electric-server", "electric_sync/" ES_EXT_VERSION);
    ex->respond(std::move(r));
}

// 503 while the worker is starting (before the first engine step).
void respond_not_ready(const http::ExchangePtr &ex) {
    http::Response r = http::json_response(503, "{\"message\":\"Stack not ready\"}");
    r.set("retry-after", "5");
    r.set("cache-control", "no-store");
    add_common_headers(ex->request(), r);
    ex->respond(std::move(r));
}

void respond_not_found(const http::ExchangePtr &ex) {
    http::Response r = http::json_response(404, "{\"message\":\"Not found\"}");
    r.set("cache-control", "no-store");
    add_common_headers(ex->request(), r);
    ex->respond(std::move(r));
}

}  // namespace

void Service::handle(http::ExchangePtr ex) {
    const http::Request &req = ex->request();
    // SyncKit's WebSocket (docs/synckit.md): its own authentication (a token in the URL or an
    // AUTH message), answered before the HTTP routes' checks.
    if (req.path == "/ws" && synckit_) {
        synckit_->handle(std::move(ex));
        return;
    }
    if (req.method == "OPTIONS" && req.path != "/v1/shape") {
        respond_preflight(ex);
        return;
    }
    if (req.path == "/v1/health") {
        respond_health(ex);
        return;
    }
    bool gated = req.path == "/v1/shape" || is_enroll_path(req.path);
    if (gated && !active_ && req.method != "OPTIONS") {
        respond_not_ready(ex);
        return;
    }
    if (req.path == "/v1/shape")
        shapes_->handle(std::move(ex));
    else if (req.path == "/v1/metrics") {
        if (!reject_without_secret(ex)) handle_metrics(std::move(ex));
    } else if (is_reader_path(req.path))
        handle_reader(std::move(ex), config());
    else if (is_enroll_path(req.path))
        handle_enroll(std::move(ex), *pool_, config());
    else if (oversync::handles(req))
        handle_oversync(std::move(ex));
    else
        respond_not_found(ex);
}

void Service::respond_health(const http::ExchangePtr &ex) {
    // degraded: the worker runs but every pool-backed route (snapshots, metrics, the write path)
    // would answer 503. 503 too, so that load balancers and orchestrators route around it; the
    // reason is in the body.
    http::Response r = !active_ ? http::json_response(202, "{\"status\":\"starting\"}")
        : pool_degraded_        ? http::json_response(503,
                                                      "{\"status\":\"degraded\",\"reason\":\"the database "
                                                             "connection pool cannot reach the database (see "
                                                             "electric_sync.conninfo and the server log)\"}")
                                : http::json_response(200, "{\"status\":\"active\"}");
    if (r.status == 503) r.set("retry-after", "5");
    r.set("cache-control", "no-cache, no-store, must-revalidate");
    add_common_headers(ex->request(), r);
    ex->respond(std::move(r));
}

// Worker progress and lag (from electric_sync.worker_status) plus the HTTP side's counts.
void Service::handle_metrics(http::ExchangePtr ex) {
    size_t shapes = 0, waiting = 0, log_bytes = 0, snapshot_bytes = 0;
    for (auto &s : hub_.all()) {
        shapes++;
        waiting += s->waiting();
        log_bytes += s->log_bytes();
        std::lock_guard<std::mutex> g(s->mutex());
        snapshot_bytes += s->snapshot_bytes();
    }
    std::string extra = "\"http\":{\"connections\":" + std::to_string(server_ ? server_->connections() : 0) +
        ",\"shapes_in_memory\":" + std::to_string(shapes) + ",\"waiting_requests\":" + std::to_string(waiting) +
        ",\"log_bytes_in_memory\":" + std::to_string(log_bytes) +
        ",\"snapshot_bytes_in_memory\":" + std::to_string(snapshot_bytes) +
        ",\"db_jobs_queued\":" + std::to_string(pool_->queued()) +
        ",\"max_connections\":" + std::to_string(server_ ? server_->max_connections() : 0) +
        ",\"header_timeout_ms\":" + std::to_string(config().http_header_timeout_ms) +
        ",\"idle_timeout_ms\":" + std::to_string(config().http_idle_timeout_ms) +
        ",\"rejected_connections\":" + std::to_string(server_ ? server_->rejected() : 0) +
        ",\"db_pool_degraded\":" + (pool_degraded_ ? "true" : "false") + "}";
    clients::Counts cc = clients_.counts();
    extra += ",\"clients\":{\"readers\":" + std::to_string(cc.readers) + ",\"oversync_sources\":" +
        std::to_string(cc.oversync) + ",\"idle\":" + std::to_string(cc.idle) + ",\"syncing\":" +
        std::to_string(cc.syncing) + ",\"error\":" + std::to_string(cc.error) +
        ",\"synckit_connections\":" + std::to_string(synckit_ ? synckit_->stats().connections : 0) + "}";
    if (synckit_) extra += ",\"synckit\":" + synckit_->metrics_json();
    pool_->submit([ex, extra](PGconn *conn) {
        http::Response r;
        try {
            auto q = pq_exec(
                conn,
                "SELECT json_build_object('status', (SELECT row_to_json(w) FROM electric_sync.worker_status w), "
                "'shapes', (SELECT json_object_agg(status, n) FROM (SELECT status, count(*) AS n "
                "  FROM electric_sync.shapes GROUP BY status) c))::text");
            std::string body = q.str(0, 0);
            body.pop_back();  // closing brace
            body += "," + extra + "}";
            r = http::json_response(200, std::move(body));
        } catch (const std::exception &e) {
            r = http::json_response(503, "{\"message\":\"metrics unavailable\"}");
            r.set("retry-after", "5");
        }
        r.set("cache-control", "no-store");
        add_common_headers(ex->request(), r);
        ex->respond(std::move(r));
    });
}

void Service::handle_oversync(http::ExchangePtr ex) {
    const http::Request &req = ex->request();
    // The write path: all of it runs in SQL over this pool's libpq connections.
    oversync::Config oc;
    oc.jwt_secret = config().jwt_secret;
    oc.watch_enabled = true;
    if (req.path == "/sync/watch" && req.method == "GET") {
        pool_->submit([this, ex, oc](PGconn *conn) {
            oversync::WatchStart w = oversync::watch_prepare(ex->request(), conn, oc);
            add_common_headers(ex->request(), w.response);
            if (!w.ok) {
                ex->respond(std::move(w.response));
                return;
            }
            if (!ex->begin_stream(std::move(w.response))) return;
            uint64_t id =
                watch_->subscribe(w.user, w.after, [ex](const std::string &chunk) { return ex->send(chunk); });
            oversync::WatchHub *hub = watch_.get();
            ex->on_close([hub, id] { hub->unsubscribe(id); });
            if (ex->closed()) hub->unsubscribe(id);
        });
        return;
    }
    pool_->submit([this, ex, oc](PGconn *conn) {
        oversync::Caller who;
        const http::Request &rq = ex->request();
        http::Response r = oversync::handle(rq, conn, oc, &who);
        if (!who.user.empty()) note_oversync_client(rq, r, who.user, who.source);
        add_common_headers(rq, r);
        ex->respond(std::move(r));
    });
}

}  // namespace es::svc
