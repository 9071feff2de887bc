// The logical decoding output plugin `electric_sync` (docs/decoding-format.md).
//
// Shared declarations of the plugin's files:
//   plugin.cpp            _PG_output_plugin_init, options, begin/commit/change/truncate/message
//   relation.cpp          per-session relation cache, RELATION records, invalidation callbacks
//
// All callbacks are plain C-style code: they hold no C++ objects with destructors and never
// throw, so Postgres errors simply propagate (as in test_decoding).
#pragma once

#include "pg/compat.hpp"
extern "C" {
#include "access/htup_details.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "pgtime.h"
#include "replication/logical.h"
#include "replication/output_plugin.h"
#include "utils/hsearch.h"
#include "utils/rel.h"
}

// One non-dropped column of a decoded relation, in attnum order.
struct EsDecColumn {
    AttrNumber attnum;  // 1-based attribute number in the relation's tuple descriptor
    bool isvarlena;  // values may be TOAST pointers
    bool in_ident;  // part of the replica identity key (REPLICA IDENTITY DEFAULT / USING INDEX)
    FmgrInfo out;  // the type's output function (fn_mcxt = the entry's context)
};

// Per-session cache entry of one relation (key: relid).
struct EsDecRel {
    Oid relid;
    bool valid;  // false after a relcache/syscache invalidation: rebuild before use
    bool skip;  // the relation is in a skipped schema: emit nothing for it
    bool desc_pending;  // the RELATION record must be written before the next record using it
    int ncols;
    EsDecColumn *cols;  // ncols entries
    char *desc;  // text of the RELATION record last built (compared on rebuild)
    int desc_len;
    MemoryContext cxt;  // owns cols, desc and the output functions' cache; NULL before build
};

// Plugin state of one decoding session (ctx->output_plugin_private).
struct EsDecState {
    MemoryContext change_cxt;  // reset after every change / truncate / message
    MemoryContext cache_cxt;  // relation entries
    HTAB *rels;  // Oid -> EsDecRel
    bool include_xids;
    bool include_timestamp;
    bool include_lsn;
    bool skip_empty_xacts;
    List *skip_schemas;  // char * schema names whose relations are skipped
    List *message_prefixes;  // char * prefixes of MESSAGE records to emit (NIL: all)
    List *skip_origins;  // int replication origin ids whose changes are not decoded
    pg_tz *utc;  // forced TimeZone while values are output
    MemoryContextCallback reset_cb;  // clears the invalidation target when the state dies
};

// Per-transaction state (txn->output_plugin_private).
struct EsDecTxn {
    bool begin_written;
};

// relation.cpp
void es_dec_relcache_init(EsDecState *st);
// The cache entry for `relation`, (re)built if needed. Call in st->change_cxt.
EsDecRel *es_dec_relation(EsDecState *st, Relation relation);
// Writes the RELATION record of `e` as its own output row if it is pending.
void es_dec_write_relation_if_pending(LogicalDecodingContext *ctx, EsDecRel *e);
// Appends a length-prefixed string ("<len>:<bytes>").
void es_dec_append_str(StringInfo out, const char *s, int len);
