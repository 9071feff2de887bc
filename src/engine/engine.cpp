// ShapeEngine: decode -> route -> append + processed LSN in one transaction -> publish -> confirm
// the slot. See docs/read-path.md for the exactly-once and snapshot-consistency arguments.
#include "pg/compat.hpp"
extern "C" {
#include "access/xact.h"
#include "access/xlog.h"
#include "storage/standby.h"
#include "utils/timestamp.h"
}
#include "core/common/engine_message.hpp"
#include "core/decode/decoding_format.hpp"
#include "core/electric/electric.hpp"
#include "core/electric/row_change.hpp"
#include "core/electric/shape_description.hpp"
#include "engine/engine.hpp"
#include "engine/log_store.hpp"
#include "extension/guc.hpp"
#include "extension/guc_where.hpp"
#include "extension/shmem.hpp"
#include "pg/spi.hpp"
#include "shape/eval_watchdog.hpp"
#include "shape/where.hpp"

namespace es {

using electric::LogOffset;
using electric::OffsetMessage;
using electric::RowValues;

struct ShapeEngine::Batch {
    int chunk_bytes = 0;
    int64_t max_log_bytes = 0;
    logstore::Pending pending;  // to append to the logs
    std::unordered_map<int64_t, std::vector<svc::LogEntry>> appends;  // published after the commit
    std::vector<std::pair<int64_t, std::vector<svc::LogEntry>>> logs;  // filtered logs, published
    std::vector<int64_t> gone;
    std::vector<int64_t> to_fail;  // stopped during routing
    std::vector<std::pair<int64_t, std::string>> failed;  // published after the commit
    uint64_t last_commit = 0, last_end = 0, changes = 0, txns = 0;
    bool wrote = false;  // anything written: then processed_lsn must be recorded with it
    // The transaction being decoded: its entries per shape (logged at COMMIT).
    uint64_t commit_lsn = 0;
    uint32_t xid = 0;
    bool skip_txn = false;
    std::vector<std::pair<RoutedShape *, std::vector<OffsetMessage>>> txn;
    std::vector<uint32_t> txn_relids;  // tables the transaction changed (any, with shapes or not)
    std::vector<int64_t> rotate;

