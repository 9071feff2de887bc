// Development server for the oversync routes: cpp-httplib in front of es::oversync::handle,
// one libpq connection per request. Lets test/oversync run before the background worker serves
// the routes. Usage: oversync_devserver --port 3093 --db "<conninfo>" --jwt-secret S
//   [--retain N]   (no effect here; retention is os_settings in the database)
#include "oversync/routes.hpp"
#include "oversync/watch.hpp"

#include <httplib.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cctype>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char **argv) {
    int port = 3093;
    std::string db = "host=/tmp/os_pg port=54393 dbname=ostest user=postgres";
    es::oversync::Config cfg;
    cfg.jwt_secret = "dev-secret";
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string a = argv[i];
        if (a == "--port") port = std::atoi(argv[i + 1]);
        else if (a == "--db") db = argv[i + 1];
        else if (a == "--jwt-secret") cfg.jwt_secret = argv[i + 1];
        else if (a == "--push-ttl") cfg.push_session_ttl_seconds = std::atoi(argv[i + 1]);
        else if (a == "--lease-ttl") cfg.initialization_lease_ttl_seconds = std::atoi(argv[i + 1]);
        else if (a == "--snapshot-ttl") cfg.snapshot_session_ttl_seconds = std::atoi(argv[i + 1]);
        else {
            std::fprintf(stderr, "unknown flag %s\n", a.c_str());
            return 2;
        }
    }
    cfg.watch_enabled = true;
    es::oversync::WatchHub hub(db, 2000);
    hub.start();
    httplib::Server srv;
    srv.set_socket_options([](socket_t sock) {
        int yes = 1;
        setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
    });
    srv.set_payload_max_length(64 * 1024 * 1024);
    auto handler = [&](const httplib::Request &hr, httplib::Response &res) {
        es::http::Request req;
        req.method = hr.method;
        req.target = hr.target;
        auto q = hr.target.find('?');
        req.path = hr.target.substr(0, q);
        req.query = q == std::string::npos ? "" : hr.target.substr(q + 1);
        for (auto &h : hr.headers) {
            std::string n = h.first;
            for (auto &c : n) c = char(std::tolower(static_cast<unsigned char>(c)));
            req.headers.emplace_back(n, h.second);
        }
        req.body = hr.body;
        req.remote = hr.remote_addr;
        es::http::Response out;
        if (req.path == "/sync/watch") {
            PGconn *conn = PQconnectdb(db.c_str());
            auto w = es::oversync::watch_prepare(req, PQstatus(conn) == CONNECTION_OK ? conn : nullptr, cfg);
            PQfinish(conn);
            if (w.ok) {
                struct Q {
                    std::mutex mu;
                    std::condition_variable cv;
                    std::deque<std::string> chunks;
                    bool closed = false;
                };
                auto q = std::make_shared<Q>();
                uint64_t id = hub.subscribe(w.user, w.after, [q](const std::string &c) {
                    std::lock_guard<std::mutex> g(q->mu);
                    if (q->closed) return false;
                    q->chunks.push_back(c);
                    q->cv.notify_one();
                    return true;
                });
                for (auto &h : w.response.headers)
                    if (h.first != "content-type") res.set_header(h.first.c_str(), h.second);
                res.set_chunked_content_provider(
                    "text/event-stream",
                    [q](size_t, httplib::DataSink &sink) {
                        std::unique_lock<std::mutex> g(q->mu);
                        q->cv.wait_for(g, std::chrono::seconds(1), [&] { return !q->chunks.empty(); });
                        while (!q->chunks.empty()) {
                            std::string c = std::move(q->chunks.front());
                            q->chunks.pop_front();
                            g.unlock();
                            if (!sink.write(c.data(), c.size())) return false;
                            g.lock();
                        }
                        return sink.is_writable();
                    },
                    [q, id, &hub](bool) {
                        { std::lock_guard<std::mutex> g(q->mu); q->closed = true; }
                        hub.unsubscribe(id);
                    });
                return;
            }
            out = w.response;
        } else if (!es::oversync::handles(req)) {
            out = es::http::json_response(404, "{\"error\":\"not_found\",\"message\":\"no route\"}\n");
        } else {
            PGconn *conn = PQconnectdb(db.c_str());
            if (PQstatus(conn) != CONNECTION_OK) {
                std::fprintf(stderr, "db connect failed: %s", PQerrorMessage(conn));
                PQfinish(conn);
                conn = nullptr;
            }
            out = es::oversync::handle(req, conn, cfg);
            if (conn) PQfinish(conn);
        }
        res.status = out.status;
        std::string ctype = "application/json";
        for (auto &h : out.headers) {
            if (h.first == "content-type") ctype = h.second;
            else res.set_header(h.first.c_str(), h.second);
        }
        if (out.status != 204) res.set_content(out.body, ctype.c_str());
    };
    srv.Get(".*", handler);
    srv.Post(".*", handler);
    srv.Delete(".*", handler);
    srv.Put(".*", handler);
    srv.Patch(".*", handler);
    std::fprintf(stderr, "oversync devserver on 127.0.0.1:%d\n", port);
    bool ok = srv.listen("127.0.0.1", port);
    hub.stop();
    if (!ok) {
        std::fprintf(stderr, "listen failed on port %d\n", port);
        return 1;
    }
    return 0;
}
