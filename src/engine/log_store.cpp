// The shape log store (see log_store.hpp).
#include "pg/compat.hpp"
extern "C" {
#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
}
#include "engine/log_store.hpp"
#include "pg/spi.hpp"

#include <algorithm>
#include <numeric>

namespace es::logstore {

namespace {

// electric_sync.shape_log's columns, in table order (sql/install/30_shape_log.sql). append()
// checks the table against this list before writing by position.
enum Col { kShapeId, kLsn, kOp, kLsns, kOps, kXids, kChunkEnds, kEntries, kBytes, kNcols };
const char *const kColNames[kNcols] = {"shape_id", "lsn",        "op",      "lsns", "ops",
                                       "xids",     "chunk_ends", "entries", "bytes"};

// A segment row stays below toast_tuple_target (inline, uncompressed).
const size_t kSegmentBytes = 6000;
const int kGroup = 1000;  // slots per multi-insert

void check_layout(TupleDesc td) {
    bool ok = td->natts == kNcols;
    for (int c = 0; ok && c < kNcols; c++)
        ok = !TupleDescAttr(td, c)->attisdropped && strcmp(NameStr(TupleDescAttr(td, c)->attname), kColNames[c]) == 0;
    if (!ok) elog(ERROR, "electric_sync: electric_sync.shape_log has an unexpected layout");
}

// The entries' order: by shape, then offset (a shape's entries form segments, consecutive index
// inserts land on the same leaf pages, and a shape's rows sit together in the heap).
std::vector<int> key_order(const Pending &p) {
    std::vector<int> ord(p.size());
    std::iota(ord.begin(), ord.end(), 0);
    std::sort(ord.begin(), ord.end(), [&](int x, int y) {
        if (p.ids[x] != p.ids[y]) return p.ids[x] < p.ids[y];
        if (p.lsns[x] != p.lsns[y]) return p.lsns[x] < p.lsns[y];
        return p.ops[x] < p.ops[y];
    });
    return ord;
}

// Writes segment rows with table_multi_insert and their index entries (as COPY does): no SQL,
// no executor, one WAL record per heap page.
class SegmentWriter {
public:
    SegmentWriter() {
        Oid nsp = get_namespace_oid("electric_sync", false);
        Oid relid = get_relname_relid("shape_log", nsp);
        if (!OidIsValid(relid)) elog(ERROR, "electric_sync: table electric_sync.shape_log is missing");
        rel_ = table_open(relid, RowExclusiveLock);
        check_layout(RelationGetDescr(rel_));
        estate_ = CreateExecutorState();
        rri_ = makeNode(ResultRelInfo);
        InitResultRelInfo(rri_, rel_, 1, nullptr, 0);
        ExecOpenIndices(rri_, false);
        // Slots over a private copy of the descriptor (not reference-counted: thousands of pins
        // would make the resource owner's bookkeeping quadratic), reused per group.
        TupleDesc tdc = CreateTupleDescCopy(RelationGetDescr(rel_));
        slots_ = static_cast<TupleTableSlot **>(palloc(sizeof(TupleTableSlot *) * kGroup));
        for (int k = 0; k < kGroup; k++) slots_[k] = MakeSingleTupleTableSlot(tdc, &TTSOpsVirtual);
        bis_ = GetBulkInsertState();
        // The arrays, the heap tuples formed by the multi-insert and the index work: per group.
        gcxt_ = AllocSetContextCreate(CurrentMemoryContext, "electric_sync log insert", ALLOCSET_DEFAULT_SIZES);
    }

    // The next free slot, in the group's memory context.
    TupleTableSlot *next() {
        TupleTableSlot *sl = slots_[used_];
        ExecClearTuple(sl);
        return sl;
    }
    MemoryContext group_context() const { return gcxt_; }
    void stored() {
        if (++used_ == kGroup) flush();
    }

    void flush() {
        if (used_ == 0) return;
        MemoryContext outer = MemoryContextSwitchTo(gcxt_);
        table_multi_insert(rel_, slots_, used_, GetCurrentCommandId(true), 0, bis_);
        ExprContext *econtext = GetPerTupleExprContext(estate_);
        for (int k = 0; k < used_; k++) {
            econtext->ecxt_scantuple = slots_[k];
            if (rri_->ri_NumIndices > 0) ExecInsertIndexTuples(rri_, slots_[k], estate_, false, false, nullptr, NIL);
            ResetPerTupleExprContext(estate_);
            ExecClearTuple(slots_[k]);  // the slot materialized its own copy
        }
        used_ = 0;
        MemoryContextSwitchTo(outer);
        MemoryContextReset(gcxt_);
    }

