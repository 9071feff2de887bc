// electric_sync._worker_info(): the worker's shared-memory state as a record.
#include "pg/compat.hpp"
extern "C" {
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"
PG_FUNCTION_INFO_V1(es_worker_info);
PG_FUNCTION_INFO_V1(es_debug_fail_batches);
}
#include "extension/shmem.hpp"

extern "C" Datum es_worker_info(PG_FUNCTION_ARGS) {
    TupleDesc td;
    if (get_call_result_type(fcinfo, nullptr, &td) != TYPEFUNC_COMPOSITE)
        ereport(ERROR, (errmsg("_worker_info must be called in a context that accepts a record")));
    Datum values[8];
    bool nulls[8] = {false, false, false, false, false, false, false, false};
    pid_t pid;
    int port;
    char addr[64], err[256];
    SpinLockAcquire(&es_shared->mutex);
    pid = es_shared->worker_pid;
    port = es_shared->http_port;
    memcpy(addr, es_shared->http_address, sizeof addr);
    memcpy(err, es_shared->last_error, sizeof err);
    SpinLockRelease(&es_shared->mutex);
    addr[sizeof addr - 1] = 0;
    err[sizeof err - 1] = 0;
    uint32 st = pg_atomic_read_u32(&es_shared->state);
    const char *state = st == ES_STATE_ACTIVE ? "active" : st == ES_STATE_STARTING ? "starting" : "stopped";
    values[0] = Int32GetDatum(pid);
    nulls[0] = pid == 0;
    values[1] = CStringGetTextDatum(state);
    values[2] = CStringGetTextDatum(addr);
    nulls[2] = port == 0;
    values[3] = Int32GetDatum(port);
    uint64 lsn = pg_atomic_read_u64(&es_shared->processed_lsn);
    values[4] = LSNGetDatum(lsn);
    nulls[4] = lsn == 0;
    values[5] = Int64GetDatum((int64)pg_atomic_read_u64(&es_shared->changes_processed));
    values[6] = Int64GetDatum((int64)pg_atomic_read_u64(&es_shared->txns_processed));
    values[7] = CStringGetTextDatum(err);
    nulls[7] = err[0] == 0;
    PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(td, values, nulls)));
}

// Test hook (superuser only): the worker's next n batches that route changes fail just before
// their commit, as an error in the batch would (the batch rolls back, decoding starts over from
// the slot). Used by test/e2e/batch_retry.test.mjs.
extern "C" Datum es_debug_fail_batches(PG_FUNCTION_ARGS) {
    int32 n = PG_GETARG_INT32(0);
    if (n < 0) ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("n must be 0 or more")));
    pg_atomic_write_u32(&es_shared->fail_batches, static_cast<uint32>(n));
    es_wake_worker();
    PG_RETURN_VOID();
}
