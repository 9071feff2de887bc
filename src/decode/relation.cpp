// Output plugin, relation side: the per-session relation cache (output functions, replica
// identity columns, the skip flag) and the RELATION records (docs/decoding-format.md, "R RELATION").
//
// A RELATION record is written the first time a relation is used in a decoding session and
// again whenever its description changes: relcache invalidations (ALTER TABLE, replica identity,
// indexes) and syscache invalidations of schemas and types (renames) mark entries invalid; the
// next use rebuilds the entry and compares the new record text with the last one.
//
// Plain C-style code: no C++ objects with destructors, nothing throws.
#include "decode/plugin.hpp"
extern "C" {
#include "access/relation.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/relcache.h"
#include "utils/syscache.h"
}

// The state of the decoding session running in this backend (at most one at a time), or NULL.
// Cleared by a reset callback when the session's memory goes away, including on ERROR.
static EsDecState *es_dec_current = nullptr;
static bool es_dec_callbacks_registered = false;

static void es_dec_invalidate_all(void) {
    if (es_dec_current == nullptr || es_dec_current->rels == nullptr) return;
    HASH_SEQ_STATUS status;
    hash_seq_init(&status, es_dec_current->rels);
    EsDecRel *e;
    while ((e = static_cast<EsDecRel *>(hash_seq_search(&status))) != nullptr) e->valid = false;
}

static void es_dec_relcache_cb(Datum arg, Oid relid) {
    if (es_dec_current == nullptr || es_dec_current->rels == nullptr) return;
    if (!OidIsValid(relid)) {
        es_dec_invalidate_all();
        return;
    }
    auto *e = static_cast<EsDecRel *>(hash_search(es_dec_current->rels, &relid, HASH_FIND, nullptr));
    if (e != nullptr) e->valid = false;
}

static void es_dec_syscache_cb(Datum arg, int cacheid, uint32 hashvalue) { es_dec_invalidate_all(); }

static void es_dec_state_gone(void *arg) {
    if (es_dec_current == static_cast<EsDecState *>(arg)) es_dec_current = nullptr;
}

void es_dec_relcache_init(EsDecState *st) {
    HASHCTL ctl;
    memset(&ctl, 0, sizeof ctl);
    ctl.keysize = sizeof(Oid);
    ctl.entrysize = sizeof(EsDecRel);
    ctl.hcxt = st->cache_cxt;
    st->rels = hash_create("electric_sync decoded relations", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
    st->reset_cb.func = es_dec_state_gone;
    st->reset_cb.arg = st;
    MemoryContextRegisterResetCallback(st->cache_cxt, &st->reset_cb);
    es_dec_current = st;
    if (!es_dec_callbacks_registered) {
        // These registrations last for the backend's life; the callbacks do nothing while no
        // decoding session runs.
        CacheRegisterRelcacheCallback(es_dec_relcache_cb, (Datum)0);
        CacheRegisterSyscacheCallback(NAMESPACEOID, es_dec_syscache_cb, (Datum)0);
        CacheRegisterSyscacheCallback(TYPEOID, es_dec_syscache_cb, (Datum)0);
        es_dec_callbacks_registered = true;
    }
}

void es_dec_append_str(StringInfo out, const char *s, int len) {
    enlargeStringInfo(out, len + 12);
    int n = pg_ltoa(len, out->data + out->len);
    out->len += n;
    out->data[out->len++] = ':';
    memcpy(out->data + out->len, s, len);
    out->len += len;
    out->data[out->len] = '\0';
}

static void append_cstr(StringInfo out, const char *s) { es_dec_append_str(out, s, (int)strlen(s)); }

static void append_int(StringInfo out, int32 v) {
    enlargeStringInfo(out, 12);
    out->len += pg_ltoa(v, out->data + out->len);
    out->data[out->len] = '\0';
}

static void append_uint(StringInfo out, uint32 v) {
    enlargeStringInfo(out, 12);
    out->len += pg_ultoa_n(v, out->data + out->len);
    out->data[out->len] = '\0';
}

static bool schema_is_skipped(EsDecState *st, const char *nspname) {
    ListCell *lc;
    foreach (lc, st->skip_schemas) {
        if (strcmp(static_cast<const char *>(lfirst(lc)), nspname) == 0) return true;
    }
    return false;
}

// Fills pos[attnum] (1-based) with each key column's 1-based position in index `indexoid`.
static void index_positions(Oid indexoid, int16 *pos) {
    if (!OidIsValid(indexoid)) return;
    Relation idx = RelationIdGetRelation(indexoid);
    if (!RelationIsValid(idx)) elog(ERROR, "electric_sync: could not open index %u", indexoid);
    int nkeys = idx->rd_index->indnkeyatts;
    for (int i = 0; i < nkeys; i++) {
        AttrNumber a = idx->rd_index->indkey.values[i];
        if (a > 0) pos[a] = (int16)(i + 1);
    }
    RelationClose(idx);
}

// Appends one column description: name typoid typmod typname typtype dims notnull pk ident.
static void append_column(StringInfo out, Form_pg_attribute att, int pk, int ident) {
    HeapTuple tp = SearchSysCache1(TYPEOID, ObjectIdGetDatum(att->atttypid));
    if (!HeapTupleIsValid(tp)) elog(ERROR, "electric_sync: cache lookup failed for type %u", att->atttypid);
    auto *typ = (Form_pg_type)GETSTRUCT(tp);
    int dims = 0;
    HeapTuple elemtp = nullptr;
    if (IsTrueArrayType(typ)) {
        dims = att->attndims > 0 ? att->attndims : 1;
        elemtp = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typ->typelem));
        if (!HeapTupleIsValid(elemtp)) elog(ERROR, "electric_sync: cache lookup failed for type %u", typ->typelem);
        typ = (Form_pg_type)GETSTRUCT(elemtp);
    }
    appendStringInfoChar(out, ' ');
    append_cstr(out, NameStr(att->attname));
    appendStringInfoChar(out, ' ');
    append_uint(out, att->atttypid);
    appendStringInfoChar(out, ' ');
    append_int(out, att->atttypmod);
    appendStringInfoChar(out, ' ');
    append_cstr(out, NameStr(typ->typname));
    appendStringInfoChar(out, ' ');
    appendStringInfoChar(out, typ->typtype);
    appendStringInfoChar(out, ' ');
    append_int(out, dims);
    appendStringInfoString(out, att->attnotnull ? " t " : " f ");
    append_int(out, pk);
    appendStringInfoChar(out, ' ');
    append_int(out, ident);
    if (elemtp) ReleaseSysCache(elemtp);
    ReleaseSysCache(tp);
}

