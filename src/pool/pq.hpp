// Small libpq helpers for DB-pool jobs (pure client code; no Postgres server headers).
#pragma once
#include "pool/db_pool.hpp"

#include <libpq-fe.h>

#include <optional>
#include <string>
#include <vector>

namespace es::svc {

// Owns a PGresult.
class PgResult {
public:
    explicit PgResult(PGresult *r = nullptr) : r_(r) {}
    ~PgResult() {
        if (r_) PQclear(r_);
    }
    PgResult(PgResult &&o) noexcept : r_(o.r_) { o.r_ = nullptr; }
    PgResult &operator=(PgResult &&o) noexcept {
        if (this != &o) {
            if (r_) PQclear(r_);
            r_ = o.r_;
            o.r_ = nullptr;
        }
        return *this;
    }
    PgResult(const PgResult &) = delete;
    PGresult *get() const { return r_; }
    int rows() const { return PQntuples(r_); }
    bool null(int row, int col) const { return PQgetisnull(r_, row, col); }
    std::string str(int row, int col) const { return std::string(PQgetvalue(r_, row, col), PQgetlength(r_, row, col)); }
    std::optional<std::string> opt(int row, int col) const {
        if (null(row, col)) return std::nullopt;
        return str(row, col);
    }

private:
    PGresult *r_;
};

// A query error with the server's fields.
struct PqError : PgClientError {
    std::string detail, hint;
    PqError(std::string msg, std::string state, std::string detail, std::string hint)
        : PgClientError(std::move(msg), std::move(state)), detail(std::move(detail)), hint(std::move(hint)) {}
};

// Runs sql with text parameters (NULL for nullopt; types inferred by the server). Throws PqError.
PgResult pq_exec(PGconn *conn, const std::string &sql, const std::vector<std::optional<std::string>> &params = {});
// Runs a command without result rows (BEGIN, COMMIT, ...). Throws PqError.
void pq_command(PGconn *conn, const std::string &sql);

}  // namespace es::svc