    std::vector<OffsetMessage> &txn_entries(RoutedShape *s) {
        for (auto &p : txn)
            if (p.first == s) return p.second;
        txn.emplace_back(s, std::vector<OffsetMessage>{});
        return txn.back().second;
    }
    void flush() {
        if (pending.empty()) return;
        wrote = true;
        logstore::append(pending);
    }
};

namespace {

// Values of one tuple by column index of the decoded relation; unchanged TOAST values are taken
// from `fallback` (the old tuple) when it has them.
RowValues tuple_values(const std::vector<decoding::Value> &vals, const std::vector<decoding::Value> *fallback) {
    RowValues r(vals.size());
    for (size_t i = 0; i < vals.size(); i++) {
        const auto &v = vals[i];
        if (v.is_text())
            r[i] = v.text;
        else if (v.is_unchanged_toast() && fallback && i < fallback->size() && (*fallback)[i].is_text())
            r[i] = (*fallback)[i].text;
    }
    return r;
}

electric::RowOp row_op(decoding::RecordKind k) {
    return k == decoding::RecordKind::Insert ? electric::RowOp::Insert
        : k == decoding::RecordKind::Delete  ? electric::RowOp::Delete
                                             : electric::RowOp::Update;
}

// The shape's columns against the decoded relation.
struct ResolvedColumns {
    std::vector<int> columns, pk;
    electric::ShapeColumns resolve(const RoutedShape &s, const decoding::RelationInfo &rel) {
        columns.clear();
        pk.clear();
        for (auto &c : s.columns) columns.push_back(rel.column_index(c));
        for (auto &c : s.pk_columns) pk.push_back(rel.column_index(c));
        electric::ShapeColumns sc;
        sc.schema = s.schema;
        sc.table = s.table;
        sc.columns = &s.columns;
        sc.column_index = &columns;
        sc.pk_columns = &s.pk_columns;
        sc.pk_index = &pk;
        sc.full = s.full;
        return sc;
    }
};

}  // namespace

ShapeEngine::ShapeEngine(std::string slot, svc::ShapeHub &hub) : slot_(slot), hub_(hub), reader_(std::move(slot)) {
    watchdog::set_limit_ms(es_guc_where_eval_timeout_ms);
    watchdog::start();
}
ShapeEngine::~ShapeEngine() { watchdog::stop(); }

void ShapeEngine::reset() {
    reader_.close();
    shapes_.clear();
    router_.clear();
    loaded_ = false;
    processed_lsn_ = 0;
}

// ---- loading ----

RoutedShape *ShapeEngine::load_shape(int64_t id) {
    auto it = shapes_.find(id);
    if (it != shapes_.end()) return it->second.get();
    auto r = spi::exec(std::string(electric::kShapeDescriptionSelect) + electric::kShapeDescriptionFrom +
                           " WHERE s.shape_id = $1::bigint AND s.status = 'active'",
                       {std::to_string(id)});
    if (r.rows.empty()) return nullptr;
    auto s = std::make_unique<RoutedShape>();
    static_cast<electric::ShapeDescription &>(*s) = electric::shape_description_from_row(r.rows[0]);
    s->filter_pending = !s->changes_only && !s->log_ready;
    s->log_bytes = logstore::bytes(id);
    try {
        s->compiled = CompiledWhere::compile(s->relid, s->where, s->params);
    } catch (const std::exception &e) {
        ereport(WARNING, (errmsg("electric_sync: shape %lld cannot be compiled: %s", (long long)id, e.what())));
        return nullptr;
    }
    RoutedShape *p = s.get();
    router_.add(p);
    shapes_[id] = std::move(s);
    return p;
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
    spi::exec(
        "SELECT pg_replication_origin_create(x.n) FROM (SELECT 'electric_sync_snapshot_' || g AS n "
        "FROM generate_series(0, $1::int - 1) g) x "
        "WHERE NOT EXISTS (SELECT 1 FROM pg_replication_origin o WHERE o.roname = x.n)",
        {std::to_string(es_guc_db_pool_size)});
    auto o = spi::exec(
        "SELECT roident::text FROM pg_replication_origin "
        "WHERE roname LIKE 'electric\\_sync\\_snapshot\\_%' ORDER BY roident");
    decode_opts_ = {{"skip-schema", "electric_sync"},
                    {"include-xids", "true"},
                    {"include-lsn", "true"},
                    {"include-timestamp", "false"}};
    for (auto &row : o.rows) decode_opts_.emplace_back("skip-origin", std::to_string(std::stoll(*row[0])));
    loaded_ = true;
}

// ---- shape lifecycle inside a batch ----

void ShapeEngine::drop_shape(int64_t id, Batch &b, const char *reason, bool mark_invalid) {
    auto it = shapes_.find(id);
    if (it != shapes_.end()) {
        router_.remove(it->second.get());
        shapes_.erase(it);
    }
    b.flush();
    if (mark_invalid)
        spi::exec(
            "UPDATE electric_sync.shapes SET status = 'invalidated', invalidated_at = now(), invalid_reason = $2 "
            "WHERE shape_id = $1::bigint AND status = 'active'",
            {std::to_string(id), std::string(reason)});
    logstore::remove(id);
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
    spi::exec(
        "UPDATE electric_sync.shapes SET status = 'failed', invalidated_at = now(), invalid_reason = $2 "
        "WHERE shape_id = $1::bigint AND status = 'active'",
        {std::to_string(id), reason});
    b.gone.erase(std::remove(b.gone.begin(), b.gone.end(), id), b.gone.end());
    b.failed.emplace_back(id, reason);
}

// The shape's snapshot is stored: drop what it already saw from the log, which is then served.
//
// The snapshot must see every transaction whose changes are not in the log. A transaction
// whose commit record precedes the shape's creation (decoded before the shape existed, so not
// logged) can still be listed as running in a snapshot taken after it: its backend has not yet
// left the proc array (its commit record flushed by another commit while it was descheduled,
// or a synchronous-replication wait). The snapshot job retakes such snapshots for a while; if
// one still slipped through, the shape would miss that transaction for good: it is
// invalidated instead, and its clients re-sync from a new snapshot.
void ShapeEngine::snapshot_applied(int64_t id, Batch &b) {
    RoutedShape *s = load_shape(id);
    if (!s || !s->filter_pending) return;
    if (!s->committed_before.empty() && snapshot_missed_commit(id, s->committed_before)) {
        ereport(WARNING,
                (errmsg("electric_sync: the snapshot of shape %lld missed a transaction committed before the "
                        "shape was created; the shape is invalidated and its clients re-sync",
                        static_cast<long long>(id))));
        drop_shape(id, b, "snapshot missed a committed transaction", true);
        return;
    }
    s->committed_before.clear();
    s->committed_before.shrink_to_fit();
    b.flush();
    logstore::apply_snapshot(id);
    spi::exec("UPDATE electric_sync.shape_runtime SET log_ready = true WHERE shape_id = $1::bigint",
              {std::to_string(id)});
    b.logs.emplace_back(id, logstore::read(id));
    s->filter_pending = false;
}

// Does the stored snapshot of the shape miss one of these (32-bit) xids (not visible to it)?
bool ShapeEngine::snapshot_missed_commit(int64_t id, const std::vector<uint32_t> &xids) {
    std::string arr = "{";
    for (size_t i = 0; i < xids.size(); i++) arr += (i ? "," : "") + std::to_string(xids[i]);
    arr += "}";
    auto r = spi::exec(
        "SELECT count(*)::text FROM electric_sync.shape_runtime r, unnest($2::bigint[]) x(xid) "
        "WHERE r.shape_id = $1::bigint AND r.snapshot_xmax IS NOT NULL "
        "AND NOT electric_sync._xid_visible(r.snapshot_xmin, r.snapshot_xmax, r.snapshot_xip, x.xid)",
        {std::to_string(id), arr});
    return !r.rows.empty() && r.rows[0][0] && *r.rows[0][0] != "0";
}

// ---- one batch ----

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
    // is confirmed). If a crash loses it, the same changes are decoded again and produce the
    // same entries (offsets are commit LSN + op index): nothing is lost or duplicated.
    spi::exec("SET LOCAL synchronous_commit = off");
    if (!loaded_) load_all();
    read_batch(batch_changes);
    Batch b;
    b.chunk_bytes = chunk_bytes;
    b.max_log_bytes = max_log_bytes;
    attrs_.clear();
    for (auto &row : rows_) apply(dec_.feed(row), b);
    finish_batch(b);
    const bool full = rows_.size() >= static_cast<size_t>(batch_changes);
    if (rows_.capacity() > 100000)
        std::vector<std::string>().swap(rows_);  // after a huge transaction
    else
        rows_.clear();
    tx.commit();
    if (b.wrote) {
        if (XactLastCommitEnd > engine_commit_end_) engine_commit_end_ = XactLastCommitEnd;
        if (b.last_commit > processed_lsn_) processed_lsn_ = b.last_commit;
    }
    // Publish before confirming the slot (which can take a while). Confirming only after the
    // commit: a crash before it re-decodes the batch, and what is at or below processed_lsn is
    // skipped.
    publish(b);
    confirm_slot(b);
    return full;
}

