// GET /sync/watch (SSE bundle-change hints, go-oversync main after v0.2.0).
//
// Host flow (the HTTP server owns the streaming exchange):
//   1. On a DB pool thread: auto w = watch_prepare(req, conn, cfg);
//      if (!w.ok) exchange->respond(w.response); else exchange->begin_stream(w.response);
//   2. id = hub.subscribe(w.user, w.after, [ex](const std::string &chunk) { return ex->send(chunk); });
//      ex->on_close([&hub, id] { hub.unsubscribe(id); });
// The hub LISTENs on channel oversync_bundle_change_v1 (bundles notify inside their
// transaction, sql/install/51_oversync_capture.sql) with its own libpq connection and thread,
// sends `event: bundle` when a subscribed user's latest bundle_seq rises above what the
// subscriber has seen (including at once on subscribe), and `: heartbeat` comments.
#pragma once
#include "core/common/http_types.hpp"
#include "oversync/routes.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

namespace es::oversync {

struct WatchStart {
    bool ok = false;
    es::http::Response response;  // the error, or the 200 text/event-stream head (empty body)
    std::string user;
    int64_t after = 0;
};

// Authenticates, validates after_bundle_seq and checks that the scope is INITIALIZED.
WatchStart watch_prepare(const es::http::Request &req, PGconn *conn, const Config &cfg);

// "event: bundle\ndata: {...}\n\n"
std::string watch_event(int64_t bundle_seq, const std::string &source_id, int64_t source_bundle_id);

class WatchHub {
public:
    // A sink returns false once its stream is gone (the subscription is then dropped).
    using Sink = std::function<bool(const std::string &chunk)>;

    WatchHub(std::string conninfo, int heartbeat_ms = 25000);
    ~WatchHub();
    WatchHub(const WatchHub &) = delete;
    WatchHub &operator=(const WatchHub &) = delete;

    void start();  // starts the listener thread (all signals blocked)
    void stop();  // idempotent; joins the thread
    uint64_t subscribe(const std::string &user, int64_t after, Sink sink);
    void unsubscribe(uint64_t id);
    size_t subscribers() const;

private:
    struct Sub {
        std::string user;
        int64_t last = 0;
        Sink sink;
        bool fresh = true;  // needs the catch-up query
    };
    void run();
    void wake();
    void deliver(const std::string &user, int64_t seq, const std::string &source, int64_t sbid);

    std::string conninfo_;
    int heartbeat_ms_;
    mutable std::mutex mu_;
    std::map<uint64_t, Sub> subs_;
    uint64_t next_id_ = 1;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
    int pipe_[2] = {-1, -1};
};

}  // namespace es::oversync
