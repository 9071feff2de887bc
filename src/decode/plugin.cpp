// Output plugin `electric_sync`: callbacks, options and the BEGIN / COMMIT / INSERT / UPDATE /
// DELETE / TRUNCATE / MESSAGE records. The format is specified in docs/decoding-format.md and
// parsed by src/core/decode/decoding_format.cpp.
//
// Modelled on contrib/test_decoding: small callbacks, per-transaction state in
// txn->output_plugin_private, a memory context reset after every change, strict options.
// Plain C-style code: no C++ objects with destructors, nothing throws.
#include "decode/plugin.hpp"
extern "C" {
#include "access/detoast.h"
#include "catalog/pg_class.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/bytea.h"
#include "utils/datetime.h"
#include "utils/float.h"
#include "replication/origin.h"
#include "utils/memutils.h"
}

#include <type_traits>

extern "C" {
PGDLLEXPORT void _PG_output_plugin_init(OutputPluginCallbacks *cb);
}
static_assert(std::is_same<decltype(&_PG_output_plugin_init), LogicalOutputPluginInit>::value,
              "_PG_output_plugin_init has the wrong signature");

// ---------------------------------------------------------------------------------------------
// Options

static void es_opt_bool(DefElem *elem, bool *out) {
    if (elem->arg == nullptr) {
        *out = true;  // "option" without a value means true, as in test_decoding
        return;
    }
    if (!parse_bool(strVal(elem->arg), out))
        ereport(ERROR,
                (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                 errmsg("could not parse value \"%s\" for parameter \"%s\"", strVal(elem->arg), elem->defname)));
}

static char *es_opt_text(DefElem *elem) {
    if (elem->arg == nullptr || strVal(elem->arg)[0] == '\0')
        ereport(ERROR,
                (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                 errmsg("parameter \"%s\" requires a non-empty value", elem->defname)));
    return pstrdup(strVal(elem->arg));
}