void ShapeEngine::read_batch(int batch_changes) {
    rows_.clear();
    reader_.read(decode_opts_, batch_changes, rows_);
    if (reader_.generation() != dec_generation_) {
        dec_.reset();  // a new decoding context describes every relation again
        dec_generation_ = reader_.generation();
    }
}

void ShapeEngine::apply(const decoding::Record &rec, Batch &b) {
    switch (rec.kind) {
    case decoding::RecordKind::Begin: on_begin(rec, b); break;
    case decoding::RecordKind::Commit: on_commit(rec, b); break;
    case decoding::RecordKind::Relation: attrs_.forget(rec.relation.oid); break;
    case decoding::RecordKind::Message:
        if (!b.skip_txn && rec.message.prefix == engine_message::kPrefix) on_message(rec.message.content, b);
        break;
    case decoding::RecordKind::Truncate: on_truncate(rec, b); break;
    case decoding::RecordKind::Insert:
    case decoding::RecordKind::Update:
    case decoding::RecordKind::Delete: on_change(rec, b); break;
    }
}

void ShapeEngine::on_begin(const decoding::Record &rec, Batch &b) {
    b.commit_lsn = rec.txn.commit_lsn.value_or(0);
    b.xid = rec.txn.xid.value_or(0);
    b.skip_txn = b.commit_lsn != 0 && b.commit_lsn <= processed_lsn_;
    b.txn.clear();
    b.txn_relids.clear();
}