    void close() {
        flush();
        MemoryContextDelete(gcxt_);
        FreeBulkInsertState(bis_);
        for (int k = 0; k < kGroup; k++) ExecDropSingleTupleTableSlot(slots_[k]);
        pfree(slots_);
        ExecCloseIndices(rri_);
        FreeExecutorState(estate_);
        table_close(rel_, NoLock);
    }

private:
    Relation rel_;
    EState *estate_;
    ResultRelInfo *rri_;
    TupleTableSlot **slots_;
    BulkInsertState bis_;
    MemoryContext gcxt_;
    int used_ = 0;
};

// One segment: entries order[i..j) of one shape. Fills the slot's values in the group context.
void fill_segment(TupleTableSlot *sl, const Pending &p, const int *order, int i, int j, size_t bytes, Datum *scratch) {
    int m = j - i;
    Datum *lsns = scratch, *ops = scratch + m, *xids = scratch + 2 * m, *ends = scratch + 3 * m,
          *ents = scratch + 4 * m;
    for (int k = 0; k < m; k++) {
        int e = order[i + k];
        lsns[k] = Int64GetDatum(p.lsns[e]);
        ops[k] = Int32GetDatum(p.ops[e]);
        xids[k] = Int64GetDatum(p.xids[e]);
        ends[k] = BoolGetDatum(p.chunk_ends[e]);
        ents[k] = PointerGetDatum(cstring_to_text_with_len(p.entries[e].data(), static_cast<int>(p.entries[e].size())));
    }
    int first = order[i];
    sl->tts_values[kShapeId] = Int64GetDatum(p.ids[first]);
    sl->tts_values[kLsn] = Int64GetDatum(p.lsns[first]);
    sl->tts_values[kOp] = Int32GetDatum(p.ops[first]);
    sl->tts_values[kLsns] = PointerGetDatum(construct_array(lsns, m, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
    sl->tts_values[kOps] = PointerGetDatum(construct_array(ops, m, INT4OID, 4, true, TYPALIGN_INT));
    sl->tts_values[kXids] = PointerGetDatum(construct_array(xids, m, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
    sl->tts_values[kChunkEnds] = PointerGetDatum(construct_array(ends, m, BOOLOID, 1, true, TYPALIGN_CHAR));
    sl->tts_values[kEntries] = PointerGetDatum(construct_array(ents, m, TEXTOID, -1, false, TYPALIGN_INT));
    sl->tts_values[kBytes] = Int64GetDatum(static_cast<int64>(bytes));
    for (int c = 0; c < kNcols; c++) sl->tts_isnull[c] = false;
    ExecStoreVirtualTuple(sl);
}

}  // namespace

void Pending::add(int64_t shape_id, const electric::LogOffset &off, uint32_t xid, bool chunk_end, std::string entry) {
    ids.push_back(shape_id);
    lsns.push_back(static_cast<int64_t>(off.tx));
    ops.push_back(static_cast<int32_t>(off.op));
    xids.push_back(xid);
    chunk_ends.push_back(chunk_end);
    entries.push_back(std::move(entry));
}

void Pending::clear() {
    ids.clear();
    lsns.clear();
    ops.clear();
    xids.clear();
    chunk_ends.clear();
    entries.clear();
}

void append(Pending &p) {
    if (p.empty()) return;
    const int n = static_cast<int>(p.size());
    std::vector<int> ord = key_order(p);
    const int *order = ord.data();
    pg_guard([&] {
        SegmentWriter w;
        Datum *scratch = static_cast<Datum *>(palloc(sizeof(Datum) * 5 * n));
        for (int i = 0; i < n;) {
            int64_t sid = p.ids[order[i]];
            size_t bytes = 0;
            int j = i;
            while (j < n && p.ids[order[j]] == sid && (j == i || bytes + p.entries[order[j]].size() <= kSegmentBytes))
                bytes += p.entries[order[j++]].size();
            TupleTableSlot *sl = w.next();
            MemoryContext outer = MemoryContextSwitchTo(w.group_context());
            fill_segment(sl, p, order, i, j, bytes, scratch);
            MemoryContextSwitchTo(outer);
            w.stored();
            i = j;
        }
        w.close();
        pfree(scratch);
        // Later statements of this transaction (snapshot filtering, log reads) see the rows.
        CommandCounterIncrement();
    });
    p.clear();
}

void apply_snapshot(int64_t shape_id) {
    spi::exec("SELECT electric_sync._shape_log_apply_snapshot($1::bigint)", {std::to_string(shape_id)});
}

std::vector<svc::LogEntry> read(int64_t shape_id) {
    auto r = spi::exec(svc::kReadShapeLogSql, {std::to_string(shape_id)});
    std::vector<svc::LogEntry> log;
    log.reserve(r.rows.size());
    for (auto &row : r.rows) log.push_back(svc::log_entry_from_row(*row[0], *row[1], *row[2], std::move(*row[3])));
    return log;
}

int64_t bytes(int64_t shape_id) {
    auto r = spi::exec("SELECT coalesce(sum(bytes), 0)::text FROM electric_sync.shape_log WHERE shape_id = $1::bigint",
                       {std::to_string(shape_id)});
    return std::stoll(*r.rows[0][0]);
}

void remove(int64_t shape_id) {
    std::string sid = std::to_string(shape_id);
    spi::exec("DELETE FROM electric_sync.shape_log WHERE shape_id = $1::bigint", {sid});
    spi::exec("DELETE FROM electric_sync.shape_snapshot_chunks WHERE shape_id = $1::bigint", {sid});
    spi::exec("DELETE FROM electric_sync.shape_runtime WHERE shape_id = $1::bigint", {sid});
}

}  // namespace es::logstore
