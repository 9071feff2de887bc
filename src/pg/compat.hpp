// The seam between C++ and Postgres. Include this first in every src/*.cpp that needs Postgres.
//
// Rules (docs/architecture.md):
//  - Postgres headers are C without extern "C" guards: they are included here, first.
//  - Every entry point called by Postgres (SQL function, decoding callback, hook, worker main)
//    runs its C++ body through es::pg_entry(), which catches every C++ exception and reports it
//    with ereport *after* leaving the catch block.
//  - Every Postgres call made from a C++ frame that has destructors goes through es::pg_guard(),
//    which turns an ERROR longjmp into an es::PgException (CopyErrorData + FlushErrorState).
#pragma once

extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/elog.h"
#include "utils/memutils.h"
}

#include <csetjmp>
#include <exception>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace es {

// A Postgres ERROR caught by pg_guard. Owns a copy of the error data (palloc'd in the memory
// context that was current when the guard was entered).
class PgException : public std::exception {
public:
    explicit PgException(ErrorData *edata) : edata_(edata) {
        msg_ = edata && edata->message ? edata->message : "unknown Postgres error";
    }
    const char *what() const noexcept override { return msg_.c_str(); }
    ErrorData *edata() const { return edata_; }

private:
    ErrorData *edata_;
    std::string msg_;
};

// Calls f() (which calls Postgres) and converts an ERROR into PgException. f's own frame must
// not hold objects with destructors across the Postgres calls.
template <typename F>
auto pg_guard(F &&f) -> decltype(f()) {
    using R = decltype(f());
    MemoryContext volatile ctx = CurrentMemoryContext;
    sigjmp_buf *volatile save_stack = PG_exception_stack;
    ErrorContextCallback *volatile save_ctx_stack = error_context_stack;
    sigjmp_buf local;
    ErrorData *edata = nullptr;
    if (sigsetjmp(local, 0) == 0) {
        PG_exception_stack = &local;
        if constexpr (std::is_void_v<R>) {
            f();
            PG_exception_stack = save_stack;
            error_context_stack = save_ctx_stack;
            return;
        } else {
            R r = f();
            PG_exception_stack = save_stack;
            error_context_stack = save_ctx_stack;
            return r;
        }
    }
    PG_exception_stack = save_stack;
    error_context_stack = save_ctx_stack;
    MemoryContextSwitchTo(ctx);
    edata = CopyErrorData();
    FlushErrorState();
    throw PgException(edata);
}

// An error to raise from C++ code with a SQLSTATE, message, detail and hint. pg_entry turns it
// into a proper ereport.
class SqlError : public std::exception {
public:
    SqlError(int sqlstate, std::string msg, std::string hint = {}, std::string detail = {})
        : sqlstate(sqlstate), msg(std::move(msg)), hint(std::move(hint)), detail(std::move(detail)) {}
    const char *what() const noexcept override { return msg.c_str(); }
    int sqlstate;
    std::string msg, hint, detail;
};

// Runs the C++ body of a Postgres entry point. A PgException is re-thrown as the original
// Postgres error; an SqlError becomes an ereport with its SQLSTATE, detail and hint; any other
// exception becomes an internal ERROR with its message. The ereport happens outside the catch
// blocks (only palloc'd copies survive them), so no C++ state is live when the longjmp leaves.
template <typename F>
auto pg_entry(F &&f) -> decltype(f()) {
    using R = decltype(f());
    ErrorData *edata = nullptr;
    int code = ERRCODE_INTERNAL_ERROR;
    char *msg = nullptr, *hint = nullptr, *detail = nullptr;
    try {
        if constexpr (std::is_void_v<R>) {
            f();
            return;
        } else {
            return f();
        }
    } catch (const PgException &e) {
        edata = e.edata();
        if (!edata) msg = pstrdup(e.what());
    } catch (const SqlError &e) {
        code = e.sqlstate;
        msg = pstrdup(e.msg.c_str());
        if (!e.hint.empty()) hint = pstrdup(e.hint.c_str());
        if (!e.detail.empty()) detail = pstrdup(e.detail.c_str());
    } catch (const std::exception &e) {
        msg = psprintf("electric_sync: %s", e.what());
    } catch (...) {
        msg = pstrdup("electric_sync: unknown C++ exception");
    }
    if (edata) ReThrowError(edata);
    ereport(ERROR,
            (errcode(code), errmsg("%s", msg), hint ? errhint("%s", hint) : 0, detail ? errdetail("%s", detail) : 0));
    pg_unreachable();
}

}  // namespace es
