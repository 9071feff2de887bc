// The background worker: owns the logical slot, runs the shape engine on its main thread and
// the HTTP server + DB pool on threads that never call Postgres.
#include "pg/compat.hpp"
extern "C" {
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "postmaster/postmaster.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/fd.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/wait_event.h"
PGDLLEXPORT void electric_sync_worker_main(Datum);
}
#include "extension/guc.hpp"
#include "extension/guc_synckit.hpp"
#include "pg/spi.hpp"
#include "extension/shmem.hpp"
#include "worker/worker.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <sys/resource.h>

using namespace es;

static WorkerRuntime *g_rt =
    nullptr;  // raw pointer: no destructor at exit (docs/architecture.md, threads and the rules)

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
    } catch (...) {}
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

// A secret read from a file (electric_sync.secret_file, electric_sync.jwt_secret_file): the whole
// content without trailing whitespace. Messages name the setting and the path, never the content.
static bool read_secret_file(const char *setting, const char *path, std::string &out) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        ereport(WARNING,
                (errcode_for_file_access(), errmsg("electric_sync: could not open %s \"%s\": %m", setting, path)));
        return false;
    }
    std::string v;
    char buf[4096];
    size_t n;
    bool too_big = false;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        v.append(buf, n);
        if (v.size() > 65536) {
            too_big = true;
            break;
        }
    }
    bool err = ferror(f) != 0;
    int saved = errno;
    fclose(f);
    if (err) {
        errno = saved;
        ereport(WARNING,
                (errcode_for_file_access(), errmsg("electric_sync: could not read %s \"%s\": %m", setting, path)));
        return false;
    }
    while (!v.empty() && (v.back() == '\n' || v.back() == '\r' || v.back() == ' ' || v.back() == '\t')) v.pop_back();
    if (too_big || v.empty()) {
        ereport(WARNING,
                (errmsg("electric_sync: %s \"%s\" is %s", setting, path, too_big ? "larger than 64 kB" : "empty")));
        return false;
    }
    out = std::move(v);
    return true;
}

// A value no client can know: what a secret becomes when its file cannot be read (fail closed).
static std::string unguessable_secret() {
    unsigned char b[32];
    if (!pg_strong_random(b, sizeof b)) {
        for (auto &c : b) c = static_cast<unsigned char>(random());
    }
    static const char *hex = "0123456789abcdef";
    std::string s = "unreadable-secret-file:";
    for (unsigned char c : b) {
        s += hex[c >> 4];
        s += hex[c & 15];
    }
    return s;
}

struct FileSecret {
    std::string path, value;  // last successful read
};

// The secret in force: from the file when `file` is set (it wins over the direct setting), else
// the direct setting. A file that cannot be read keeps the last value read from that same file,
// or else an unguessable value: requests are refused rather than let through unauthenticated.
static std::string resolve_secret(const char *setting, const char *direct, const char *file, FileSecret &last) {
    if (file && *file) {
        std::string v;
        if (read_secret_file(setting, file, v)) {
            last.path = file;
            last.value = v;
            return v;
        }
        if (last.path == file && !last.value.empty()) {
            ereport(WARNING, (errmsg("electric_sync: keeping the secret last read from %s", setting)));
            return last.value;
        }
        ereport(WARNING,
                (errmsg("electric_sync: %s cannot be read: every request needing this secret is refused", setting)));
        return unguessable_secret();
    }
    last = FileSecret{};
    return direct ? direct : "";
}

static FileSecret g_secret_file, g_jwt_secret_file, g_public_key_file;

// The keys readers' tokens are verified with: the HS256 secret and the public key file. A file
// that cannot be read or parsed leaves only HS256 (tokens signed with the key are refused).
static std::shared_ptr<const es::jwt::KeySet> read_keys(const std::string &jwt_secret) {
    std::string pem;
    const char *file = es_guc_jwt_public_key_file;
    if (file && *file && !read_secret_file("electric_sync.jwt_public_key_file", file, pem) &&
        g_public_key_file.path == file)
        pem = g_public_key_file.value;
    auto keys = std::make_shared<const es::jwt::KeySet>(jwt_secret, pem);
    if (!keys->error().empty()) {
        ereport(WARNING, (errmsg("electric_sync: electric_sync.jwt_public_key_file \"%s\" cannot be used: %s", file,
                                 keys->error().c_str())));
    } else if (file && *file && !pem.empty()) {
        g_public_key_file = FileSecret{file, pem};
    }
    return keys;
}

