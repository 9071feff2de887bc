// Shared memory of electric_sync: what the worker publishes (state, HTTP address, progress)
// and what every backend needs to wake it after a commit.
#pragma once
#include "pg/compat.hpp"
extern "C" {
#include "port/atomics.h"
#include "storage/spin.h"
}

enum EsWorkerState : uint32 {
    ES_STATE_STOPPED = 0,
    ES_STATE_STARTING = 1,  // waiting for the extension / creating the slot
    ES_STATE_ACTIVE = 2,
};

struct EsShared {
    slock_t mutex;
    pid_t worker_pid;  // 0 when no worker runs
    int worker_procno;  // -1 when unknown
    pg_atomic_uint32 state;  // EsWorkerState
    pg_atomic_uint64 processed_lsn;  // everything at or below is in the shape logs
    pg_atomic_uint64 changes_processed;
    pg_atomic_uint64 txns_processed;
    pg_atomic_uint32 fail_batches;  // test hook: batches that must fail before committing
    int http_port;  // bound port, 0 if none
    char http_address[64];
    char last_error[256];
};

extern EsShared *es_shared;

void es_shmem_init_hooks();
// Wakes the worker (any backend or the worker's own threads).
void es_wake_worker();
