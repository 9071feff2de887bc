// Library entry: _PG_init refuses to load unless preloaded, defines the GUCs, sets up shared
// memory and registers the background worker.
#include "pg/compat.hpp"
extern "C" {
#include "postmaster/bgworker.h"
#include "utils/guc.h"
PG_MODULE_MAGIC;
PGDLLEXPORT void _PG_init(void);
}
#include "extension/guc.hpp"
#include "extension/guc_where.hpp"
#include "extension/guc_oversync.hpp"
#include "extension/guc_synckit.hpp"
#include "extension/shmem.hpp"

void _PG_init(void) {
    if (!process_shared_preload_libraries_in_progress)
        ereport(ERROR,
                (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                 errmsg("electric_sync must be loaded via shared_preload_libraries"),
                 errhint("Add electric_sync to shared_preload_libraries in postgresql.conf "
                         "(and set wal_level = logical), then restart the server.")));
    es_define_gucs();
    es_define_where_gucs();
    es_define_oversync_gucs();
    es_define_synckit_gucs();
    // Last: it removes every electric_sync.* placeholder not defined by now, so a setting of
    // postgresql.conf defined after it would be dropped at start ("invalid configuration
    // parameter name ... removing it") and only a reload would apply it.
    MarkGUCPrefixReserved("electric_sync");
    es_shmem_init_hooks();

    BackgroundWorker bgw;
    memset(&bgw, 0, sizeof bgw);
    bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
    bgw.bgw_restart_time = 1;
    snprintf(bgw.bgw_library_name, BGW_MAXLEN, "electric_sync");
    snprintf(bgw.bgw_function_name, BGW_MAXLEN, "electric_sync_worker_main");
    snprintf(bgw.bgw_name, BGW_MAXLEN, "electric_sync worker");
    snprintf(bgw.bgw_type, BGW_MAXLEN, "electric_sync");
    RegisterBackgroundWorker(&bgw);
}