// Rebuilds entry `e` from `relation` (current memory context: the per-change context).
static void es_dec_rebuild(EsDecState *st, EsDecRel *e, Relation relation) {
    MemoryContext cxt = AllocSetContextCreate(st->cache_cxt, "electric_sync relation", ALLOCSET_SMALL_SIZES);
    TupleDesc desc = RelationGetDescr(relation);
    char *nspname = get_namespace_name(RelationGetNamespace(relation));
    if (nspname == nullptr) nspname = pstrdup("");

    bool skip = schema_is_skipped(st, nspname);
    int ncols = 0;
    EsDecColumn *cols = nullptr;
    StringInfoData buf;
    initStringInfo(&buf);
    if (!skip) {
        for (int i = 0; i < desc->natts; i++)
            if (!TupleDescAttr(desc, i)->attisdropped) ncols++;
        cols = static_cast<EsDecColumn *>(MemoryContextAllocZero(cxt, sizeof(EsDecColumn) * (ncols + 1)));

        Bitmapset *identkey = RelationGetIdentityKeyBitmap(relation);
        int16 *pkpos = static_cast<int16 *>(palloc0(sizeof(int16) * (desc->natts + 1)));
        int16 *identpos = static_cast<int16 *>(palloc0(sizeof(int16) * (desc->natts + 1)));
        index_positions(RelationGetPrimaryKeyIndex(relation), pkpos);
        index_positions(RelationGetReplicaIndex(relation), identpos);

        appendStringInfoString(&buf, "R ");
        append_uint(&buf, RelationGetRelid(relation));
        appendStringInfoChar(&buf, ' ');
        append_cstr(&buf, nspname);
        appendStringInfoChar(&buf, ' ');
        append_cstr(&buf, RelationGetRelationName(relation));
        appendStringInfoChar(&buf, ' ');
        appendStringInfoChar(&buf, relation->rd_rel->relreplident);
        appendStringInfoChar(&buf, ' ');
        append_int(&buf, ncols);

        int c = 0;
        for (int i = 0; i < desc->natts; i++) {
            Form_pg_attribute att = TupleDescAttr(desc, i);
            if (att->attisdropped) continue;
            EsDecColumn *col = &cols[c++];
            col->attnum = att->attnum;
            col->in_ident = bms_is_member(att->attnum - FirstLowInvalidHeapAttributeNumber, identkey);
            Oid outfn;
            getTypeOutputInfo(att->atttypid, &outfn, &col->isvarlena);
            fmgr_info_cxt(outfn, &col->out, cxt);
            append_column(&buf, att, pkpos[att->attnum], identpos[att->attnum]);
        }
    }

    bool changed = e->desc == nullptr || e->desc_len != buf.len || memcmp(e->desc, buf.data, buf.len) != 0;
    char *descopy = static_cast<char *>(MemoryContextAlloc(cxt, buf.len + 1));
    memcpy(descopy, buf.data, buf.len + 1);

    if (e->cxt != nullptr) MemoryContextDelete(e->cxt);
    e->cxt = cxt;
    e->cols = cols;
    e->ncols = ncols;
    e->skip = skip;
    e->desc = descopy;
    e->desc_len = buf.len;
    if (changed && !skip) e->desc_pending = true;
    if (skip) e->desc_pending = false;
    e->valid = true;
}

EsDecRel *es_dec_relation(EsDecState *st, Relation relation) {
    Oid relid = RelationGetRelid(relation);
    bool found;
    auto *e = static_cast<EsDecRel *>(hash_search(st->rels, &relid, HASH_ENTER, &found));
    if (!found) {
        e->valid = false;
        e->skip = false;
        e->desc_pending = false;
        e->ncols = 0;
        e->cols = nullptr;
        e->desc = nullptr;
        e->desc_len = 0;
        e->cxt = nullptr;
    }
    if (!e->valid) es_dec_rebuild(st, e, relation);
    return e;
}

void es_dec_write_relation_if_pending(LogicalDecodingContext *ctx, EsDecRel *e) {
    if (!e->desc_pending) return;
    OutputPluginPrepareWrite(ctx, true);
    appendBinaryStringInfo(ctx->out, e->desc, e->desc_len);
    OutputPluginWrite(ctx, true);
    e->desc_pending = false;
}