// The transaction's entries go to the shape logs: "last" on each shape's final op, chunk
// boundaries every chunk_bytes, and a shape past max_log_bytes is rotated (its clients get 409
// and re-sync from a fresh, compact snapshot; docs/read-path.md).
void ShapeEngine::on_commit(const decoding::Record &rec, Batch &b) {
    uint64_t end = rec.txn.end_lsn.value_or(rec.txn.commit_lsn.value_or(0));
    if (!b.skip_txn) {
        for (auto &[s, ents] : b.txn) {
            if (ents.empty()) continue;
            electric::mark_last(ents.back().second);
            size_t bytes = 0;
            for (auto &e : ents) bytes += e.second.size();
            s->chunk_acc += bytes;
            s->log_bytes += static_cast<int64_t>(bytes);
            if (b.max_log_bytes > 0 && s->log_bytes > b.max_log_bytes) b.rotate.push_back(s->id);
            bool chunk_end = s->chunk_acc >= static_cast<size_t>(b.chunk_bytes);
            if (chunk_end) s->chunk_acc = 0;
            for (size_t i = 0; i < ents.size(); i++) {
                bool ce = chunk_end && i + 1 == ents.size();
                if (!s->filter_pending) b.appends[s->id].push_back(svc::LogEntry{ents[i].first, ce, ents[i].second});
                b.pending.add(s->id, ents[i].first, b.xid, ce, std::move(ents[i].second));
            }
        }
        b.last_commit = std::max(b.last_commit, b.commit_lsn);
        b.txns++;
        for (uint32_t relid : b.txn_relids) {
            recent_commits_.emplace_back(b.xid, relid);
            if (recent_commits_.size() > kRecentCommits) recent_commits_.pop_front();
        }
        for (int64_t id : b.rotate) drop_shape(id, b, "rotated", true);
        b.rotate.clear();
    }
    b.last_end = std::max(b.last_end, end);
    b.txn.clear();
    if (b.pending.size() > 5000) b.flush();
}

void ShapeEngine::on_truncate(const decoding::Record &rec, Batch &b) {
    if (b.skip_txn) return;
    for (uint32_t relid : rec.truncate.relids) {
        const Router::RelRoute *rr = router_.table(relid);
        if (!rr) continue;
        std::vector<int64_t> ids;
        for (auto *s : rr->all) ids.push_back(s->id);
        for (auto id : ids) drop_shape(id, b, "truncate", true);
    }
}

