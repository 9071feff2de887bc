// A small pool of threads, each owning one libpq connection to the local server.
// HTTP I/O threads never block on the database: they submit jobs here. Jobs never touch
// Postgres internals (palloc, elog, SPI): they talk to the server over libpq like any client.
#pragma once
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

typedef struct pg_conn PGconn;

namespace es::svc {

class DbPool {
public:
    // conninfo: a libpq connection string. Each new connection runs `session_sql` first.
    DbPool(std::string conninfo, int size, std::string session_sql);
    ~DbPool();
    DbPool(const DbPool &) = delete;
    DbPool &operator=(const DbPool &) = delete;

    // Starts the threads (with every signal blocked).
    void start();
    // Stops accepting jobs, lets running jobs finish, joins every thread. Idempotent.
    void stop();

    // Runs job(conn) on a pool thread. conn is connected (reconnected if it broke) or nullptr
    // when the server cannot be reached; the job must answer its request either way.
    // Exceptions escaping a job are caught and logged to stderr.
    void submit(std::function<void(PGconn *)> job);

    size_t queued() const;

    // Index (0..size-1) of the pool thread running the calling job; -1 outside the pool.
    static int current_index();

private:
    void run(int idx);
    PGconn *ensure(PGconn *&conn);

    std::string conninfo_, session_sql_;
    int size_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::function<void(PGconn *)>> jobs_;
    std::vector<std::thread> threads_;
    bool stopping_ = false;
};

// Thrown by the helpers below when a query fails.
struct PgClientError : std::runtime_error {
    std::string sqlstate;
    PgClientError(std::string msg, std::string state)
        : std::runtime_error(std::move(msg)), sqlstate(std::move(state)) {}
};

}  // namespace es::svc
