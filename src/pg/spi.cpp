#include "pg/compat.hpp"
extern "C" {
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
}
#include "pg/spi.hpp"

namespace es::spi {

static void copy_result(Result &res) {
    SPITupleTable *tt = SPI_tuptable;
    res.processed = SPI_processed;
    if (!tt) return;
    TupleDesc td = tt->tupdesc;
    res.columns.reserve(td->natts);
    for (int i = 0; i < td->natts; i++) res.columns.emplace_back(NameStr(TupleDescAttr(td, i)->attname));
    res.rows.reserve(SPI_processed);
    for (uint64 r = 0; r < SPI_processed; r++) {
        Row row;
        row.reserve(td->natts);
        for (int i = 1; i <= td->natts; i++) {
            char *v = pg_guard([&] { return SPI_getvalue(tt->vals[r], td, i); });
            if (v) {
                row.emplace_back(std::string(v));
                pfree(v);
            } else {
                row.emplace_back(std::nullopt);
            }
        }
        res.rows.push_back(std::move(row));
    }
}

Result exec(const std::string &sql, const std::vector<Value> &args, long max_rows) {
    Result res;
    int nargs = static_cast<int>(args.size());
    Oid *types = nargs ? static_cast<Oid *>(palloc(sizeof(Oid) * nargs)) : nullptr;
    Datum *vals = nargs ? static_cast<Datum *>(palloc(sizeof(Datum) * nargs)) : nullptr;
    char *nulls = nargs ? static_cast<char *>(palloc(nargs + 1)) : nullptr;
    for (int i = 0; i < nargs; i++) {
        types[i] = TEXTOID;
        if (args[i]) {
            const std::string &s = *args[i];
            vals[i] = pg_guard([&] { return PointerGetDatum(cstring_to_text_with_len(s.data(), (int)s.size())); });
            nulls[i] = ' ';
        } else {
            vals[i] = (Datum)0;
            nulls[i] = 'n';
        }
    }
    const char *q = sql.c_str();
    int rc = pg_guard([&] { return SPI_execute_with_args(q, nargs, types, vals, nulls, false, max_rows); });
    if (rc < 0) throw std::runtime_error("SPI failed (" + std::to_string(rc) + "): " + sql);
    copy_result(res);
    pg_guard([&] { SPI_freetuptable(SPI_tuptable); });
    return res;
}

Tx::Tx(const char *activity) {
    pg_guard([&] {
        SetCurrentStatementStartTimestamp();
        StartTransactionCommand();
        SPI_connect();
        PushActiveSnapshot(GetTransactionSnapshot());
        if (activity) pgstat_report_activity(STATE_RUNNING, activity);
    });
    open_ = true;
}

void Tx::commit() {
    if (!open_) return;
    open_ = false;
    pg_guard([&] {
        SPI_finish();
        PopActiveSnapshot();
        CommitTransactionCommand();
        pgstat_report_stat(false);
        pgstat_report_activity(STATE_IDLE, NULL);
    });
}

Tx::~Tx() {
    if (!open_) return;
    try {
        pg_guard([&] {
            AbortCurrentTransaction();
            pgstat_report_activity(STATE_IDLE, NULL);
        });
    } catch (...) {
        // Nothing sane is left to do; the caller's error path reports the original error.
    }
}

}  // namespace es::spi