// Messages from the SQL API and the snapshot jobs, in commit order.
void ShapeEngine::on_message(const std::string &content, Batch &b) {
    b.wrote = true;
    // Anyone may emit a message with our prefix: ignore what is not ours rather than stall.
    auto m = engine_message::parse(content);
    if (!m) return;
    using engine_message::Kind;
    const int64_t id = m->shape_id;
    if (m->kind == Kind::ShapeCreated) {
        RoutedShape *s = load_shape(id);
        if (s && s->filter_pending)
            for (auto &[xid, relid] : recent_commits_)
                if (relid == s->relid) s->committed_before.push_back(xid);
        if (s && s->changes_only) {
            spi::exec(
                "INSERT INTO electric_sync.shape_runtime (shape_id, log_ready) VALUES ($1::bigint, true) "
                "ON CONFLICT (shape_id) DO UPDATE SET log_ready = true",
                {std::to_string(id)});
            b.logs.emplace_back(id, std::vector<svc::LogEntry>{});
        }
    } else if (m->kind == Kind::ShapeSnapshot) {
        snapshot_applied(id, b);
    } else if (m->kind == Kind::ShapeDeleted) {
        drop_shape(id, b, "deleted", false);
    } else if (m->kind == Kind::ShapeInvalidated) {
        drop_shape(id, b, "invalidated", false);
    } else if (m->kind == Kind::DevicesChanged) {
        devices_changed_ = true;  // reloaded after this batch's commit, when it is visible
    }
}

// Does the shape's where clause accept this row? A clause that exceeds where_eval_timeout
// stops the shape (failed at the end of the batch).
bool ShapeEngine::where_matches(RoutedShape *s, const RelAttrs &ra, const RowValues &r, Batch &b,
                                const decoding::RelationInfo &rel) {
    const CompiledWhere &w = *s->compiled;
    if (w.always_true()) return true;
    if (w.eq_exact()) {
        int an = w.eq_attnum();
        int ci = static_cast<size_t>(an) < ra.col_of_attnum.size() ? ra.col_of_attnum[an] : -1;
        if (ci >= 0) return w.eq_match(static_cast<size_t>(ci) < r.size() ? r[ci] : std::nullopt);
    }
    wvals_.assign(ra.natts, std::nullopt);
    for (size_t i = 0; i < rel.columns.size() && i < r.size(); i++) {
        auto f = ra.attnum.find(rel.columns[i].name);
        if (f != ra.attnum.end() && r[i]) wvals_[f->second - 1] = std::string(*r[i]);
    }
    try {
        return s->compiled->matches(wvals_);
    } catch (const std::exception &) {
        if (watchdog::take_fired() && !s->stopped) {
            s->stopped = true;
            b.to_fail.push_back(s->id);
        }
        return false;
    }
}

// One row change: its candidate shapes, each one's where verdicts on the new and old rows,
// and the messages that follow (core/electric/row_change).
void ShapeEngine::on_change(const decoding::Record &rec, Batch &b) {
    if (b.skip_txn) return;
    const auto &ch = rec.change;
    if (std::find(b.txn_relids.begin(), b.txn_relids.end(), ch.relid) == b.txn_relids.end())
        b.txn_relids.push_back(ch.relid);
    const Router::RelRoute *route = router_.table(ch.relid);
    if (!route) return;
    b.changes++;
    const decoding::RelationInfo &rel = dec_.relation_of(ch);
    const RelAttrs &ra = attrs_.get(ch.relid, rel);
    electric::RowChange c;
    c.op = row_op(rec.kind);
    c.old_full = ch.old_kind == decoding::OldKind::Full;
    RowValues newr, oldr;
    if (ch.has_new) newr = tuple_values(ch.new_values, c.old_full ? &ch.old_values : nullptr);
    if (ch.old_kind != decoding::OldKind::None) oldr = tuple_values(ch.old_values, nullptr);
    c.new_row = &newr;
    c.old_row = &oldr;
    c.commit_lsn = b.commit_lsn;
    c.op_base = static_cast<uint64_t>(dec_.change_index()) * 2;
    c.xid = b.xid;
    ResolvedColumns cols;
    for (RoutedShape *s : router_.candidates(*route, ra, newr, oldr)) {
        if (s->stopped) continue;
        c.new_matches = c.op != electric::RowOp::Delete && where_matches(s, ra, newr, b, rel);
        if (c.op == electric::RowOp::Delete)
            c.old_matches = c.old_full ? where_matches(s, ra, oldr, b, rel) : true;
        else if (c.op == electric::RowOp::Update)
            c.old_matches = c.old_full ? where_matches(s, ra, oldr, b, rel) : c.new_matches;
        else
            c.old_matches = false;
        if (s->stopped || (!c.new_matches && !c.old_matches)) continue;
        electric::row_change_messages(cols.resolve(*s, rel), c, b.txn_entries(s));
    }
}

