// Settings that bound where-clause evaluation and snapshots (docs/configuration.md).
#pragma once

extern "C" {
extern int es_guc_where_eval_timeout_ms;  // one evaluation of one shape's where, per change
extern int es_guc_snapshot_timeout_ms;  // statement timeout of snapshot and subset queries
}

void es_define_where_gucs();
