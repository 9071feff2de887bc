#include "serve/service.hpp"
#include "oversync/routes.hpp"
#include "oversync/watch.hpp"
#include "pool/pq.hpp"
#include "serve/shape_routes.hpp"
#include "core/electric/electric.hpp"

#include <libpq-fe.h>

namespace es::svc {

static const char *kSessionSql =
    "SET DateStyle = 'ISO, DMY'; SET TimeZone = 'UTC'; SET IntervalStyle = 'iso_8601'; "
    "SET extra_float_digits = 1; SET bytea_output = 'hex'; SET statement_timeout = 0";

Service::Service(ServiceOptions opts, ServiceConfig cfg) : opts_(std::move(opts)), cfg_(std::move(cfg)) {
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
        schedule_stats();
        schedule_probe();
    }
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
    if (watch_) watch_->stop();
    if (pool_) pool_->stop();
}

void Service::set_config(ServiceConfig cfg) {
    if (server_) server_->set_limits(cfg.http_header_timeout_ms, cfg.http_idle_timeout_ms, cfg.http_max_connections);
    std::lock_guard<std::mutex> g(cfg_mu_);
    cfg_ = std::move(cfg);
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

void add_common_headers(const http::Request &req, http::Response &r) {
    const std::string *origin = req.header("origin");
    r.set("access-control-allow-origin", origin ? *origin : "*");
    r.set("access-control-expose-headers",
          "electric-cursor,electric-handle,electric-has-data,electric-offset,electric-schema,"
          "electric-up-to-date,electric-internal-known-error,retry-after");
    r.set("electric-server", "electric_sync/" ES_EXT_VERSION);
}

void Service::handle(http::ExchangePtr ex) {
    const http::Request &req = ex->request();
    if (req.path == "/v1/health") {
        // degraded: the worker runs but every pool-backed route (snapshots, metrics, the write
        // path) would answer 503. 503 too, so that load balancers and orchestrators route around
        // it; the reason is in the body.
        http::Response r = !active_ ? http::json_response(202, "{\"status\":\"starting\"}")
            : pool_degraded_        ? http::json_response(503,
                                                          "{\"status\":\"degraded\",\"reason\":\"the database "
                                                                 "connection pool cannot reach the database (see "
                                                                 "electric_sync.conninfo and the server log)\"}")
                                    : http::json_response(200, "{\"status\":\"active\"}");
        if (r.status == 503) r.set("retry-after", "5");
        r.set("cache-control", "no-cache, no-store, must-revalidate");
        add_common_headers(req, r);
        ex->respond(std::move(r));
        return;
    }
    if (req.path == "/v1/shape") {
        if (!active_ && req.method != "OPTIONS") {
            http::Response r = http::json_response(503, "{\"message\":\"Stack not ready\"}");
            r.set("retry-after", "5");
            r.set("cache-control", "no-store");
            add_common_headers(req, r);
            ex->respond(std::move(r));
            return;
        }
        shapes_->handle(std::move(ex));
        return;
    }
    if (req.path == "/v1/metrics") {
        if (reject_without_secret(ex)) return;
        // Worker progress and lag (from electric_sync.worker_status) plus the HTTP side's counts.
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
        return;
    }
    if (oversync::handles(req)) {
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
        pool_->submit([ex, oc](PGconn *conn) {
            http::Response r = oversync::handle(ex->request(), conn, oc);
            add_common_headers(ex->request(), r);
            ex->respond(std::move(r));
        });
        return;
    }
    http::Response r = http::json_response(404, "{\"message\":\"Not found\"}");
    r.set("cache-control", "no-store");
    add_common_headers(req, r);
    ex->respond(std::move(r));
}

}  // namespace es::svc
