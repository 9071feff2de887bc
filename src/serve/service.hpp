// The HTTP side of the worker: the server, the DB pool and request routing. Pure C++: it never
// calls Postgres internals; the worker's main thread talks to it through thread-safe methods.
#pragma once
#include "pool/db_pool.hpp"
#include "http/server.hpp"
#include "hub/shape_hub.hpp"
#include "core/auth/reader.hpp"
#include "core/common/clients.hpp"
#include "core/synckit/server.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

namespace es::svc {

class ShapeRoutes;
}  // namespace es::svc
namespace es::oversync {
class WatchHub;
}
namespace es::synckit {
class Endpoint;
}
namespace es::svc {

// Settings that may change at runtime (SIGHUP).
struct ServiceConfig {
    std::string secret;  // the administrator's secret (electric_sync.secret); empty = none
    std::string jwt_secret;  // HS256 secret of the write path's and (jwt mode) readers' tokens
    auth::ReadAuth read_auth = auth::ReadAuth::Secret;  // electric_sync.read_auth
    std::string read_anon_role;  // electric_sync.read_anon_role
    std::shared_ptr<const jwt::KeySet> read_keys;  // jwt_secret + electric_sync.jwt_public_key_file
    auth::ReaderConfig reader_config() const {
        auth::ReaderConfig r;
        r.mode = read_auth;
        r.secret = secret;
        r.anon_role = read_anon_role;
        r.keys = read_keys;
        r.leeway_s = auth::kReaderLeewaySeconds;
        r.devices = devices;
        return r;
    }
    // Device tokens: the key and the revoked devices (loaded from the database by the worker's
    // main thread, Service::set_devices; a reload of the settings keeps them).
    std::shared_ptr<const auth::DeviceState> devices;
    int device_token_ttl_s = 3600;  // electric_sync.device_token_ttl
    int max_tracked_clients = 10000;  // electric_sync.max_tracked_clients
    int long_poll_timeout_ms = 20000;
    int sse_timeout_ms = 60000;
    int chunk_bytes = 10 * 1024 * 1024;
    size_t snapshot_cache_bytes = 256u * 1024 * 1024;  // in-memory snapshot chunks, all shapes
    int max_age = 60;
    int stale_age = 300;
    bool allow_shape_deletion = true;
    // HTTP connection limits (http::ServerOptions); 0 = off.
    int http_header_timeout_ms = 30000;
    int http_idle_timeout_ms = 60000;
    int http_max_connections = 10000;
    synckit::Config synckit;  // electric_sync.synckit_* (GET /ws)
};

struct ServiceOptions {
    std::string listen_address = "127.0.0.1";
    int port = 3000;  // -1: no HTTP server
    int io_threads = 1;
    int pool_size = 4;
    std::string conninfo;  // libpq connection string to this server
    size_t http_fd_budget = 0;  // descriptors the HTTP server may use for clients; 0 = no limit
};

class Service {
public:
    Service(ServiceOptions opts, ServiceConfig cfg);
    ~Service();

    void start();
    void stop();

    void set_config(ServiceConfig cfg);
    ServiceConfig config() const;
    void set_devices(std::shared_ptr<const auth::DeviceState> d);
    bool device_revoked(const std::string &device_id) const;
    // The oversync source behind a /sync/ response, for electric_sync.clients.
    void note_oversync_client(const http::Request &rq, const http::Response &r, const std::string &user,
                              const std::string &source);

    // /v1/health: 202 {"status":"starting"} until set_active(true), then 200 {"status":"active"},
    // or 503 {"status":"degraded","reason":...} while the DB pool cannot reach the database.
    void set_active(bool a) { active_ = a; }
    bool active() const { return active_; }

    int http_port() const { return server_ ? server_->port() : 0; }
    http::Server *server() { return server_.get(); }
    DbPool &pool() { return *pool_; }
    ShapeHub &hub() { return hub_; }
    clients::Registry &clients() { return clients_; }

private:
    void handle(http::ExchangePtr ex);
    void respond_health(const http::ExchangePtr &ex);
    void handle_metrics(http::ExchangePtr ex);
    void handle_oversync(http::ExchangePtr ex);
    // Every few seconds: per-shape statistics (log size, last offset, waiting clients) into
    // electric_sync.shape_stats, for electric_sync.shapes_view. Written only when changed.
    void schedule_stats();
    // Every second (3 s while degraded): one trivial query through the DB pool; its outcome feeds
    // /v1/health.
    void schedule_probe();
    std::shared_ptr<http::Timer> probe_timer_;
    std::atomic<bool> probe_inflight_{false};
    std::atomic<bool> pool_degraded_{false};
    int probe_failures_ = 0;  // consecutive failed queries (pool threads, one probe at a time)
    // True (after a 401 is sent) when a secret is configured and the request does not carry it.
    bool reject_without_secret(const http::ExchangePtr &ex);
    std::string last_stats_;
    std::shared_ptr<http::Timer> stats_timer_;
    // Every 2 s: electric_sync._check_reader_roles(), which invalidates the authorized shapes
    // whose role changed (memberships and attributes fire no event trigger).
    void schedule_role_check();
    std::shared_ptr<http::Timer> role_check_timer_;
    std::atomic<bool> role_check_inflight_{false};
    // Every 2 s: the clients seen since, into electric_sync.client_activity.
    void schedule_clients();
    std::shared_ptr<http::Timer> clients_timer_;
    clients::Registry clients_;

    ServiceOptions opts_;
    mutable std::mutex cfg_mu_;
    ServiceConfig cfg_;
    std::atomic<bool> active_{false};
    std::unique_ptr<DbPool> pool_;
    ShapeHub hub_;
    std::unique_ptr<class ShapeRoutes> shapes_;
    std::unique_ptr<oversync::WatchHub> watch_;  // GET /sync/watch (SSE)
    // GET /ws (SyncKit). Declared before server_: the server (and its timers) goes first.
    std::unique_ptr<synckit::Endpoint> synckit_;
    std::unique_ptr<http::Server> server_;
};

// Wall-clock milliseconds since the epoch (electric_sync.clients' times).
int64_t now_unix_ms();

// Headers every response carries (CORS exposure, server name).
void add_common_headers(const http::Request &req, http::Response &r);

}  // namespace es::svc
