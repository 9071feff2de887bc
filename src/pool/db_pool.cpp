#include "pool/db_pool.hpp"

#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <cstdio>

namespace es::svc {

DbPool::DbPool(std::string conninfo, int size, std::string session_sql)
    : conninfo_(std::move(conninfo)), session_sql_(std::move(session_sql)), size_(size < 1 ? 1 : size) {}

DbPool::~DbPool() { stop(); }

void DbPool::start() {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    try {
        for (int i = 0; i < size_; i++) threads_.emplace_back([this, i] { run(i); });
    } catch (...) {
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
        throw;
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void DbPool::stop() {
    {
        std::lock_guard<std::mutex> g(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    for (auto &t : threads_)
        if (t.joinable()) t.join();
    threads_.clear();
}

void DbPool::submit(std::function<void(PGconn *)> job) {
    {
        std::lock_guard<std::mutex> g(mu_);
        if (stopping_) return;
        jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
}

size_t DbPool::queued() const {
    std::lock_guard<std::mutex> g(mu_);
    return jobs_.size();
}

// A connection the server closed while it sat idle (its backend terminated, the server
// restarted) still says CONNECTION_OK until it is used, and the job given it would fail. Idle,
// we expect nothing from the server: a readable socket is its FATAL message and EOF (or, rarely,
// a notice), read here so that a closed connection is replaced before the job runs.
static bool closed_while_idle(PGconn *conn) {
    pollfd p{PQsocket(conn), POLLIN, 0};
    if (p.fd < 0) return true;
    for (int i = 0; i < 2 && ::poll(&p, 1, 0) > 0; i++) {
        if (!PQconsumeInput(conn) || PQstatus(conn) != CONNECTION_OK) return true;
        char byte;
        if (::recv(p.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0) return true;  // EOF after the message
    }
    return PQstatus(conn) != CONNECTION_OK;
}

PGconn *DbPool::ensure(PGconn *&conn) {
    if (conn && PQstatus(conn) == CONNECTION_OK && !closed_while_idle(conn)) return conn;
    if (conn) PQfinish(conn);
    conn = PQconnectdb(conninfo_.c_str());
    if (PQstatus(conn) != CONNECTION_OK) {
        std::fprintf(stderr, "electric_sync: pool connection failed: %s", PQerrorMessage(conn));
        PQfinish(conn);
        conn = nullptr;
        return nullptr;
    }
    if (!session_sql_.empty()) {
        PGresult *r = PQexec(conn, session_sql_.c_str());
        if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
            std::fprintf(stderr, "electric_sync: pool session setup failed: %s", PQerrorMessage(conn));
        PQclear(r);
    }
    return conn;
}

static thread_local int tl_pool_index = -1;

int DbPool::current_index() { return tl_pool_index; }

void DbPool::run(int idx) {
    tl_pool_index = idx;
    PGconn *conn = nullptr;
    for (;;) {
        std::function<void(PGconn *)> job;
        {
            std::unique_lock<std::mutex> g(mu_);
            cv_.wait(g, [&] { return stopping_ || !jobs_.empty(); });
            if (jobs_.empty()) break;  // stopping and drained
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        try {
            PGconn *c = ensure(conn);
            // A connection left inside a failed transaction by a job is reset here.
            if (c && PQtransactionStatus(c) != PQTRANS_IDLE) {
                PGresult *r = PQexec(c, "ROLLBACK");
                PQclear(r);
            }
            job(c);
        } catch (const std::exception &e) {
            std::fprintf(stderr, "electric_sync: db job failed: %s\n", e.what());
        } catch (...) {
            std::fprintf(stderr, "electric_sync: db job failed\n");
        }
    }
    if (conn) PQfinish(conn);
}

}  // namespace es::svc
