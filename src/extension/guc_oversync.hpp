// electric_sync.oversync_* settings: the write path's limits, TTLs and retention
// (docs/configuration.md, docs/oversync.md). All reloadable (PGC_SIGHUP). The SQL functions of
// the write path read them with current_setting() in the backend that serves the request, so
// a reload reaches the HTTP routes without restarting the worker.
#pragma once

extern "C" {
extern int es_guc_os_initialization_lease_ttl_s;  // InitializationLeaseTTL (15 min)
extern int es_guc_os_push_session_ttl_s;  // PushSessionTTL (15 min, sliding)
extern int es_guc_os_snapshot_session_ttl_s;  // SnapshotSessionTTL (15 min, fixed)
extern int es_guc_os_max_rows_per_push_chunk;  // 5000
extern int es_guc_os_max_rows_per_bundle;  // 0 = no limit
extern int es_guc_os_max_rows_per_snapshot_chunk;  // 5000
extern int es_guc_os_max_bundles_per_pull;  // 5000
extern int es_guc_os_retained_bundles_per_user;  // 10000 (0 = no automatic retention)
extern int es_guc_os_retention_prune_batch;  // 1000
}

void es_define_oversync_gucs();
