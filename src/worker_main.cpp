// The background worker: owns the logical slot, runs the shape engine on its main thread and
// the HTTP server + DB pool on threads that never call Postgres.
#include "pg_compat.hpp"
extern "C" {
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "postmaster/postmaster.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/wait_event.h"
PGDLLEXPORT void electric_sync_worker_main(Datum);
}
#include "guc.hpp"
#include "pg_spi.hpp"
#include "shmem.hpp"
#include "worker.hpp"

#include <cstring>
#include <sys/resource.h>

using namespace es;

static WorkerRuntime *g_rt = nullptr;  // raw pointer: no destructor at exit (rules §5)

// before_shmem_exit: stop the HTTP server and the pool, join every thread.
static void worker_shutdown(int, Datum) {
    if (es_shared) {
        SpinLockAcquire(&es_shared->mutex);
        es_shared->worker_pid = 0;
        es_shared->worker_procno = -1;
        es_shared->http_port = 0;
        SpinLockRelease(&es_shared->mutex);
        pg_atomic_write_u32(&es_shared->state, ES_STATE_STOPPED);
    }
    WorkerRuntime *rt = g_rt;
    g_rt = nullptr;
    if (!rt) return;
    try {
        rt->stop();
        delete rt;
    } catch (...) {
    }
}

static std::string quote_conninfo(const std::string &v) {
    std::string out = "'";
    for (char c : v) {
        if (c == '\'' || c == '\\') out += '\\';
        out += c;
    }
    return out + "'";
}

// libpq connection string for the worker's own client connections to this server.
static std::string local_conninfo() {
    std::string host;
    const char *dirs = GetConfigOption("unix_socket_directories", true, false);
    if (dirs && *dirs) {
        std::string d(dirs);
        host = d.substr(0, d.find(','));
        while (!host.empty() && host.front() == ' ') host.erase(0, 1);
        while (!host.empty() && host.back() == ' ') host.pop_back();
    }
    if (host.empty()) host = "127.0.0.1";
    // Catalog access needs a transaction.
    StartTransactionCommand();
    std::string user = GetUserNameFromId(BOOTSTRAP_SUPERUSERID, false);
    CommitTransactionCommand();
    std::string ci = "host=" + quote_conninfo(host) + " port=" + std::to_string(PostPortNumber) +
                     " dbname=" + quote_conninfo(es_guc_database) + " user=" + quote_conninfo(user) +
                     " application_name='electric_sync http'";
    if (es_guc_conninfo && *es_guc_conninfo) ci += std::string(" ") + es_guc_conninfo;
    return ci;
}

static WorkerConfig current_config() {
    WorkerConfig c;
    c.secret = es_guc_secret ? es_guc_secret : "";
    c.jwt_secret = es_guc_jwt_secret ? es_guc_jwt_secret : "";
    c.long_poll_timeout_ms = es_guc_long_poll_timeout_ms;
    c.sse_timeout_ms = es_guc_sse_timeout_ms;
    c.chunk_bytes = es_guc_chunk_bytes;
    c.snapshot_cache_bytes = static_cast<size_t>(es_guc_snapshot_cache_mb) * 1024 * 1024;
    c.max_age = es_guc_max_age;
    c.stale_age = es_guc_stale_age;
    c.allow_shape_deletion = es_guc_allow_shape_deletion;
    return c;
}

static void worker_loop() {
    WorkerOptions opts;
    opts.listen_address = es_guc_listen_address;
    opts.port = es_guc_port;
    opts.io_threads = es_guc_io_threads;
    opts.pool_size = es_guc_db_pool_size;
    opts.conninfo = local_conninfo();
    opts.slot_name = es_guc_slot_name;
    opts.database = es_guc_database;

    // Every live client holds a socket: raise the soft open-files limit to the hard limit.
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            elog(LOG, "electric_sync: could not raise the open files limit: %m");
    }
    g_rt = new WorkerRuntime(opts, current_config(), MyLatch);
    g_rt->start();  // threads are created with all signals blocked
    if (g_rt->http_port() > 0) {
        SpinLockAcquire(&es_shared->mutex);
        es_shared->http_port = g_rt->http_port();
        strlcpy(es_shared->http_address, es_guc_listen_address, sizeof es_shared->http_address);
        SpinLockRelease(&es_shared->mutex);
        elog(LOG, "electric_sync: HTTP server listening on %s:%d", es_guc_listen_address, g_rt->http_port());
    }

    for (;;) {
        long timeout = g_rt->active() ? es_guc_poll_interval_ms : 1000;
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, timeout, PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
        if (ConfigReloadPending) {
            ConfigReloadPending = false;
            ProcessConfigFile(PGC_SIGHUP);
            g_rt->set_config(current_config());
        }
        bool more = false;
        try {
            more = g_rt->step();
        } catch (const PgException &e) {
            ErrorData *ed = e.edata();
            ereport(LOG, (errmsg("electric_sync: worker step failed: %s", ed && ed->message ? ed->message : "?"),
                          ed && ed->detail ? errdetail("%s", ed->detail) : 0));
            g_rt->note_error(e.what());
            pg_usleep(200 * 1000L);
        } catch (const std::exception &e) {
            ereport(LOG, (errmsg("electric_sync: worker step failed: %s", e.what())));
            g_rt->note_error(e.what());
            pg_usleep(200 * 1000L);
        }
        if (more) SetLatch(MyLatch);
    }
}

void electric_sync_worker_main(Datum) {
    pqsignal(SIGTERM, die);
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    BackgroundWorkerUnblockSignals();
    BackgroundWorkerInitializeConnection(es_guc_database, nullptr, 0);
    pgstat_report_appname("electric_sync worker");

    SpinLockAcquire(&es_shared->mutex);
    es_shared->worker_pid = MyProcPid;
    es_shared->worker_procno = MyProc->pgprocno;
    SpinLockRelease(&es_shared->mutex);
    pg_atomic_write_u32(&es_shared->state, ES_STATE_STARTING);

    before_shmem_exit(worker_shutdown, 0);
    pg_entry([] { worker_loop(); });
    proc_exit(1);
}