static WorkerConfig current_config() {
    WorkerConfig c;
    c.secret = resolve_secret("electric_sync.secret_file", es_guc_secret, es_guc_secret_file, g_secret_file);
    c.jwt_secret =
        resolve_secret("electric_sync.jwt_secret_file", es_guc_jwt_secret, es_guc_jwt_secret_file, g_jwt_secret_file);
    c.read_auth = es_guc_read_auth == ES_READ_AUTH_JWT    ? es::auth::ReadAuth::Jwt
        : es_guc_read_auth == ES_READ_AUTH_NONE ? es::auth::ReadAuth::None
                                                : es::auth::ReadAuth::Secret;
    c.read_anon_role = es_guc_read_anon_role ? es_guc_read_anon_role : "";
    c.read_keys = read_keys(c.jwt_secret);
    c.device_token_ttl_s = es_guc_device_token_ttl_s;
    c.max_tracked_clients = es_guc_max_tracked_clients;
    c.long_poll_timeout_ms = es_guc_long_poll_timeout_ms;
    c.sse_timeout_ms = es_guc_sse_timeout_ms;
    c.chunk_bytes = es_guc_chunk_bytes;
    c.snapshot_cache_bytes = static_cast<size_t>(es_guc_snapshot_cache_mb) * 1024 * 1024;
    c.max_age = es_guc_max_age;
    c.stale_age = es_guc_stale_age;
    c.allow_shape_deletion = es_guc_allow_shape_deletion;
    c.http_header_timeout_ms = es_guc_http_header_timeout_ms;
    c.http_idle_timeout_ms = es_guc_http_idle_timeout_ms;
    c.http_max_connections = es_guc_http_max_connections;
    c.synckit.anonymous = es_guc_sk_anonymous;
    c.synckit.create_documents = es_guc_sk_create_documents;
    c.synckit.max_connections_per_ip = es_guc_sk_max_connections_per_ip;
    c.synckit.messages_per_minute = es_guc_sk_messages_per_minute;
    c.synckit.max_message_bytes = static_cast<size_t>(es_guc_sk_max_message_bytes);
    c.synckit.awareness_timeout_ms = es_guc_sk_awareness_timeout_ms;
    c.synckit.auth_timeout_ms = es_guc_sk_auth_timeout_ms;
    return c;
}

static long count_open_fds() {
    DIR *d = opendir("/proc/self/fd");
    if (!d) return 64;  // a guess, on the safe side
    long n = 0;
    while (struct dirent *e = readdir(d))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

// Descriptors the HTTP server may use for client sockets: the open-files limit minus what is
// open now, minus what Postgres's fd.c may open in this process (max_safe_fds, derived from
// max_files_per_process, plus its reserve for system() and dlopen), minus the HTTP side's own
// needs (pool and watch connections, the event loop's descriptors, libpq's files) and a margin.
// So a connection flood can never take the descriptors Postgres needs to read WAL and relations.
static size_t http_fd_budget(const struct rlimit &rl, int pool_size) {
    const long kPgReserved = 10;  // fd.c's NUM_RESERVED_FDS
    long limit = rl.rlim_cur == RLIM_INFINITY ? 1L << 20 : static_cast<long>(rl.rlim_cur);
    long open_now = count_open_fds();
    long pg = max_safe_fds + kPgReserved;
    long http_own = 2L * pool_size + 16 + 64;
    long budget = limit - open_now - pg - http_own;
    if (budget < 32) {
        ereport(WARNING,
                (errmsg("electric_sync: the open-files limit (%ld) leaves few descriptors for HTTP "
                        "clients; raise ulimit -n for the postmaster",
                        limit)));
        budget = 32;
    }
    ereport(LOG,
            (errmsg("electric_sync: HTTP client sockets limited to %ld descriptors (open-files limit %ld, "
                    "%ld kept for Postgres, %ld for the pool and event loop, %ld open)",
                    budget, limit, pg, http_own, open_now)));
    return static_cast<size_t>(budget);
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
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) elog(LOG, "electric_sync: could not raise the open files limit: %m");
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) opts.http_fd_budget = http_fd_budget(rl, opts.pool_size);
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
            ereport(LOG,
                    (errmsg("electric_sync: worker step failed: %s", ed && ed->message ? ed->message : "?"),
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
