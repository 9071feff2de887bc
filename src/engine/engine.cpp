// ShapeEngine: decode -> route -> append + processed LSN in one transaction -> confirm the slot
// -> publish. See docs/read-path.md for the exactly-once and snapshot-consistency arguments.
#include "pg/compat.hpp"
extern "C" {
#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "access/xlog.h"
#include "storage/standby.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
}
#include "core/decode/decoding_format.hpp"
#include "core/electric/electric.hpp"
#include "pg/spi.hpp"
#include "engine/engine.hpp"
#include "shape/where.hpp"
#include "shape/eval_watchdog.hpp"
#include "extension/guc_where.hpp"
#include "extension/guc.hpp"
#include "extension/shmem.hpp"

#include <nlohmann/json.hpp>

namespace es {

using electric::LogOffset;
using json = nlohmann::json;

struct RoutedShape {
    int64_t id = 0;
    uint32_t relid = 0;
    std::string schema, table;
    std::unique_ptr<CompiledWhere> where;
    std::vector<std::string> columns;     // selected, table order
    std::vector<std::string> pk_columns;  // key order
    bool full = false, changes_only = false;
    bool filter_pending = false;          // snapshot not applied yet: entries stay unpublished
    size_t chunk_acc = 0;                 // bytes since the last chunk end
    uint64_t visit = 0;                   // routing: already a candidate for this change
    int64_t log_bytes = 0;                // size of the stored log (rotation)
    bool stopped = false;                 // its where exceeded where_eval_timeout: failed at batch end
};

struct RelAttrs {
    std::unordered_map<std::string, int> attnum;  // name -> attnum
    int natts = 0;                                // max attnum (dropped included)
    std::vector<int> col_of_attnum;               // attnum -> column index in the decoded relation
};

struct ShapeEngine::Batch {
    std::vector<int64_t> ids, lsns, xids;
    std::vector<int32_t> ops;
    std::vector<bool> chunk_ends;
    std::vector<std::string> entries;
    std::unordered_map<int64_t, std::vector<svc::LogEntry>> appends;
    std::vector<std::pair<int64_t, std::vector<svc::LogEntry>>> logs;
    std::vector<int64_t> gone;
    std::vector<int64_t> to_fail;                             // stopped during routing
    std::vector<std::pair<int64_t, std::string>> failed;      // published after the commit
    uint64_t last_commit = 0, last_end = 0, changes = 0, txns = 0;
    bool wrote = false;  // anything written: then processed_lsn must be recorded with it
};

static std::vector<std::string> json_list(const std::optional<std::string> &s) {
    std::vector<std::string> out;
    if (!s) return out;
    auto j = json::parse(*s, nullptr, false);
    if (j.is_array())
        for (auto &e : j) out.push_back(e.get<std::string>());
    return out;
}

ShapeEngine::ShapeEngine(std::string slot, svc::ShapeHub &hub) : slot_(slot), hub_(hub), reader_(std::move(slot)) {
    watchdog::set_limit_ms(es_guc_where_eval_timeout_ms);
    watchdog::start();
}
ShapeEngine::~ShapeEngine() { watchdog::stop(); }

void ShapeEngine::reset() {
    reader_.close();
    shapes_.clear();
    by_rel_.clear();
    loaded_ = false;
    processed_lsn_ = 0;
}

RoutedShape *ShapeEngine::load_shape(int64_t id) {
    auto it = shapes_.find(id);
    if (it != shapes_.end()) return it->second.get();
    auto r = spi::exec(
        "SELECT s.relid::bigint::text, s.schema_name, s.table_name, coalesce(s.where_clause, ''), "
        "coalesce(array_to_json(s.params), '[]')::text, "
        "array_to_json(coalesce(s.columns, (SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_attribute a "
        "  WHERE a.attrelid = s.relid AND a.attnum > 0 AND NOT a.attisdropped)))::text, "
        "coalesce(array_to_json(s.pk_columns), '[]')::text, s.replica, s.log_mode, "
        "coalesce(rt.log_ready, false)::text "
        "FROM electric_sync.shapes s LEFT JOIN electric_sync.shape_runtime rt USING (shape_id) "
        "WHERE s.shape_id = $1::bigint AND s.status = 'active'",
        {std::to_string(id)});
    if (r.rows.empty()) return nullptr;
    auto &row = r.rows[0];
    auto s = std::make_unique<RoutedShape>();
    s->id = id;
    s->relid = static_cast<uint32_t>(std::stoul(*row[0]));
    s->schema = *row[1];
    s->table = *row[2];
    std::vector<std::string> params = json_list(row[4]);
    s->columns = json_list(row[5]);
    s->pk_columns = json_list(row[6]);
    s->full = *row[7] == "full";
    s->changes_only = *row[8] == "changes_only";
    s->filter_pending = !s->changes_only && *row[9] != "true";
    auto lb = spi::exec("SELECT coalesce(sum(bytes), 0)::text FROM electric_sync.shape_log WHERE shape_id = $1::bigint",
                        {std::to_string(id)});
    s->log_bytes = std::stoll(*lb.rows[0][0]);
    try {
        s->where = CompiledWhere::compile(s->relid, *row[3], params);
    } catch (const std::exception &e) {
        ereport(WARNING, (errmsg("electric_sync: shape %lld cannot be compiled: %s", (long long)id, e.what())));
        return nullptr;
    }
    RoutedShape *p = s.get();
    route_add(p);
    shapes_[id] = std::move(s);
    return p;
}

void ShapeEngine::route_add(RoutedShape *s) {
    RelRoute &rr = by_rel_[s->relid];
    rr.all.push_back(s);
    if (s->where->eq_attnum() > 0) {
        auto &ix = rr.index[s->where->eq_attnum()];
        for (auto &v : s->where->eq_values()) {
            auto &lst = ix[v];
            if (std::find(lst.begin(), lst.end(), s) == lst.end()) lst.push_back(s);
        }
    } else {
        rr.scan.push_back(s);
    }
}

void ShapeEngine::route_remove(RoutedShape *s) {
    auto it = by_rel_.find(s->relid);
    if (it == by_rel_.end()) return;
    RelRoute &rr = it->second;
    auto drop = [s](std::vector<RoutedShape *> &v) { v.erase(std::remove(v.begin(), v.end(), s), v.end()); };
    drop(rr.all);
    drop(rr.scan);
    for (auto ix = rr.index.begin(); ix != rr.index.end();) {
        for (auto kv = ix->second.begin(); kv != ix->second.end();) {
            drop(kv->second);
            kv = kv->second.empty() ? ix->second.erase(kv) : std::next(kv);
        }
        ix = ix->second.empty() ? rr.index.erase(ix) : std::next(ix);
    }
    if (rr.all.empty()) by_rel_.erase(it);
}

void ShapeEngine::load_all() {
    auto st = spi::exec("SELECT (processed_lsn - '0/0'::pg_lsn)::text FROM electric_sync.engine_state WHERE id = 1");
    processed_lsn_ = st.rows.empty() ? 0 : std::stoull(*st.rows[0][0]);
    last_seen_lsn_ = std::max(last_seen_lsn_, processed_lsn_);
    if (last_seen_lsn_) hub_.set_global_lsn(last_seen_lsn_);
    auto r = spi::exec("SELECT shape_id::text FROM electric_sync.shapes WHERE status = 'active' ORDER BY shape_id");
    for (auto &row : r.rows) load_shape(std::stoll(*row[0]));
    // The snapshot connections write their chunk bodies under these replication origins (one
    // per pool connection: an origin is used by one session at a time), and the plugin drops
    // changes of these origins before decoding them (docs/read-path.md, "Snapshot storage").
    spi::exec("SELECT pg_replication_origin_create(x.n) FROM (SELECT 'electric_sync_snapshot_' || g AS n "
              "FROM generate_series(0, $1::int - 1) g) x "
              "WHERE NOT EXISTS (SELECT 1 FROM pg_replication_origin o WHERE o.roname = x.n)",
              {std::to_string(es_guc_db_pool_size)});
    auto o = spi::exec("SELECT roident::text FROM pg_replication_origin "
                       "WHERE roname LIKE 'electric\\_sync\\_snapshot\\_%' ORDER BY roident");
    decode_opts_ = {{"skip-schema", "electric_sync"},
                    {"include-xids", "true"},
                    {"include-lsn", "true"},
                    {"include-timestamp", "false"}};
    for (auto &row : o.rows) decode_opts_.emplace_back("skip-origin", std::to_string(std::stoll(*row[0])));
    loaded_ = true;
}

void ShapeEngine::drop_shape(int64_t id, Batch &b, const char *reason, bool mark_invalid) {
    auto it = shapes_.find(id);
    if (it != shapes_.end()) {
        route_remove(it->second.get());
        shapes_.erase(it);
    }
    flush_inserts(b);
    std::string sid = std::to_string(id);
    if (mark_invalid)
        spi::exec("UPDATE electric_sync.shapes SET status = 'invalidated', invalidated_at = now(), invalid_reason = $2 "
                  "WHERE shape_id = $1::bigint AND status = 'active'",
                  {sid, std::string(reason)});
    spi::exec("DELETE FROM electric_sync.shape_log WHERE shape_id = $1::bigint", {sid});
    spi::exec("DELETE FROM electric_sync.shape_snapshot_chunks WHERE shape_id = $1::bigint", {sid});
    spi::exec("DELETE FROM electric_sync.shape_runtime WHERE shape_id = $1::bigint", {sid});
    b.appends.erase(id);
    b.gone.push_back(id);
}

// A shape whose where clause exceeded electric_sync.where_eval_timeout: stopped for good
// (status 'failed', the reason in invalid_reason), its log removed; its clients get a 400 that
// says why, and a new request of the same definition starts a new shape.
void ShapeEngine::fail_shape(int64_t id, Batch &b) {
    std::string reason = "the shape's where clause took longer than electric_sync.where_eval_timeout (" +
                         std::to_string(es_guc_where_eval_timeout_ms) +
                         " ms) on one change, so the shape was stopped; simplify the where clause or raise the limit";
    ereport(WARNING, (errmsg("electric_sync: shape %lld stopped: %s", static_cast<long long>(id), reason.c_str())));
    drop_shape(id, b, "failed", false);
    spi::exec("UPDATE electric_sync.shapes SET status = 'failed', invalidated_at = now(), invalid_reason = $2 "
              "WHERE shape_id = $1::bigint AND status = 'active'",
              {std::to_string(id), reason});
    b.gone.erase(std::remove(b.gone.begin(), b.gone.end(), id), b.gone.end());
    b.failed.emplace_back(id, reason);
}

// Messages from the SQL API and the snapshot jobs, in commit order.
void ShapeEngine::on_message(const std::string &content, Batch &b) {
    b.wrote = true;
    // Anyone may emit a message with our prefix: ignore what is not ours rather than stall.
    auto sp = content.find(' ');
    std::string kind = content.substr(0, sp);
    if (sp == std::string::npos) return;
    int64_t id = 0;
    try {
        id = std::stoll(content.substr(sp + 1));
    } catch (const std::exception &) {
        return;
    }
    if (kind == "shape_created") {
        RoutedShape *s = load_shape(id);
        if (s && s->changes_only) {
            spi::exec("INSERT INTO electric_sync.shape_runtime (shape_id, log_ready) VALUES ($1::bigint, true) "
                      "ON CONFLICT (shape_id) DO UPDATE SET log_ready = true",
                      {std::to_string(id)});
            b.logs.emplace_back(id, std::vector<svc::LogEntry>{});
        }
    } else if (kind == "shape_snapshot") {
        RoutedShape *s = load_shape(id);
        if (!s || !s->filter_pending) return;
        flush_inserts(b);
        std::string sid = std::to_string(id);
        // Remove entries of transactions the snapshot already saw. Logged xids are 32-bit: widen
        // each to the 64-bit xid nearest the snapshot's xmax (wraparound-safe), then apply the
        // snapshot's visibility rule (xid < xmin, or xid < xmax and not in xip).
        // The shape's segments are rewritten as one segment of the surviving entries (few: only
        // what was logged while its snapshot ran). No runtime row, or a NULL bound: keep all.
        spi::exec(
            "WITH seg AS (DELETE FROM electric_sync.shape_log WHERE shape_id = $1::bigint RETURNING *),"
            " e AS (SELECT u.* FROM seg, unnest(seg.lsns, seg.ops, seg.xids, seg.chunk_ends, seg.entries)"
            "   AS u(lsn, op, xid, chunk_end, entry)),"
            " r AS (SELECT snapshot_xmin, snapshot_xmax, coalesce(snapshot_xip, '{}') AS xip"
            "   FROM electric_sync.shape_runtime WHERE shape_id = $1::bigint),"
            " keep AS (SELECT e.* FROM e LEFT JOIN r ON true,"
            "   LATERAL (SELECT (((r.snapshot_xmax >> 32) << 32) | e.xid) AS raw) w,"
            "   LATERAL (SELECT CASE WHEN w.raw > r.snapshot_xmax + 2147483648 THEN w.raw - 4294967296"
            "     WHEN w.raw + 2147483648 < r.snapshot_xmax THEN w.raw + 4294967296"
            "     ELSE w.raw END AS fx) f"
            "   WHERE NOT coalesce(f.fx < r.snapshot_xmin OR (f.fx < r.snapshot_xmax AND f.fx <> ALL (r.xip)), false))"
            " INSERT INTO electric_sync.shape_log (shape_id, lsn, op, lsns, ops, xids, chunk_ends, entries, bytes)"
            " SELECT $1::bigint, (array_agg(lsn ORDER BY lsn, op))[1], (array_agg(op ORDER BY lsn, op))[1],"
            "   array_agg(lsn ORDER BY lsn, op), array_agg(op ORDER BY lsn, op), array_agg(xid ORDER BY lsn, op),"
            "   array_agg(chunk_end ORDER BY lsn, op), array_agg(entry ORDER BY lsn, op), sum(length(entry))"
            " FROM keep HAVING count(*) > 0",
            {sid});
        spi::exec("UPDATE electric_sync.shape_runtime SET log_ready = true WHERE shape_id = $1::bigint", {sid});
        auto r = spi::exec("SELECT lsn::text, op::text, chunk_end::text, entry FROM electric_sync.shape_log_entries "
                           "WHERE shape_id = $1::bigint ORDER BY lsn, op",
                           {sid});
        std::vector<svc::LogEntry> log;
        log.reserve(r.rows.size());
        for (auto &row : r.rows) {
            svc::LogEntry e;
            e.off = LogOffset::at(std::stoull(*row[0]), std::stoull(*row[1]));
            e.chunk_end = *row[2] == "true";
            e.json = std::move(*row[3]);
            log.push_back(std::move(e));
        }
        b.logs.emplace_back(id, std::move(log));
        s->filter_pending = false;
    } else if (kind == "shape_deleted") {
        drop_shape(id, b, "deleted", false);
    } else if (kind == "shape_invalidated") {
        drop_shape(id, b, "invalidated", false);
    }
}

// Appends the batch's entries to electric_sync.shape_log as segments (consecutive entries of one
// shape, up to kSegmentBytes of entries each) with a multi-insert (as COPY does) and the primary
// key's index entries: no SQL, no executor, one WAL record per heap page.
static const size_t kSegmentBytes = 6000;  // a segment row stays below toast_tuple_target

void ShapeEngine::flush_inserts(Batch &b) {
    if (b.ids.empty()) return;
    b.wrote = true;
    int n = static_cast<int>(b.ids.size());
    // In key order: a shape's entries form segments, consecutive index inserts land on the same
    // leaf pages, and a shape's rows sit together in the heap.
    std::vector<int> ord(n);
    for (int i = 0; i < n; i++) ord[i] = i;
    std::sort(ord.begin(), ord.end(), [&](int x, int y) {
        if (b.ids[x] != b.ids[y]) return b.ids[x] < b.ids[y];
        if (b.lsns[x] != b.lsns[y]) return b.lsns[x] < b.lsns[y];
        return b.ops[x] < b.ops[y];
    });
    const int *order = ord.data();
    pg_guard([&] {
        Oid nsp = get_namespace_oid("electric_sync", false);
        Oid relid = get_relname_relid("shape_log", nsp);
        if (!OidIsValid(relid)) elog(ERROR, "electric_sync: table electric_sync.shape_log is missing");
        Relation rel = table_open(relid, RowExclusiveLock);
        TupleDesc td = RelationGetDescr(rel);
        if (td->natts != 9) elog(ERROR, "electric_sync: electric_sync.shape_log has an unexpected layout");
        EState *estate = CreateExecutorState();
        ResultRelInfo *rri = makeNode(ResultRelInfo);
        InitResultRelInfo(rri, rel, 1, nullptr, 0);
        ExecOpenIndices(rri, false);
        // Slots over a private copy of the descriptor (not reference-counted: thousands of
        // pins would make the resource owner's bookkeeping quadratic), reused per group.
        TupleDesc tdc = CreateTupleDescCopy(td);
        const int group = 1000;
        TupleTableSlot **slots = static_cast<TupleTableSlot **>(palloc(sizeof(TupleTableSlot *) * group));
        for (int k = 0; k < group; k++) slots[k] = MakeSingleTupleTableSlot(tdc, &TTSOpsVirtual);
        BulkInsertState bis = GetBulkInsertState();
        ExprContext *econtext = GetPerTupleExprContext(estate);
        // The arrays, the heap tuples formed by the multi-insert and the index work: per group.
        MemoryContext gcxt = AllocSetContextCreate(CurrentMemoryContext, "electric_sync log insert", ALLOCSET_DEFAULT_SIZES);
        MemoryContext outer = MemoryContextSwitchTo(gcxt);
        int used = 0;
        auto flush_group = [&] {
            if (used == 0) return;
            table_multi_insert(rel, slots, used, GetCurrentCommandId(true), 0, bis);
            for (int k = 0; k < used; k++) {
                econtext->ecxt_scantuple = slots[k];
                if (rri->ri_NumIndices > 0) ExecInsertIndexTuples(rri, slots[k], estate, false, false, nullptr, NIL);
                ResetPerTupleExprContext(estate);
                ExecClearTuple(slots[k]);  // the slot materialized its own copy
            }
            used = 0;
            MemoryContextReset(gcxt);
        };
        Datum *lsns = static_cast<Datum *>(MemoryContextAlloc(outer, sizeof(Datum) * n));
        Datum *ops = static_cast<Datum *>(MemoryContextAlloc(outer, sizeof(Datum) * n));
        Datum *xids = static_cast<Datum *>(MemoryContextAlloc(outer, sizeof(Datum) * n));
        Datum *ends = static_cast<Datum *>(MemoryContextAlloc(outer, sizeof(Datum) * n));
        Datum *ents = static_cast<Datum *>(MemoryContextAlloc(outer, sizeof(Datum) * n));
        for (int i = 0; i < n;) {
            int64_t sid = b.ids[order[i]];
            size_t bytes = 0;
            int j = i;
            while (j < n && b.ids[order[j]] == sid &&
                   (j == i || bytes + b.entries[order[j]].size() <= kSegmentBytes)) {
                int e = order[j];
                int k = j - i;
                lsns[k] = Int64GetDatum(b.lsns[e]);
                ops[k] = Int32GetDatum(b.ops[e]);
                xids[k] = Int64GetDatum(b.xids[e]);
                ends[k] = BoolGetDatum(b.chunk_ends[e]);
                ents[k] = PointerGetDatum(cstring_to_text_with_len(b.entries[e].data(), (int)b.entries[e].size()));
                bytes += b.entries[e].size();
                j++;
            }
            int m = j - i;
            int first = order[i];
            TupleTableSlot *sl = slots[used];
            ExecClearTuple(sl);
            sl->tts_values[0] = Int64GetDatum(sid);
            sl->tts_values[1] = Int64GetDatum(b.lsns[first]);
            sl->tts_values[2] = Int32GetDatum(b.ops[first]);
            sl->tts_values[3] = PointerGetDatum(construct_array(lsns, m, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
            sl->tts_values[4] = PointerGetDatum(construct_array(ops, m, INT4OID, 4, true, TYPALIGN_INT));
            sl->tts_values[5] = PointerGetDatum(construct_array(xids, m, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
            sl->tts_values[6] = PointerGetDatum(construct_array(ends, m, BOOLOID, 1, true, TYPALIGN_CHAR));
            sl->tts_values[7] = PointerGetDatum(construct_array(ents, m, TEXTOID, -1, false, TYPALIGN_INT));
            sl->tts_values[8] = Int64GetDatum(static_cast<int64>(bytes));
            for (int c = 0; c < 9; c++) sl->tts_isnull[c] = false;
            ExecStoreVirtualTuple(sl);
            used++;
            if (used == group) flush_group();
            i = j;
        }
        flush_group();
        MemoryContextSwitchTo(outer);
        MemoryContextDelete(gcxt);
        pfree(lsns);
        pfree(ops);
        pfree(xids);
        pfree(ends);
        pfree(ents);
        FreeBulkInsertState(bis);
        for (int k = 0; k < group; k++) ExecDropSingleTupleTableSlot(slots[k]);
        pfree(slots);
        ExecCloseIndices(rri);
        FreeExecutorState(estate);
        table_close(rel, NoLock);
        // Later statements of this transaction (snapshot filtering, log reads) see the rows.
        CommandCounterIncrement();
    });
    b.ids.clear();
    b.lsns.clear();
    b.ops.clear();
    b.xids.clear();
    b.chunk_ends.clear();
    b.entries.clear();
}

namespace {

// Values of one tuple by column index of the decoded relation; unchanged TOAST values are taken
// from `fallback` (the old tuple) when it has them.
using Row = std::vector<std::optional<std::string_view>>;

Row tuple_values(const std::vector<decoding::Value> &vals, const std::vector<decoding::Value> *fallback) {
    Row r(vals.size());
    for (size_t i = 0; i < vals.size(); i++) {
        const auto &v = vals[i];
        if (v.is_text())
            r[i] = v.text;
        else if (v.is_unchanged_toast() && fallback && i < fallback->size() && (*fallback)[i].is_text())
            r[i] = (*fallback)[i].text;
    }
    return r;
}

}  // namespace

bool ShapeEngine::step(int batch_changes, int chunk_bytes, int64_t max_log_bytes) {
    watchdog::set_limit_ms(es_guc_where_eval_timeout_ms);
    try {
        return step_inner(batch_changes, chunk_bytes, max_log_bytes);
    } catch (...) {
        // The batch's transaction is rolled back, but the decoding context has moved past its
        // changes: start over from the slot (what is at or below processed_lsn is skipped).
        reader_.invalidate();
        throw;
    }
}

bool ShapeEngine::step_inner(int batch_changes, int chunk_bytes, int64_t max_log_bytes) {
    spi::Tx tx("electric_sync: routing changes");
    // The batch commits without waiting for its WAL flush (the flush is forced before the slot
    // is confirmed, below). If a crash loses it, the same changes are decoded again and produce
    // the same entries (offsets are commit LSN + op index): nothing is lost or duplicated.
    spi::exec("SET LOCAL synchronous_commit = off");
    if (!loaded_) load_all();
    rows_.clear();
    reader_.read(decode_opts_, batch_changes, rows_);
    if (reader_.generation() != dec_generation_) {
        dec_.reset();  // a new decoding context describes every relation again
        dec_generation_ = reader_.generation();
    }
    decoding::Decoder &dec = dec_;

    Batch b;
    std::unordered_map<uint32_t, RelAttrs> attrs;
    // Entries of the current transaction per shape (flushed at COMMIT).
    std::vector<std::pair<RoutedShape *, std::vector<std::pair<LogOffset, std::string>>>> txn;
    bool skip_txn = false;
    std::vector<int64_t> rotate;
    uint64_t commit_lsn = 0;
    uint32_t xid = 0;
    std::vector<std::optional<std::string>> wvals;
    std::string key, msg;

    auto txn_slot = [&](RoutedShape *s) -> std::vector<std::pair<LogOffset, std::string>> & {
        for (auto &p : txn)
            if (p.first == s) return p.second;
        txn.emplace_back(s, std::vector<std::pair<LogOffset, std::string>>{});
        return txn.back().second;
    };

    for (auto &row : rows_) {
        const decoding::Record &rec = dec.feed(row);
        switch (rec.kind) {
        case decoding::RecordKind::Begin:
            commit_lsn = rec.txn.commit_lsn.value_or(0);
            xid = rec.txn.xid.value_or(0);
            skip_txn = commit_lsn != 0 && commit_lsn <= processed_lsn_;
            txn.clear();
            break;
        case decoding::RecordKind::Commit: {
            uint64_t end = rec.txn.end_lsn.value_or(rec.txn.commit_lsn.value_or(0));
            if (!skip_txn) {
                for (auto &p : txn) {
                    RoutedShape *s = p.first;
                    auto &ents = p.second;
                    if (ents.empty()) continue;
                    // "last": true on the shape's last op of the transaction.
                    std::string &lastj = ents.back().second;
                    if (lastj.size() >= 2) {
                        lastj.resize(lastj.size() - 2);
                        lastj += ",\"last\":true}}";
                    }
                    size_t bytes = 0;
                    for (auto &e : ents) bytes += e.second.size();
                    s->chunk_acc += bytes;
                    s->log_bytes += static_cast<int64_t>(bytes);
                    if (max_log_bytes > 0 && s->log_bytes > max_log_bytes) rotate.push_back(s->id);
                    bool chunk_end = s->chunk_acc >= static_cast<size_t>(chunk_bytes);
                    if (chunk_end) s->chunk_acc = 0;
                    for (size_t i = 0; i < ents.size(); i++) {
                        bool ce = chunk_end && i + 1 == ents.size();
                        b.ids.push_back(s->id);
                        b.lsns.push_back(static_cast<int64_t>(ents[i].first.tx));
                        b.ops.push_back(static_cast<int32_t>(ents[i].first.op));
                        b.xids.push_back(xid);
                        b.chunk_ends.push_back(ce);
                        if (!s->filter_pending) {
                            svc::LogEntry le;
                            le.off = ents[i].first;
                            le.chunk_end = ce;
                            le.json = ents[i].second;
                            b.appends[s->id].push_back(std::move(le));
                        }
                        b.entries.push_back(std::move(ents[i].second));
                    }
                }
                b.last_commit = std::max(b.last_commit, commit_lsn);
                b.txns++;
                // Bounded logs: a shape past the limit is rotated (clients get 409 and re-sync
                // from a fresh, compact snapshot). docs/read-path.md.
                for (int64_t id : rotate) drop_shape(id, b, "rotated", true);
                rotate.clear();
            }
            b.last_end = std::max(b.last_end, end);
            txn.clear();
            if (b.ids.size() > 5000) flush_inserts(b);
            break;
        }
        case decoding::RecordKind::Relation:
            attrs.erase(rec.relation.oid);
            break;
        case decoding::RecordKind::Message:
            if (!skip_txn && rec.message.prefix == "electric_sync") on_message(rec.message.content, b);
            break;
        case decoding::RecordKind::Truncate:
            if (skip_txn) break;
            for (uint32_t relid : rec.truncate.relids) {
                auto it = by_rel_.find(relid);
                if (it == by_rel_.end()) continue;
                std::vector<int64_t> ids;
                for (auto *s : it->second.all) ids.push_back(s->id);
                for (auto id : ids) drop_shape(id, b, "truncate", true);
            }
            break;
        case decoding::RecordKind::Insert:
        case decoding::RecordKind::Update:
        case decoding::RecordKind::Delete: {
            if (skip_txn) break;
            const auto &ch = rec.change;
            auto it = by_rel_.find(ch.relid);
            if (it == by_rel_.end() || it->second.all.empty()) break;
            b.changes++;
            const decoding::RelationInfo &rel = dec.relation_of(ch);
            auto ait = attrs.find(ch.relid);
            if (ait == attrs.end()) {
                RelAttrs ra;
                auto r = spi::exec("SELECT attname::text, attnum::text FROM pg_attribute WHERE attrelid = $1::oid AND attnum > 0",
                                   {std::to_string(ch.relid)});
                for (auto &rr : r.rows) {
                    int an = std::stoi(*rr[1]);
                    if (rr[0]) ra.attnum[*rr[0]] = an;
                    ra.natts = std::max(ra.natts, an);
                }
                ra.col_of_attnum.assign(ra.natts + 1, -1);
                for (size_t i = 0; i < rel.columns.size(); i++) {
                    auto f = ra.attnum.find(rel.columns[i].name);
                    if (f != ra.attnum.end()) ra.col_of_attnum[f->second] = static_cast<int>(i);
                }
                ait = attrs.emplace(ch.relid, std::move(ra)).first;
            }
            const RelAttrs &ra = ait->second;
            bool old_full = ch.old_kind == decoding::OldKind::Full;
            Row newr, oldr;
            if (ch.has_new) newr = tuple_values(ch.new_values, old_full ? &ch.old_values : nullptr);
            if (ch.old_kind != decoding::OldKind::None) oldr = tuple_values(ch.old_values, nullptr);
            auto to_wvals = [&](const Row &r) {
                wvals.assign(ra.natts, std::nullopt);
                for (size_t i = 0; i < rel.columns.size() && i < r.size(); i++) {
                    auto f = ra.attnum.find(rel.columns[i].name);
                    if (f != ra.attnum.end() && r[i]) wvals[f->second - 1] = std::string(*r[i]);
                }
            };
            bool is_insert = rec.kind == decoding::RecordKind::Insert;
            bool is_delete = rec.kind == decoding::RecordKind::Delete;
            uint64_t op_base = static_cast<uint64_t>(dec.change_index()) * 2;
            // Candidates: every scan shape, plus indexed shapes whose key value the new or the
            // old row has (so routing costs O(matching shapes) for `col = const` shapes).
            const RelRoute &rr = it->second;
            std::vector<RoutedShape *> &cand = cand_;
            cand.clear();
            ++visit_stamp_;
            for (RoutedShape *s : rr.scan) {
                s->visit = visit_stamp_;
                cand.push_back(s);
            }
            for (auto &ix : rr.index) {
                int ci = ix.first > 0 && static_cast<size_t>(ix.first) < ra.col_of_attnum.size() ? ra.col_of_attnum[ix.first] : -1;
                if (ci < 0) {  // column not in this relation description: evaluate them all
                    for (auto &kv : ix.second)
                        for (RoutedShape *s : kv.second)
                            if (s->visit != visit_stamp_) { s->visit = visit_stamp_; cand.push_back(s); }
                    continue;
                }
                for (const Row *r : {&newr, &oldr}) {
                    if (static_cast<size_t>(ci) >= r->size() || !(*r)[ci]) continue;
                    auto f = ix.second.find(std::string(*(*r)[ci]));
                    if (f == ix.second.end()) continue;
                    for (RoutedShape *s : f->second)
                        if (s->visit != visit_stamp_) { s->visit = visit_stamp_; cand.push_back(s); }
                }
            }
            for (RoutedShape *s : cand) {
                if (s->stopped) continue;
                auto eval = [&](const Row &r) -> bool {
                    if (s->where->always_true()) return true;
                    if (s->where->eq_exact()) {
                        int an = s->where->eq_attnum();
                        int ci = static_cast<size_t>(an) < ra.col_of_attnum.size() ? ra.col_of_attnum[an] : -1;
                        if (ci >= 0)
                            return s->where->eq_match(static_cast<size_t>(ci) < r.size() ? r[ci] : std::nullopt);
                    }
                    to_wvals(r);
                    try {
                        return s->where->matches(wvals);
                    } catch (const std::exception &) {
                        if (watchdog::take_fired() && !s->stopped) {
                            s->stopped = true;
                            b.to_fail.push_back(s->id);
                        }
                        return false;
                    }
                };
                bool new_m = false, old_m = false;
                if (!is_delete) new_m = eval(newr);
                if (is_delete)
                    old_m = old_full ? eval(oldr) : true;
                else if (!is_insert)
                    old_m = old_full ? eval(oldr) : new_m;
                if (s->stopped || (!new_m && !old_m)) continue;
                // Column lookups in the decoded relation.
                auto col = [&](const std::string &name) { return rel.column_index(name); };
                auto key_of = [&](const Row &r) {
                    key.clear();
                    electric::append_key_prefix(key, s->schema, s->table);
                    for (auto &pk : s->pk_columns) {
                        int ci = col(pk);
                        electric::append_key_part(key, ci >= 0 && static_cast<size_t>(ci) < r.size() ? r[ci] : std::nullopt);
                    }
                    return key;
                };
                auto emit = [&](electric::Operation op, const std::string &k, const electric::ColumnValues &v,
                                const electric::ColumnValues *old, uint64_t opn, const std::string *kc_to,
                                const std::string *kc_from) {
                    electric::LiveHeaders lh;
                    lh.lsn = commit_lsn;
                    lh.op_position = static_cast<int64_t>(opn);
                    lh.txids = {xid};
                    electric::ChangeMessage m;
                    m.schema = s->schema;
                    m.table = s->table;
                    m.op = op;
                    m.key = k;
                    m.value = &v;
                    m.old_value = old;
                    m.live = &lh;
                    if (kc_to) m.key_change_to = *kc_to;
                    if (kc_from) m.key_change_from = *kc_from;
                    msg.clear();
                    electric::append_change_message(msg, m);
                    txn_slot(s).emplace_back(LogOffset::at(commit_lsn, opn), msg);
                };
                auto full_values = [&](const Row &r) {
                    electric::ColumnValues v;
                    for (auto &c : s->columns) {
                        int ci = col(c);
                        v.emplace_back(c, ci >= 0 && static_cast<size_t>(ci) < r.size() ? r[ci] : std::nullopt);
                    }
                    return v;
                };
                auto pk_values = [&](const Row &r) {
                    electric::ColumnValues v;
                    for (auto &c : s->pk_columns) {
                        int ci = col(c);
                        v.emplace_back(c, ci >= 0 && static_cast<size_t>(ci) < r.size() ? r[ci] : std::nullopt);
                    }
                    return v;
                };
                if (is_insert || (new_m && !old_m)) {
                    std::string k = key_of(newr);
                    emit(electric::Operation::Insert, k, full_values(newr), nullptr, op_base, nullptr, nullptr);
                } else if (is_delete || (old_m && !new_m)) {
                    const Row &r = is_delete ? oldr : (old_full ? oldr : newr);
                    std::string k = key_of(r);
                    emit(electric::Operation::Delete, k, s->full ? full_values(r) : pk_values(r), nullptr, op_base,
                         nullptr, nullptr);
                } else {
                    // Update inside the shape.
                    std::string nk = key_of(newr);
                    std::string ok = old_full ? key_of(oldr) : nk;
                    if (ok != nk) {
                        emit(electric::Operation::Delete, ok, s->full ? full_values(oldr) : pk_values(oldr), nullptr,
                             op_base, &nk, nullptr);
                        emit(electric::Operation::Insert, nk, full_values(newr), nullptr, op_base + 1, nullptr, &ok);
                        continue;
                    }
                    electric::ColumnValues v, oldv;
                    bool any = false;
                    for (auto &c : s->columns) {
                        int ci = col(c);
                        if (ci < 0) continue;
                        auto nv = static_cast<size_t>(ci) < newr.size() ? newr[ci] : std::nullopt;
                        auto ov = old_full && static_cast<size_t>(ci) < oldr.size() ? oldr[ci] : nv;
                        bool changed = !old_full || nv != ov;
                        bool is_pk = std::find(s->pk_columns.begin(), s->pk_columns.end(), c) != s->pk_columns.end();
                        if (changed) {
                            any = true;
                            if (s->full) oldv.emplace_back(c, ov);
                        }
                        if (s->full || changed || is_pk) v.emplace_back(c, nv);
                    }
                    if (!any) continue;
                    emit(electric::Operation::Update, nk, v, s->full ? &oldv : nullptr, op_base, nullptr, nullptr);
                }
            }
            break;
        }
        }
    }
    flush_inserts(b);
    for (int64_t id : b.to_fail) fail_shape(id, b);
    const bool full = rows_.size() >= static_cast<size_t>(batch_changes);
    if (rows_.capacity() > 100000) std::vector<std::string>().swap(rows_);  // after a huge transaction
    else rows_.clear();
    if (b.changes > 0) {
        uint32 n = pg_atomic_read_u32(&es_shared->fail_batches);
        while (n > 0 && !pg_atomic_compare_exchange_u32(&es_shared->fail_batches, &n, n - 1)) {
        }
        if (n > 0) throw std::runtime_error("injected batch failure (electric_sync._debug_fail_batches)");
    }
    // Only a batch that wrote records its position: the worker's own commits are decoded back
    // as empty transactions, and recording them would write again, forever.
    if (b.wrote && b.last_commit > processed_lsn_) {
        spi::exec("UPDATE electric_sync.engine_state SET processed_lsn = '0/0'::pg_lsn + $1::numeric WHERE id = 1",
                  {std::to_string(b.last_commit)});
    }
    tx.commit();
    if (b.wrote) {
        if (XactLastCommitEnd > engine_commit_end_) engine_commit_end_ = XactLastCommitEnd;
        if (b.last_commit > processed_lsn_) processed_lsn_ = b.last_commit;
    }

    // Confirm the slot only after the commit: a crash before this re-decodes the batch, and the
    // transactions at or below processed_lsn are skipped.
    // Publish (before confirming the slot, which can take a while): logs (filtered snapshots)
    // first, then appends, then gone shapes, then the lsn.
    for (auto &l : b.logs) hub_.publish_log(l.first, std::move(l.second));
    for (auto &a : b.appends) hub_.publish_append(a.first, std::move(a.second));
    for (auto id : b.gone) hub_.publish_gone(id);
    for (auto &f : b.failed)
        hub_.publish_failed(f.first, 400, electric::invalid_request_body("where", f.second));
    last_seen_lsn_ = std::max({last_seen_lsn_, processed_lsn_, b.last_commit});
    if (last_seen_lsn_) hub_.set_global_lsn(last_seen_lsn_);
    // worker_status.processed_lsn: every transaction that committed before it is in the logs.
    decoded_end_ = std::max(decoded_end_, b.last_end);
    pg_atomic_write_u64(&es_shared->processed_lsn, std::max(decoded_end_, processed_lsn_));
    pg_atomic_fetch_add_u64(&es_shared->changes_processed, b.changes);
    pg_atomic_fetch_add_u64(&es_shared->txns_processed, b.txns);

    // Confirming needs our batches' WAL flushed first (an fsync): done at most every 200 ms. A
    // crash in between decodes again from the slot, skipping what is processed.
    pending_end_ = std::max(pending_end_, b.last_end);
    TimestampTz now = GetCurrentTimestamp();
    if (pending_end_ > advanced_end_ && now - last_advance_ >= 200 * 1000) {
        uint64_t target = pending_end_;
        last_advance_ = now;
        advanced_end_ = target;
        // Our asynchronously committed log entries must be durable before the slot moves on.
        if (engine_commit_end_) pg_guard([&] { XLogFlush(engine_commit_end_); });
        reader_.confirm(target);
        spi::Tx tx2("electric_sync: checking the slot");
        // The slot's restart point (where decoding starts after a restart or an error) only
        // moves past a running-transactions WAL record (logged every 15 s). After a large
        // transaction that would mean decoding it again after a restart: log one now.
        auto lag = spi::exec("SELECT (confirmed_flush_lsn - restart_lsn)::text FROM pg_replication_slots WHERE slot_name = $1::text",
                             {slot_});
        bool log_snapshot = !lag.rows.empty() && lag.rows[0][0] && std::stoll(*lag.rows[0][0]) > 1024 * 1024 &&
                            now - last_standby_snapshot_ >= 500 * 1000;
        if (log_snapshot) {
            pg_guard([] { LogStandbySnapshot(); });
            last_standby_snapshot_ = now;
            last_advance_ = 0;  // confirm again at the next step, past that record
        }
        tx2.commit();
    }

    return full;
}

}  // namespace es
