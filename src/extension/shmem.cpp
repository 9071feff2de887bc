// Shared memory setup, and the commit hook that wakes the worker when a transaction that wrote
// something commits (so the live stream does not wait for the poll interval).
#include "pg/compat.hpp"
extern "C" {
#include "access/xact.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
}
#include "extension/shmem.hpp"

EsShared *es_shared = nullptr;

static shmem_request_hook_type prev_shmem_request_hook = nullptr;
static shmem_startup_hook_type prev_shmem_startup_hook = nullptr;
static bool xact_wrote = false;

static void es_shmem_request() {
    if (prev_shmem_request_hook) prev_shmem_request_hook();
    RequestAddinShmemSpace(MAXALIGN(sizeof(EsShared)));
}

static void es_shmem_startup() {
    if (prev_shmem_startup_hook) prev_shmem_startup_hook();
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    bool found = false;
    es_shared = static_cast<EsShared *>(ShmemInitStruct("electric_sync", sizeof(EsShared), &found));
    if (!found) {
        memset(es_shared, 0, sizeof(EsShared));
        SpinLockInit(&es_shared->mutex);
        es_shared->worker_procno = -1;
        pg_atomic_init_u32(&es_shared->state, ES_STATE_STOPPED);
        pg_atomic_init_u64(&es_shared->processed_lsn, 0);
        pg_atomic_init_u64(&es_shared->changes_processed, 0);
        pg_atomic_init_u64(&es_shared->txns_processed, 0);
        pg_atomic_init_u32(&es_shared->fail_batches, 0);
    }
    LWLockRelease(AddinShmemInitLock);
}

void es_wake_worker() {
    if (!es_shared) return;
    int procno = es_shared->worker_procno;  // an int read is atomic; stale values are harmless
    if (procno >= 0 && ProcGlobal && static_cast<uint32>(procno) < ProcGlobal->allProcCount)
        SetLatch(&ProcGlobal->allProcs[procno].procLatch);
}

// Every backend: after a commit that wrote (it may have touched tables shapes watch, or defined a
// shape), wake the worker. Cheap: one SetLatch.
static void es_xact_callback(XactEvent event, void *) {
    switch (event) {
    case XACT_EVENT_PRE_COMMIT: xact_wrote = GetTopTransactionIdIfAny() != InvalidTransactionId; break;
    case XACT_EVENT_COMMIT:
        if (xact_wrote && es_shared && es_shared->worker_pid != MyProcPid) es_wake_worker();
        xact_wrote = false;
        break;
    case XACT_EVENT_ABORT: xact_wrote = false; break;
    default: break;
    }
}

void es_shmem_init_hooks() {
    prev_shmem_request_hook = shmem_request_hook;
    shmem_request_hook = es_shmem_request;
    prev_shmem_startup_hook = shmem_startup_hook;
    shmem_startup_hook = es_shmem_startup;
    RegisterXactCallback(es_xact_callback, nullptr);
}
