#include "core/cpp_only.hpp"
#include "svc/service.hpp"
#include "svc/shape_routes.hpp"

namespace es::svc {

static const char *kSessionSql =
    "SET DateStyle = 'ISO, DMY'; SET TimeZone = 'UTC'; SET IntervalStyle = 'iso_8601'; "
    "SET extra_float_digits = 1; SET bytea_output = 'hex'; SET statement_timeout = 0";

Service::Service(ServiceOptions opts, ServiceConfig cfg) : opts_(std::move(opts)), cfg_(std::move(cfg)) {
    pool_ = std::make_unique<DbPool>(opts_.conninfo, opts_.pool_size, kSessionSql);
    shapes_ = std::make_unique<ShapeRoutes>(*this, hub_);
}

Service::~Service() { stop(); }

void Service::start() {
    pool_->start();
    if (opts_.port >= 0) {
        http::ServerOptions so;
        so.address = opts_.listen_address;
        so.port = opts_.port;
        so.threads = opts_.io_threads;
        server_ = std::make_unique<http::Server>(so, [this](http::ExchangePtr ex) { handle(std::move(ex)); });
        server_->start();
    }
}

void Service::stop() {
    if (server_) server_->stop();
    if (pool_) pool_->stop();
}

void Service::set_config(ServiceConfig cfg) {
    std::lock_guard<std::mutex> g(cfg_mu_);
    cfg_ = std::move(cfg);
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
    r.set("electric-server", "electric_sync/0.1.0");
}

void Service::handle(http::ExchangePtr ex) {
    const http::Request &req = ex->request();
    if (req.path == "/v1/health") {
        http::Response r = active_ ? http::json_response(200, "{\"status\":\"active\"}")
                                   : http::json_response(202, "{\"status\":\"starting\"}");
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
    http::Response r = http::json_response(404, "{\"message\":\"Not found\"}");
    r.set("cache-control", "no-store");
    add_common_headers(req, r);
    ex->respond(std::move(r));
}

}  // namespace es::svc