static void es_parse_options(EsDecState *st, List *options) {
    ListCell *lc;
    foreach (lc, options) {
        DefElem *elem = static_cast<DefElem *>(lfirst(lc));
        Assert(elem->arg == nullptr || IsA(elem->arg, String));
        if (strcmp(elem->defname, "include-xids") == 0) {
            es_opt_bool(elem, &st->include_xids);
        } else if (strcmp(elem->defname, "include-timestamp") == 0) {
            es_opt_bool(elem, &st->include_timestamp);
        } else if (strcmp(elem->defname, "include-lsn") == 0) {
            es_opt_bool(elem, &st->include_lsn);
        } else if (strcmp(elem->defname, "skip-empty-xacts") == 0) {
            es_opt_bool(elem, &st->skip_empty_xacts);
        } else if (strcmp(elem->defname, "skip-schema") == 0) {
            st->skip_schemas = lappend(st->skip_schemas, es_opt_text(elem));
        } else if (strcmp(elem->defname, "skip-origin") == 0) {
            char *v = es_opt_text(elem);
            char *end = nullptr;
            errno = 0;
            long id = strtol(v, &end, 10);
            if (errno != 0 || end == v || *end != '\0' || id <= 0 || id > PG_UINT16_MAX)
                ereport(ERROR,
                        (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                         errmsg("invalid value \"%s\" for parameter \"%s\"", v, elem->defname),
                         errhint("Give a replication origin id (roident of pg_replication_origin).")));
            st->skip_origins = lappend_int(st->skip_origins, static_cast<int>(id));
        } else if (strcmp(elem->defname, "message-prefix") == 0) {
            st->message_prefixes = lappend(st->message_prefixes, es_opt_text(elem));
        } else if (strcmp(elem->defname, "format-version") == 0) {
            char *v = es_opt_text(elem);
            if (strcmp(v, "1") != 0)
                ereport(ERROR,
                        (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                         errmsg("unsupported value \"%s\" for parameter \"%s\"", v, elem->defname),
                         errhint("This version of electric_sync writes format version 1.")));
        } else {
            ereport(
                ERROR,
                (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                 errmsg("option \"%s\" = \"%s\" is unknown", elem->defname, elem->arg ? strVal(elem->arg) : "(null)")));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Startup / shutdown

static void es_startup(LogicalDecodingContext *ctx, OutputPluginOptions *opt, bool is_init) {
    MemoryContext old = MemoryContextSwitchTo(ctx->context);
    auto *st = static_cast<EsDecState *>(palloc0(sizeof(EsDecState)));
    st->include_xids = true;
    st->include_timestamp = true;
    st->include_lsn = true;
    st->skip_empty_xacts = false;
    es_parse_options(st, ctx->output_plugin_options);

    st->utc = pg_tzset("UTC");
    if (st->utc == nullptr) elog(ERROR, "electric_sync: could not load time zone \"UTC\"");
    st->change_cxt = AllocSetContextCreate(ctx->context, "electric_sync change", ALLOCSET_DEFAULT_SIZES);
    st->cache_cxt = AllocSetContextCreate(ctx->context, "electric_sync relations", ALLOCSET_DEFAULT_SIZES);
    es_dec_relcache_init(st);

    opt->output_type = OUTPUT_PLUGIN_TEXTUAL_OUTPUT;
    opt->receive_rewrites = false;
    ctx->output_plugin_private = st;
    MemoryContextSwitchTo(old);
}

static void es_shutdown(LogicalDecodingContext *ctx) {
    auto *st = static_cast<EsDecState *>(ctx->output_plugin_private);
    if (st == nullptr) return;
    MemoryContextDelete(st->cache_cxt);  // its reset callback detaches the invalidation target
    MemoryContextDelete(st->change_cxt);
    st->rels = nullptr;
    ctx->output_plugin_private = nullptr;
}

// ---------------------------------------------------------------------------------------------
// Small writers

static void es_append_u64(StringInfo out, uint64 v) {
    enlargeStringInfo(out, 24);
    out->len += pg_ulltoa_n(v, out->data + out->len);
    out->data[out->len] = '\0';
}

static void es_append_i64(StringInfo out, int64 v) {
    enlargeStringInfo(out, 24);
    out->len += pg_lltoa(v, out->data + out->len);
    out->data[out->len] = '\0';
}

// " x=<xid> lsn=<commit lsn> end=<end lsn> t=<unix usec>", each part per the options.
static void es_append_txn_fields(EsDecState *st, StringInfo out, ReorderBufferTXN *txn, XLogRecPtr lsn) {
    if (st->include_xids) {
        appendStringInfoString(out, " x=");
        es_append_u64(out, txn->xid);
    }
    if (st->include_lsn) {
        appendStringInfoString(out, " lsn=");
        es_append_u64(out, lsn);
        appendStringInfoString(out, " end=");
        es_append_u64(out, txn->end_lsn);
    }
    if (st->include_timestamp) {
        appendStringInfoString(out, " t=");
        es_append_i64(out,
                      txn->xact_time.commit_time + (int64)(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY);
    }
}

static void es_write_begin(LogicalDecodingContext *ctx, ReorderBufferTXN *txn) {
    auto *st = static_cast<EsDecState *>(ctx->output_plugin_private);
    auto *td = static_cast<EsDecTxn *>(txn->output_plugin_private);
    OutputPluginPrepareWrite(ctx, true);
    appendStringInfoChar(ctx->out, 'B');
    es_append_txn_fields(st, ctx->out, txn, txn->final_lsn);
    OutputPluginWrite(ctx, true);
    if (td) td->begin_written = true;
}

static void es_ensure_begin(LogicalDecodingContext *ctx, ReorderBufferTXN *txn) {
    auto *td = static_cast<EsDecTxn *>(txn->output_plugin_private);
    if (td != nullptr && !td->begin_written) es_write_begin(ctx, txn);
}

// ---------------------------------------------------------------------------------------------
// BEGIN / COMMIT

static void es_begin(LogicalDecodingContext *ctx, ReorderBufferTXN *txn) {
    auto *st = static_cast<EsDecState *>(ctx->output_plugin_private);
    auto *td = static_cast<EsDecTxn *>(MemoryContextAllocZero(ctx->context, sizeof(EsDecTxn)));
    txn->output_plugin_private = td;
    if (!st->skip_empty_xacts) es_write_begin(ctx, txn);
}

static void es_commit(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, XLogRecPtr commit_lsn) {
    auto *st = static_cast<EsDecState *>(ctx->output_plugin_private);
    auto *td = static_cast<EsDecTxn *>(txn->output_plugin_private);
    bool wrote = td != nullptr && td->begin_written;
    if (td != nullptr) pfree(td);
    txn->output_plugin_private = nullptr;

    OutputPluginUpdateProgress(ctx, !wrote);
    if (!wrote) return;  // only with skip-empty-xacts: BEGIN was never written
    OutputPluginPrepareWrite(ctx, true);
    appendStringInfoChar(ctx->out, 'C');
    es_append_txn_fields(st, ctx->out, txn, commit_lsn);
    OutputPluginWrite(ctx, true);
}

// ---------------------------------------------------------------------------------------------
// Changes

// Output settings forced while values are converted to text (Electric's settings), so the
// output does not depend on the session's DateStyle / TimeZone / IntervalStyle /
// extra_float_digits / bytea_output. Saved and restored as plain globals: cheap per change.
struct EsOutputSettings {
    int date_style, date_order, interval_style, float_digits, bytea;
    pg_tz *tz;
};

static void es_force_settings(EsDecState *st, EsOutputSettings *saved) {
    saved->date_style = DateStyle;
    saved->date_order = DateOrder;
    saved->interval_style = IntervalStyle;
    saved->float_digits = extra_float_digits;
    saved->bytea = bytea_output;
    saved->tz = session_timezone;
    DateStyle = USE_ISO_DATES;
    DateOrder = DATEORDER_DMY;
    IntervalStyle = INTSTYLE_ISO_8601;
    extra_float_digits = 1;
    bytea_output = BYTEA_OUTPUT_HEX;
    session_timezone = st->utc;
}

static void es_restore_settings(const EsOutputSettings *saved) {
    DateStyle = saved->date_style;
    DateOrder = saved->date_order;
    IntervalStyle = saved->interval_style;
    extra_float_digits = saved->float_digits;
    bytea_output = saved->bytea;
    session_timezone = saved->tz;
}

// Appends " <section> <ncols> v1 .. vn": `n` NULL, `u` unchanged TOAST value, `-` not part of
// the old key, else "<len>:<text output>".
static void es_append_tuple(StringInfo out, EsDecRel *e, TupleDesc desc, HeapTuple tuple, char section, bool key_only) {
    Datum *values = static_cast<Datum *>(palloc(sizeof(Datum) * (desc->natts + 1)));
    bool *nulls = static_cast<bool *>(palloc(sizeof(bool) * (desc->natts + 1)));
    heap_deform_tuple(tuple, desc, values, nulls);

    appendStringInfoChar(out, ' ');
    appendStringInfoChar(out, section);
    appendStringInfoChar(out, ' ');
    es_append_u64(out, (uint64)e->ncols);
    for (int i = 0; i < e->ncols; i++) {
        EsDecColumn *c = &e->cols[i];
        int k = c->attnum - 1;
        if (key_only && !c->in_ident) {
            appendStringInfoString(out, " -");
        } else if (nulls[k]) {
            appendStringInfoString(out, " n");
        } else if (c->isvarlena && VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(values[k]))) {
            appendStringInfoString(out, " u");
        } else {
            char *s = OutputFunctionCall(&c->out, values[k]);
            appendStringInfoChar(out, ' ');
            es_dec_append_str(out, s, (int)strlen(s));
            pfree(s);
        }
    }
}

static void es_append_change(StringInfo out, EsDecRel *e, Relation relation, ReorderBufferChange *change) {
    TupleDesc desc = RelationGetDescr(relation);
    bool full = relation->rd_rel->relreplident == REPLICA_IDENTITY_FULL;
    ReorderBufferTupleBuf *oldt = change->data.tp.oldtuple;
    ReorderBufferTupleBuf *newt = change->data.tp.newtuple;
    char kind;
    switch (change->action) {
    case REORDER_BUFFER_CHANGE_INSERT:
        kind = 'I';
        oldt = nullptr;
        break;
    case REORDER_BUFFER_CHANGE_UPDATE: kind = 'U'; break;
    case REORDER_BUFFER_CHANGE_DELETE:
        kind = 'D';
        newt = nullptr;
        break;
    default: elog(ERROR, "electric_sync: unexpected change action %d", (int)change->action);
    }
    appendStringInfoChar(out, kind);
    appendStringInfoChar(out, ' ');
    es_append_u64(out, RelationGetRelid(relation));
    if (oldt != nullptr) es_append_tuple(out, e, desc, &oldt->tuple, full ? 'O' : 'K', !full);
    if (newt != nullptr) es_append_tuple(out, e, desc, &newt->tuple, 'N', false);
}

static void es_change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, Relation relation,
                      ReorderBufferChange *change) {
    auto *st = static_cast<EsDecState *>(ctx->output_plugin_private);
    MemoryContext old = MemoryContextSwitchTo(st->change_cxt);
    EsDecRel *e = es_dec_relation(st, relation);
    if (!e->skip) {
        es_ensure_begin(ctx, txn);
        es_dec_write_relation_if_pending(ctx, e);
        OutputPluginPrepareWrite(ctx, true);
        EsOutputSettings saved;
        es_force_settings(st, &saved);
        PG_TRY();
        { es_append_change(ctx->out, e, relation, change); }
        PG_FINALLY();
        { es_restore_settings(&saved); }
        PG_END_TRY();
        OutputPluginWrite(ctx, true);
    }
    MemoryContextSwitchTo(old);
    MemoryContextReset(st->change_cxt);
}

static void es_truncate(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, int nrelations, Relation relations[],
                        ReorderBufferChange *change) {
    auto *st = static_cast<EsDecState *>(ctx->output_plugin_private);
    MemoryContext old = MemoryContextSwitchTo(st->change_cxt);
    auto **kept = static_cast<EsDecRel **>(palloc(sizeof(EsDecRel *) * (nrelations + 1)));
    int n = 0;
    for (int i = 0; i < nrelations; i++) {
        EsDecRel *e = es_dec_relation(st, relations[i]);
        if (!e->skip) kept[n++] = e;
    }
    if (n > 0) {
        es_ensure_begin(ctx, txn);
        for (int i = 0; i < n; i++) es_dec_write_relation_if_pending(ctx, kept[i]);
        OutputPluginPrepareWrite(ctx, true);
        StringInfo out = ctx->out;
        appendStringInfoString(out, change->data.truncate.cascade ? "T cascade=t" : "T cascade=f");
        appendStringInfoString(out, change->data.truncate.restart_seqs ? " restart=t " : " restart=f ");
        es_append_u64(out, (uint64)n);
        for (int i = 0; i < n; i++) {
            appendStringInfoChar(out, ' ');
            es_append_u64(out, kept[i]->relid);
        }
        OutputPluginWrite(ctx, true);
    }
    MemoryContextSwitchTo(old);
    MemoryContextReset(st->change_cxt);
}

// ---------------------------------------------------------------------------------------------
// Messages (pg_logical_emit_message)

static bool es_prefix_wanted(EsDecState *st, const char *prefix) {
    if (st->message_prefixes == NIL) return true;
    ListCell *lc;
    foreach (lc, st->message_prefixes) {
        if (strcmp(static_cast<const char *>(lfirst(lc)), prefix) == 0) return true;
    }
    return false;
}

static void es_message(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, XLogRecPtr message_lsn, bool transactional,
                       const char *prefix, Size message_size, const char *message) {
    auto *st = static_cast<EsDecState *>(ctx->output_plugin_private);
    if (!es_prefix_wanted(st, prefix)) return;
    MemoryContext old = MemoryContextSwitchTo(st->change_cxt);
    if (transactional && txn != nullptr) es_ensure_begin(ctx, txn);
    OutputPluginPrepareWrite(ctx, true);
    StringInfo out = ctx->out;
    appendStringInfoString(out, transactional ? "M trans=t" : "M trans=f");
    if (st->include_lsn) {
        appendStringInfoString(out, " lsn=");
        es_append_u64(out, message_lsn);
    }
    appendStringInfoChar(out, ' ');
    es_dec_append_str(out, prefix, (int)strlen(prefix));
    appendStringInfoChar(out, ' ');
    int len = (int)message_size;
    if (memchr(message, '\0', message_size) == nullptr && pg_verifymbstr(message, len, true)) {
        es_dec_append_str(out, message, len);
    } else {
        // Not valid text in the database encoding: "x<len>:<hex>", len = decoded byte count.
        static const char hex[] = "0123456789abcdef";
        appendStringInfoChar(out, 'x');
        es_append_u64(out, (uint64)message_size);
        appendStringInfoChar(out, ':');
        enlargeStringInfo(out, len * 2 + 1);
        for (Size i = 0; i < message_size; i++) {
            unsigned char b = (unsigned char)message[i];
            out->data[out->len++] = hex[b >> 4];
            out->data[out->len++] = hex[b & 15];
        }
        out->data[out->len] = '\0';
    }
    OutputPluginWrite(ctx, true);
    MemoryContextSwitchTo(old);
    MemoryContextReset(st->change_cxt);
}

// Changes and messages written under one of the `skip-origin` replication origins are dropped
// before the reorder buffer sees them (the worker's snapshot connections write their chunk
// bodies under such an origin: decoding them back would queue and spill hundreds of MB).
static bool es_filter_by_origin(LogicalDecodingContext *ctx, RepOriginId origin_id) {
    auto *st = static_cast<EsDecState *>(ctx->output_plugin_private);
    if (st == nullptr || origin_id == InvalidRepOriginId) return false;
    return list_member_int(st->skip_origins, static_cast<int>(origin_id));
}

// ---------------------------------------------------------------------------------------------

void _PG_output_plugin_init(OutputPluginCallbacks *cb) {
    cb->startup_cb = es_startup;
    cb->begin_cb = es_begin;
    cb->change_cb = es_change;
    cb->truncate_cb = es_truncate;
    cb->commit_cb = es_commit;
    cb->message_cb = es_message;
    cb->shutdown_cb = es_shutdown;
    cb->filter_by_origin_cb = es_filter_by_origin;
    // No streaming and no two-phase callbacks: every transaction is decoded at its commit, as a
    // whole, with its commit LSN and time known at BEGIN (docs/decoding-format.md).
}
