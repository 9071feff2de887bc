#include "oversync/watch.hpp"

#include "core/oversync/errors.hpp"
#include "core/oversync/request.hpp"
#include "pool/pq.hpp"

#include <libpq-fe.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <vector>

namespace es::oversync {

using nlohmann::json;

std::string watch_event(int64_t seq, const std::string &source, int64_t sbid) {
    json d = {{"bundle_seq", seq}, {"source_id", source}, {"source_bundle_id", sbid}};
    return "event: bundle\ndata: " + d.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

WatchStart watch_prepare(const es::http::Request &req, PGconn *conn, const Config &cfg) {
    WatchStart w;
    auto fail = [&](int status, const std::string &code, const std::string &msg) {
        w.response = es::http::json_response(status, error_body(code, msg));
        return w;
    };
    if (req.method != "GET") return fail(405, "method_not_allowed", "method " + req.method + " not allowed");
    std::string user, source;
    es::http::Response err;
    if (!authenticate(req, cfg, user, source, err)) {
        w.response = err;
        return w;
    }
    if (!cfg.watch_enabled) return fail(503, "bundle_change_watch_disabled", "bundle change watch is not enabled");
    if (cfg.draining) return fail(503, "service_unavailable", "server is shutting down");
    auto q = parse_query(req.query);
    int64_t after = 0;
    if (auto it = q.find("after_bundle_seq"); it != q.end() && !it->second.empty()) {
        auto v = parse_int64(it->second);
        if (!v || *v < 0) return fail(400, "invalid_request", "after_bundle_seq must be a non-negative integer");
        after = *v;
    }
    if (!conn) return fail(503, "service_unavailable", "database unavailable");
    try {
        es::svc::pq_exec(conn, "SELECT electric_sync.os_require_initialized($1)", {user});
    } catch (const es::svc::PqError &e) {
        if (e.sqlstate == kContractSqlstate) {
            int status = contract_status(e.detail);
            return fail(status ? status : 500, e.detail, e.what());
        }
        return fail(500, "bundle_change_watch_failed", e.what());
    }
    w.ok = true;
    w.user = user;
    w.after = after;
    w.response.status = 200;
    w.response.set("content-type", "text/event-stream");
    w.response.set("cache-control", "no-cache");
    w.response.set("x-accel-buffering", "no");
    return w;
}

WatchHub::WatchHub(std::string conninfo, int heartbeat_ms)
    : conninfo_(std::move(conninfo)), heartbeat_ms_(heartbeat_ms < 100 ? 100 : heartbeat_ms) {}

WatchHub::~WatchHub() { stop(); }

void WatchHub::start() {
    if (thread_.joinable()) return;
    if (pipe(pipe_) != 0) throw std::runtime_error("pipe failed");
    fcntl(pipe_[0], F_SETFL, O_NONBLOCK);
    fcntl(pipe_[1], F_SETFL, O_NONBLOCK);
    stopping_ = false;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    try {
        thread_ = std::thread([this] {
            try {
                run();
            } catch (const std::exception &e) {
                std::fprintf(stderr, "electric_sync: oversync watch hub stopped: %s\n", e.what());
            } catch (...) {}
        });
    } catch (...) {
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
        throw;
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void WatchHub::stop() {
    stopping_ = true;
    wake();
    if (thread_.joinable()) thread_.join();
    for (int &fd : pipe_)
        if (fd >= 0) {
            close(fd);
            fd = -1;
        }
    std::lock_guard<std::mutex> g(mu_);
    subs_.clear();
}

void WatchHub::wake() {
    if (pipe_[1] >= 0) {
        char c = 1;
        ssize_t r = write(pipe_[1], &c, 1);
        (void)r;
    }
}

uint64_t WatchHub::subscribe(const std::string &user, int64_t after, Sink sink) {
    uint64_t id;
    {
        std::lock_guard<std::mutex> g(mu_);
        id = next_id_++;
        subs_[id] = Sub{user, after, std::move(sink), true};
    }
    wake();
    return id;
}

void WatchHub::unsubscribe(uint64_t id) {
    std::lock_guard<std::mutex> g(mu_);
    subs_.erase(id);
}

size_t WatchHub::subscribers() const {
    std::lock_guard<std::mutex> g(mu_);
    return subs_.size();
}

void WatchHub::deliver(const std::string &user, int64_t seq, const std::string &source, int64_t sbid) {
    std::vector<std::pair<uint64_t, Sink>> targets;
    {
        std::lock_guard<std::mutex> g(mu_);
        for (auto &[id, s] : subs_)
            if (s.user == user && seq > s.last) {
                s.last = seq;  // only rising seqs; coalesced (the newest wins)
                targets.emplace_back(id, s.sink);
            }
    }
    std::string ev = watch_event(seq, source, sbid);
    for (auto &[id, sink] : targets)
        if (!sink(ev)) unsubscribe(id);
}

void WatchHub::run() {
    PGconn *conn = nullptr;
    auto last_beat = std::chrono::steady_clock::now();
    bool all_fresh = true;  // after (re)connect every subscriber needs a catch-up
    while (!stopping_) {
        if (!conn || PQstatus(conn) != CONNECTION_OK) {
            if (conn) PQfinish(conn);
            conn = PQconnectdb(conninfo_.c_str());
            bool ok = PQstatus(conn) == CONNECTION_OK;
            if (ok) {
                PGresult *r = PQexec(conn, "LISTEN oversync_bundle_change_v1");
                ok = PQresultStatus(r) == PGRES_COMMAND_OK;
                PQclear(r);
            }
            if (!ok) {
                PQfinish(conn);
                conn = nullptr;
                struct pollfd p = {pipe_[0], POLLIN, 0};
                poll(&p, 1, 1000);
                continue;
            }
            all_fresh = true;
        }
        // Catch-up: the latest bundle of each new (or, after a reconnect, every) subscriber.
        std::set<std::string> users;
        {
            std::lock_guard<std::mutex> g(mu_);
            for (auto &[id, s] : subs_)
                if (s.fresh || all_fresh) {
                    users.insert(s.user);
                    s.fresh = false;
                }
        }
        all_fresh = false;
        for (auto &u : users) {
            try {
                auto r = es::svc::pq_exec(
                    conn,
                    "SELECT l.bundle_seq, l.source_id, l.source_bundle_id FROM electric_sync.os_bundle_log l "
                    "JOIN electric_sync.os_user_state s ON s.user_id = l.user_id AND l.bundle_seq = s.next_bundle_seq "
                    "- 1 "
                    "WHERE l.user_id = $1",
                    {u});
                if (r.rows() == 1) deliver(u, std::stoll(r.str(0, 0)), r.str(0, 1), std::stoll(r.str(0, 2)));
            } catch (const std::exception &) {
                break;  // connection trouble: reconnect on the next round
            }
        }
        struct pollfd fds[2] = {{PQsocket(conn), POLLIN, 0}, {pipe_[0], POLLIN, 0}};
        int timeout = heartbeat_ms_;
        auto since =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - last_beat).count();
        timeout = since >= heartbeat_ms_ ? 0 : int(heartbeat_ms_ - since);
        poll(fds, 2, timeout);
        if (fds[1].revents & POLLIN) {
            char buf[64];
            while (read(pipe_[0], buf, sizeof buf) > 0) {}
        }
        if (stopping_) break;
        if (fds[0].revents & (POLLIN | POLLERR | POLLHUP)) {
            if (!PQconsumeInput(conn)) continue;  // broken: reconnect
            while (PGnotify *n = PQnotifies(conn)) {
                try {
                    auto j = json::parse(n->extra);
                    deliver(j.at("user_id").get<std::string>(), j.at("bundle_seq").get<int64_t>(),
                            j.at("source_id").get<std::string>(), j.at("source_bundle_id").get<int64_t>());
                } catch (const std::exception &) {}
                PQfreemem(n);
            }
        }
        if (std::chrono::steady_clock::now() - last_beat >= std::chrono::milliseconds(heartbeat_ms_)) {
            last_beat = std::chrono::steady_clock::now();
            std::vector<std::pair<uint64_t, Sink>> all;
            {
                std::lock_guard<std::mutex> g(mu_);
                for (auto &[id, s] : subs_) all.emplace_back(id, s.sink);
            }
            for (auto &[id, sink] : all)
                if (!sink(": heartbeat\n\n")) unsubscribe(id);
        }
    }
    if (conn) PQfinish(conn);
}

}  // namespace es::oversync
