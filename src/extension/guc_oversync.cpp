// electric_sync.oversync_* settings (see guc_oversync.hpp). Defaults are go-oversync v0.2.0's
// (ServiceConfig, docs/protocols/oversync.md §7).
#include "pg/compat.hpp"
extern "C" {
#include "utils/guc.h"
}
#include "extension/guc_oversync.hpp"
#include <climits>

int es_guc_os_initialization_lease_ttl_s = 900;
int es_guc_os_push_session_ttl_s = 900;
int es_guc_os_snapshot_session_ttl_s = 900;
int es_guc_os_max_rows_per_push_chunk = 5000;
int es_guc_os_max_rows_per_bundle = 0;
int es_guc_os_max_rows_per_snapshot_chunk = 5000;
int es_guc_os_max_bundles_per_pull = 5000;
int es_guc_os_retained_bundles_per_user = 10000;
int es_guc_os_retention_prune_batch = 1000;

namespace {

void define_ttl(const char *name, const char *desc, int *var) {
    // At most a week: lease_expires_at / expires_at = now() + ttl.
    DefineCustomIntVariable(name, desc, nullptr, var, 900, 1, 7 * 24 * 3600, PGC_SIGHUP, GUC_UNIT_S, nullptr, nullptr,
                            nullptr);
}

void define_int(const char *name, const char *desc, const char *long_desc, int *var, int dflt, int min, int max) {
    DefineCustomIntVariable(name, desc, long_desc, var, dflt, min, max, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
}

}  // namespace

void es_define_oversync_gucs() {
    define_ttl("electric_sync.oversync_initialization_lease_ttl",
               "How long a device's initialization lease lasts; every push create, chunk and commit "
               "of the seeding push extends it by this.",
               &es_guc_os_initialization_lease_ttl_s);
    define_ttl("electric_sync.oversync_push_session_ttl",
               "How long a staged push session lives; every chunk extends it by this.", &es_guc_os_push_session_ttl_s);
    define_ttl("electric_sync.oversync_snapshot_session_ttl",
               "How long a snapshot session can be read (fixed, not extended by reads).",
               &es_guc_os_snapshot_session_ttl_s);
    define_int("electric_sync.oversync_max_rows_per_push_chunk",
               "Most rows one push chunk may carry (more: 400 push_chunk_invalid).", nullptr,
               &es_guc_os_max_rows_per_push_chunk, 5000, 1, 100000);
    define_int("electric_sync.oversync_max_rows_per_bundle",
               "Most rows a push may plan (planned_row_count; more: 400 push_session_invalid). 0 = no limit.",
               "Advertised in /sync/capabilities as max_rows_per_bundle. go-oversync v0.2.0 "
               "advertises it but does not enforce it; its default is 0.",
               &es_guc_os_max_rows_per_bundle, 0, 0, INT_MAX);
    define_int("electric_sync.oversync_max_rows_per_snapshot_chunk",
               "Most rows one snapshot chunk returns (a larger max_rows is lowered to this).", nullptr,
               &es_guc_os_max_rows_per_snapshot_chunk, 5000, 1, 100000);
    define_int("electric_sync.oversync_max_bundles_per_pull",
               "Largest max_bundles a pull may ask for (outside 1..this: 400 invalid_request).",
               "A pull without max_bundles gets min(1000, this).", &es_guc_os_max_bundles_per_pull, 5000, 1, 100000);
    define_int("electric_sync.oversync_retained_bundles_per_user",
               "Retention window: committed bundles kept per user (0 = no automatic retention).",
               "After each commit the user's retained floor moves towards latest - this, by at most "
               "electric_sync.oversync_retention_prune_batch bundles, and the bundles it passes are deleted.",
               &es_guc_os_retained_bundles_per_user, 10000, 0, INT_MAX);
    define_int("electric_sync.oversync_retention_prune_batch",
               "Most bundles one commit's automatic retention step moves the floor past (and deletes).", nullptr,
               &es_guc_os_retention_prune_batch, 1000, 1, INT_MAX);
}
