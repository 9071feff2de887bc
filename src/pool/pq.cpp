#include "pool/pq.hpp"

namespace es::svc {

static std::string field(const PGresult *r, int code) {
    const char *v = r ? PQresultErrorField(r, code) : nullptr;
    return v ? v : "";
}

PgResult pq_exec(PGconn *conn, const std::string &sql, const std::vector<std::optional<std::string>> &params) {
    if (!conn) throw PqError("database unreachable", "08006", "", "");
    std::vector<const char *> vals;
    std::vector<int> lens;
    vals.reserve(params.size());
    for (auto &p : params) {
        vals.push_back(p ? p->c_str() : nullptr);
        lens.push_back(p ? static_cast<int>(p->size()) : 0);
    }
    PgResult r(PQexecParams(conn, sql.c_str(), static_cast<int>(params.size()), nullptr,
                            vals.empty() ? nullptr : vals.data(), lens.empty() ? nullptr : lens.data(), nullptr, 0));
    auto st = PQresultStatus(r.get());
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        std::string msg = field(r.get(), PG_DIAG_MESSAGE_PRIMARY);
        if (msg.empty()) msg = PQerrorMessage(conn);
        std::string state = field(r.get(), PG_DIAG_SQLSTATE);
        if (state.empty()) state = PQstatus(conn) == CONNECTION_OK ? "XX000" : "08006";
        throw PqError(msg, state, field(r.get(), PG_DIAG_MESSAGE_DETAIL), field(r.get(), PG_DIAG_MESSAGE_HINT));
    }
    return r;
}

void pq_command(PGconn *conn, const std::string &sql) {
    if (!conn) throw PqError("database unreachable", "08006", "", "");
    PgResult r(PQexec(conn, sql.c_str()));
    auto st = PQresultStatus(r.get());
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        std::string msg = field(r.get(), PG_DIAG_MESSAGE_PRIMARY);
        if (msg.empty()) msg = PQerrorMessage(conn);
        std::string state = field(r.get(), PG_DIAG_SQLSTATE);
        if (state.empty()) state = "08006";
        throw PqError(msg, state, field(r.get(), PG_DIAG_MESSAGE_DETAIL), field(r.get(), PG_DIAG_MESSAGE_HINT));
    }
}

}  // namespace es::svc