// The batch's last writes before its commit: pending entries, shapes stopped by the where
// limit, and the processed LSN (exactly once: in the same transaction as the entries).
void ShapeEngine::finish_batch(Batch &b) {
    b.flush();
    for (int64_t id : b.to_fail) fail_shape(id, b);
    if (b.changes > 0) {
        uint32 n = pg_atomic_read_u32(&es_shared->fail_batches);
        while (n > 0 && !pg_atomic_compare_exchange_u32(&es_shared->fail_batches, &n, n - 1)) {}
        if (n > 0) throw std::runtime_error("injected batch failure (electric_sync._debug_fail_batches)");
    }
    // Only a batch that wrote records its position: the worker's own commits are decoded back
    // as empty transactions, and recording them would write again, forever.
    if (b.wrote && b.last_commit > processed_lsn_) {
        spi::exec("UPDATE electric_sync.engine_state SET processed_lsn = '0/0'::pg_lsn + $1::numeric WHERE id = 1",
                  {std::to_string(b.last_commit)});
    }
}

// After the commit: logs (filtered snapshots) first, then appends, then gone and failed
// shapes, then the LSNs and counters.
void ShapeEngine::publish(Batch &b) {
    for (auto &l : b.logs) hub_.publish_log(l.first, std::move(l.second));
    for (auto &a : b.appends) hub_.publish_append(a.first, std::move(a.second));
    for (auto id : b.gone) hub_.publish_gone(id);
    for (auto &f : b.failed) hub_.publish_failed(f.first, 400, electric::invalid_request_body("where", f.second));
    last_seen_lsn_ = std::max({last_seen_lsn_, processed_lsn_, b.last_commit});
    if (last_seen_lsn_) hub_.set_global_lsn(last_seen_lsn_);
    // worker_status.processed_lsn: every transaction that committed before it is in the logs.
    decoded_end_ = std::max(decoded_end_, b.last_end);
    pg_atomic_write_u64(&es_shared->processed_lsn, std::max(decoded_end_, processed_lsn_));
    pg_atomic_fetch_add_u64(&es_shared->changes_processed, b.changes);
    pg_atomic_fetch_add_u64(&es_shared->txns_processed, b.txns);
}

// Confirming needs our batches' WAL flushed first (an fsync): done at most every 200 ms. A
// crash in between decodes again from the slot, skipping what is processed.
void ShapeEngine::confirm_slot(const Batch &b) {
    pending_end_ = std::max(pending_end_, b.last_end);
    TimestampTz now = GetCurrentTimestamp();
    if (pending_end_ <= advanced_end_ || now - last_advance_ < 200 * 1000) return;
    uint64_t target = pending_end_;
    last_advance_ = now;
    advanced_end_ = target;
    // Our asynchronously committed log entries must be durable before the slot moves on.
    if (engine_commit_end_) pg_guard([&] { XLogFlush(engine_commit_end_); });
    reader_.confirm(target);
    spi::Tx tx2("electric_sync: checking the slot");
    // The slot's restart point (where decoding starts after a restart or an error) only moves
    // past a running-transactions WAL record (logged every 15 s). After a large transaction
    // that would mean decoding it again after a restart: log one now.
    auto lag = spi::exec(
        "SELECT (confirmed_flush_lsn - restart_lsn)::text FROM pg_replication_slots WHERE slot_name = $1::text",
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

}  // namespace es
