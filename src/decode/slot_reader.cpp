// SlotReader: see slot_reader.hpp. Modeled on pg_logical_slot_get_changes_guts (logicalfuncs.c)
// and the logical walsender: acquire the slot, CreateDecodingContext, XLogBeginRead at the
// slot's restart point, then XLogReadRecord + LogicalDecodingProcessRecord up to the flushed WAL,
// LogicalConfirmReceivedLocation once the output is durably stored.
#include "decode/slot_reader.hpp"
extern "C" {
#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlogreader.h"
#include "access/xlogutils.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "replication/decode.h"
#include "replication/logical.h"
#include "replication/slot.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
}

#include <new>

namespace es {

struct SlotReaderCallbacks {
    static void prepare_write(LogicalDecodingContext *ctx, XLogRecPtr, TransactionId, bool) {
        resetStringInfo(ctx->out);
    }
    // Called from inside Postgres: must not throw (a failure is reported after the record).
    static void write(LogicalDecodingContext *ctx, XLogRecPtr, TransactionId, bool) {
        auto *self = static_cast<SlotReader *>(ctx->output_writer_private);
        if (self == nullptr || self->out_ == nullptr) return;
        try {
            self->out_->emplace_back(ctx->out->data, static_cast<size_t>(ctx->out->len));
        } catch (...) {
            self->write_failed_ = true;
        }
    }
};

static XLogReaderRoutine g_routine = [] {
    XLogReaderRoutine r{};
    r.page_read = read_local_xlog_page;
    r.segment_open = wal_segment_open;
    r.segment_close = wal_segment_close;
    return r;
}();

SlotReader::~SlotReader() {
    try {
        close();
    } catch (...) {}
}

void SlotReader::open(const std::vector<std::pair<std::string, std::string>> &options) {
    options_ = options;
    broken_ = false;
    const char *slot = slot_.c_str();
    const auto *opts = &options_;
    try {
        pg_guard([&] {
            mcxt_ = AllocSetContextCreate(TopMemoryContext, "electric_sync slot reader", ALLOCSET_DEFAULT_SIZES);
            MemoryContext old = MemoryContextSwitchTo(mcxt_);
            List *ol = NIL;
            for (size_t i = 0; i < opts->size(); i++)
                ol = lappend(ol,
                             makeDefElem(pstrdup((*opts)[i].first.c_str()),
                                         reinterpret_cast<Node *>(makeString(pstrdup((*opts)[i].second.c_str()))), -1));
            CheckLogicalDecodingRequirements();
            ReplicationSlotAcquire(slot, true);
            // Start at the slot's confirmed position: transactions committed before it are skipped.
            ctx_ = CreateDecodingContext(InvalidXLogRecPtr, ol, false, &g_routine, SlotReaderCallbacks::prepare_write,
                                         SlotReaderCallbacks::write, nullptr);
            ctx_->output_writer_private = this;
            // Whole transactions committing after confirmed_flush must be collected from the
            // restart point on.
            XLogBeginRead(ctx_->reader, MyReplicationSlot->data.restart_lsn);
            MemoryContextSwitchTo(old);
        });
    } catch (...) {
        broken_ = true;
        close();
        throw;
    }
    generation_++;
}

void SlotReader::read(const std::vector<std::pair<std::string, std::string>> &options, int max_rows,
                      std::vector<std::string> &out) {
    if (ctx_ != nullptr && (broken_ || options != options_)) close();
    if (ctx_ == nullptr) open(options);
    out_ = &out;
    write_failed_ = false;
    const size_t start = out.size();
    const size_t limit = max_rows > 0 ? static_cast<size_t>(max_rows) : SIZE_MAX;
    try {
        pg_guard([&] {
            ResourceOwner owner = CurrentResourceOwner;
            XLogRecPtr end_of_wal = GetFlushRecPtr(nullptr);
            // Catalog caches built outside decoding must not be used by it, and the other way round.
            InvalidateSystemCaches();
            while (ctx_->reader->EndRecPtr < end_of_wal) {
                char *errm = nullptr;
                // The reader allocates its decode and record buffers lazily in the current
                // context: it must be one that outlives this transaction.
                MemoryContext old = MemoryContextSwitchTo(mcxt_);
                XLogRecord *record = XLogReadRecord(ctx_->reader, &errm);
                MemoryContextSwitchTo(old);
                if (errm) elog(ERROR, "electric_sync: could not find record for logical decoding: %s", errm);
                if (record != nullptr) LogicalDecodingProcessRecord(ctx_, ctx_->reader);
                // Decoding may leave another resource owner current (see logicalfuncs.c).
                CurrentResourceOwner = owner;
                if (write_failed_ || out.size() - start >= limit) break;
                CHECK_FOR_INTERRUPTS();
            }
            InvalidateSystemCaches();
        });
    } catch (...) {
        out_ = nullptr;
        broken_ = true;  // closed (and reopened) by the next read, inside a fresh transaction
        pg_guard([] { InvalidateSystemCaches(); });
        throw;
    }
    out_ = nullptr;
    if (write_failed_) {
        broken_ = true;
        throw std::bad_alloc();
    }
}

void SlotReader::confirm(uint64_t lsn) {
    if (ctx_ == nullptr || broken_) return;  // the next open starts at the slot's position anyway
    pg_guard([&] {
        LogicalConfirmReceivedLocation(static_cast<XLogRecPtr>(lsn));
        // Written at the next checkpoint even when only confirmed_flush moved (as the SQL
        // functions do); the restart point, when it moves, is saved right away.
        ReplicationSlotMarkDirty();
    });
}

void SlotReader::close() {
    if (ctx_ == nullptr && mcxt_ == nullptr && MyReplicationSlot == nullptr) return;
    LogicalDecodingContext *ctx = ctx_;
    ctx_ = nullptr;
    out_ = nullptr;
    bool own_tx = !IsTransactionState();
    try {
        pg_guard([&] {
            if (own_tx) StartTransactionCommand();
            // Frees the reorder buffer (and its spill files, which needs the slot still held).
            if (ctx != nullptr) FreeDecodingContext(ctx);
        });
    } catch (const std::exception &e) {
        ereport(LOG, (errmsg("electric_sync: freeing the decoding context failed: %s", e.what())));
    }
    try {
        pg_guard([&] {
            InvalidateSystemCaches();
            if (MyReplicationSlot != nullptr) ReplicationSlotRelease();
            if (own_tx && IsTransactionState()) CommitTransactionCommand();
        });
    } catch (const std::exception &e) {
        ereport(LOG, (errmsg("electric_sync: releasing the slot failed: %s", e.what())));
        pg_guard([&] {
            if (own_tx && IsTransactionState()) AbortCurrentTransaction();
        });
    }
    if (mcxt_ != nullptr) {
        MemoryContextDelete(mcxt_);
        mcxt_ = nullptr;
    }
}

}  // namespace es
