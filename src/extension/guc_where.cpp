// electric_sync.where_eval_timeout and electric_sync.snapshot_timeout (see guc_where.hpp).
#include "pg/compat.hpp"
extern "C" {
#include "utils/guc.h"
}
#include "extension/guc_where.hpp"

#include <climits>

int es_guc_where_eval_timeout_ms = 50;
int es_guc_snapshot_timeout_ms = 5 * 60 * 1000;

void es_define_where_gucs() {
    DefineCustomIntVariable("electric_sync.where_eval_timeout",
                            "Longest time one shape's where clause may take on one change (0 = no limit).",
                            "A shape whose where clause takes longer is stopped (status 'failed'); its clients "
                            "get an error, and other shapes are not held up.",
                            &es_guc_where_eval_timeout_ms, 50, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr,
                            nullptr);
    DefineCustomIntVariable("electric_sync.snapshot_timeout",
                            "Statement timeout of a shape's snapshot and subset queries (0 = no limit).", nullptr,
                            &es_guc_snapshot_timeout_ms, 5 * 60 * 1000, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_MS, nullptr,
                            nullptr, nullptr);
}
