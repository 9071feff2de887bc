// DB-pool jobs of the read path: get-or-create a shape, take its snapshot (in a REPEATABLE READ
// transaction on this connection, so a large snapshot never stalls the worker's main thread),
// load a shape after a restart, and answer subset snapshots.
#include "pool/pq.hpp"
#include "serve/shape_routes.hpp"
#include "core/common/engine_message.hpp"
#include "core/electric/order_by.hpp"

#include <nlohmann/json.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <chrono>
#include <thread>

namespace es::svc {

using namespace es::electric;
using json = nlohmann::json;

static std::optional<std::string> to_json_array(const std::vector<std::string> &v) {
    if (v.empty()) return std::nullopt;
    return json(v).dump();
}

static ShapeRoutes::ShapeRow load_row(PGconn *conn, const std::string &handle) {
    auto r = pq_exec(conn,
                     std::string(kShapeDescriptionSelect) +
                         ", coalesce(s.where_sql, CASE WHEN s.where_clause IS NULL THEN '' "
                         "  ELSE electric_sync._where_sql(s.relid::regclass, s.where_clause, s.params) END)" +
                         kShapeDescriptionFrom + " WHERE s.handle = $1",
                     {handle});
    if (r.rows() == 0) throw PqError("shape not found", "P0002", "", "");
    std::vector<std::optional<std::string>> cols;
    for (int c = 0; c < kShapeDescriptionColumns; c++) cols.push_back(r.opt(0, c));
    ShapeRoutes::ShapeRow row;
    row.desc = shape_description_from_row(cols);
    row.where = r.str(0, kShapeDescriptionColumns);
    row.info = ShapeInfo::of(row.desc);
    return row;
}

// Maps a create_shape error to Electric's 400 error field.
static std::string error_field(const PqError &e, const ShapeRequest &req) {
    const std::string &st = e.sqlstate;
    std::string m = e.what();
    if (m.rfind("role \"", 0) == 0) return "role";
    if (m.rfind("row-level security policy", 0) == 0) return "policy";
    if (m.rfind("permission denied: role", 0) == 0)  // check_column_grants: its hint names the part
        return e.hint.find("where clause") != std::string::npos ? "where" : "columns";
    if (st == "42P01" || st == "3F000") return "table";
    if (m.find("column") != std::string::npos && req.columns_raw && m.find("where") == std::string::npos &&
        (st == "42703" || m.find("list of columns") != std::string::npos || m.find("primary key") != std::string::npos))
        return "columns";
    if (m.find("param") != std::string::npos || st == "42P02") return "params";
    if (m.find("replica") != std::string::npos) return "replica";
    return "where";
}

// An error of an authorized shape's reader (sql_api.cpp authorize(), shape/policy.cpp).
static bool authorization_error(const PqError &e) {
    std::string m = e.what();
    if (m.rfind("row-level security policy", 0) == 0) return true;  // any SQLSTATE of the policy's check
    return (e.sqlstate == "42501" || e.sqlstate == "42704") &&
        (m.rfind("role \"", 0) == 0 || m.rfind("permission denied: role", 0) == 0);
}

void ShapeRoutes::job_resolve(CtxPtr c, PGconn *conn, bool by_def) {
    try {
        if (!conn) {
            http::Response r =
                http::json_response(503, "{\"code\":\"database_unreachable\",\"error\":\"Database is unreachable\"}");
            r.set("retry-after", "5");
            r.set("cache-control", "no-store");
            finish(c, std::move(r));
            return;
        }
        const ShapeRequest &R = c->req;
        std::vector<std::string> params;
        for (auto &p : R.params) params.push_back(p.second);
        std::string handle;
        try {
            // Analysis and constant folding of the where clause are bounded like a snapshot.
            pq_command(conn, "BEGIN");
            pq_exec(conn,
                    "SELECT set_config('statement_timeout', current_setting('electric_sync.snapshot_timeout'), true)");
            auto r = pq_exec(
                conn,
                "SELECT electric_sync.create_shape($1, $2, "
                "CASE WHEN $3::text IS NULL THEN NULL ELSE ARRAY(SELECT json_array_elements_text($3::json)) END, "
                "$4, "
                "CASE WHEN $5::text IS NULL THEN NULL ELSE ARRAY(SELECT json_array_elements_text($5::json)) END, "
                "$6, $7, $8)",
                {quote_qualified(R.table_schema, R.table_name), R.where, to_json_array(R.columns),
                 std::string(to_string(R.replica)), to_json_array(params), std::string(to_string(R.log)),
                 c->reader.restricted ? std::optional<std::string>(c->reader.role) : std::nullopt,
                 c->reader.restricted ? std::optional<std::string>(c->reader.claims) : std::nullopt});
            handle = r.str(0, 0);
            pq_command(conn, "COMMIT");
        } catch (const PqError &e) {
            if (PQtransactionStatus(conn) != PQTRANS_IDLE) PgResult(PQexec(conn, "ROLLBACK"));
            if (e.sqlstate.rfind("08", 0) == 0 || e.sqlstate == "40001" || e.sqlstate == "40P01" ||
                e.sqlstate == "23505" || e.sqlstate == "57P01" || e.sqlstate == "53300") {
                throw;
            }
            std::string field = error_field(e, R);
            std::string msg = e.sqlstate == "42P01" ? table_not_found_message(R.table_schema, R.table_name) : e.what();
            // The reader may not read this (its role, a column's grant, a policy it cannot be
            // given through a shape): 403, with the same body shape as a 400.
            int status = authorization_error(e) ? 403 : 400;
            respond_error(c, status, invalid_request_body(field, msg));
            return;
        }
        ShapeRow row = load_row(conn, handle);
        row.info.def = c->def;
        ShapePtr s = hub_.add(row.info, c->def);
        ensure_ready(s, row, conn);
        if (!by_def && (!R.handle || *R.handle != handle)) {
            c->new_handle = handle;
            respond_409(c);
            return;
        }
        c->shape = s;
        svc_.server()->post([this, c] { serve(c); });
    } catch (const std::exception &e) {
        auto f = creation_failure(e);
        respond_failure(c, f.first, std::move(f.second));
    }
}

// The answer to a request whose shape could not be created or snapshotted: the rows themselves
// made the query fail (a where clause raising for some row: division by zero, a bad cast, ...)
// -> 400, which retrying will not fix; anything else -> 503 with retry-after.
std::pair<int, std::string> ShapeRoutes::creation_failure(const std::exception &e) {
    if (auto *pe = dynamic_cast<const PgClientError *>(&e)) {
        const std::string &st = pe->sqlstate;
        // Errors of the where clause's own evaluation: data (22), rights or names (42), SQL
        // functions (2F, 38, 39), transaction state (25: e.g. a write in the read-only snapshot),
        // unsupported features (0A), PL/pgSQL RAISE (P0), limits (54).
        static const char *const kWhereClasses[] = {"22", "42", "2F", "25", "0A", "38", "39", "P0", "54"};
        bool where_error = false;
        for (const char *k : kWhereClasses) where_error = where_error || st.rfind(k, 0) == 0;
        if (where_error)
            return {400, invalid_request_body("where", std::string("the shape's query failed: ") + e.what())};
        // Cancelled by electric_sync.snapshot_timeout: retrying would run the same query again.
        if (st == "57014")
            return {400,
                    invalid_request_body("where",
                                         "the shape's snapshot query took longer than "
                                         "electric_sync.snapshot_timeout and was cancelled")};
    }
    return {503, message_body(std::string("Failed to create shape, please retry: ") + e.what())};
}

void ShapeRoutes::respond_failure(CtxPtr c, int status, std::string body) {
    http::Response r = http::json_response(status, std::move(body));
    if (status == 503) r.set("retry-after", "1");
    r.set("cache-control", "no-store");
    finish(c, std::move(r));
}

void ShapeRoutes::ensure_ready(const ShapePtr &s, const ShapeRow &row, PGconn *conn) {
    {
        std::lock_guard<std::mutex> g(s->mutex());
        if (s->status() != Shape::Status::Loading) return;
    }
    {
        std::lock_guard<std::mutex> g(snap_mu_);
        if (std::find(snapshots_running_.begin(), snapshots_running_.end(), row.desc.id) != snapshots_running_.end())
            return;  // another job is on it; requests wait on the shape
        snapshots_running_.push_back(row.desc.id);
    }
    struct Release {
        ShapeRoutes *self;
        int64_t id;
        ~Release() {
            std::lock_guard<std::mutex> g(self->snap_mu_);
            auto &v = self->snapshots_running_;
            v.erase(std::remove(v.begin(), v.end(), id), v.end());
        }
    } release{this, row.desc.id};
    // Read the runtime flags only now: the shape is in the hub, so an engine publication from
    // here on reaches it.
    auto r = pq_exec(conn, "SELECT snapshot_done, log_ready FROM electric_sync.shape_runtime WHERE shape_id = $1",
                     {std::to_string(row.desc.id)});
    bool snapshot_done = r.rows() && r.str(0, 0) == "t";
    bool log_ready = r.rows() && r.str(0, 1) == "t";
    if (snapshot_done || row.desc.changes_only) {
        job_load(s, row, conn, log_ready);
        if (row.desc.changes_only && !snapshot_done)
            pq_exec(conn,
                    "INSERT INTO electric_sync.shape_runtime (shape_id, snapshot_done, snapshot_chunks, snapshot_rows) "
                    "VALUES ($1, true, 0, 0) ON CONFLICT (shape_id) DO UPDATE SET snapshot_done = true",
                    {std::to_string(row.desc.id)});
        return;
    }
    try {
        job_snapshot(s, row, conn);
    } catch (const std::exception &e) {
        // Requests waiting for this snapshot get the same answer as this one, and the shape
        // leaves the hub: the next request resolves it again and retries the snapshot.
        auto f = creation_failure(e);
        {
            // Not running any more before the shape leaves the hub: a request arriving right
            // after must start a new snapshot, not wait for this one.
            std::lock_guard<std::mutex> g(snap_mu_);
            snapshots_running_.erase(std::remove(snapshots_running_.begin(), snapshots_running_.end(), row.desc.id),
                                     snapshots_running_.end());
            release.id = INT64_MIN;  // a new job may own the id from now on
        }
        hub_.remove(s);
        s->set_failed(f.first, std::move(f.second));
        throw;
    }
}

void ShapeRoutes::job_load(const ShapePtr &s, const ShapeRow &row, PGconn *conn, bool log_ready) {
    std::string id = std::to_string(row.desc.id);
    // The chunks stay in the database until requested (serve_ready / fetch_chunk).
    size_t nchunks = 0;
    if (!row.desc.changes_only) {
        auto r = pq_exec(conn, "SELECT count(*) FROM electric_sync.shape_snapshot_chunks WHERE shape_id = $1", {id});
        nchunks = std::stoull(r.str(0, 0));
    }
    s->set_snapshot_stored(nchunks);
    if (!log_ready) return;  // the engine publishes the log once it has filtered it
    auto r = pq_exec(conn, kReadShapeLogSql, {id});
    std::vector<LogEntry> log;
    log.reserve(r.rows());
    for (int i = 0; i < r.rows(); i++)
        log.push_back(log_entry_from_row(r.str(i, 0), r.str(i, 1), r.str(i, 2), r.str(i, 3)));
    s->set_log(std::move(log));
}

static std::vector<uint64_t> parse_xip(const std::string &s) {
    std::vector<uint64_t> out;
    size_t i = 0;
    while (i < s.size()) {
        size_t j = s.find(',', i);
        if (j == std::string::npos) j = s.size();
        if (j > i) out.push_back(std::stoull(s.substr(i, j - i)));
        i = j + 1;
    }
    return out;
}

// Positions of the shape's key columns among its selected columns (-1: not selected).
static std::vector<int> pk_positions(const ShapeRoutes::ShapeRow &row) {
    std::vector<int> out;
    for (auto &pk : row.desc.pk_columns) {
        auto it = std::find(row.desc.columns.begin(), row.desc.columns.end(), pk);
        out.push_back(it == row.desc.columns.end() ? -1 : static_cast<int>(it - row.desc.columns.begin()));
    }
    return out;
}

// Appends row `i` of a result (the shape's selected columns, text format) to `out` as an insert
// message (snapshot rows carry only operation and relation, plus snapshot_mark for subsets).
static void append_row_message(std::string &out, const PgResult &r, int i, const ShapeRoutes::ShapeRow &row,
                               const std::vector<int> &pk_idx, std::optional<int64_t> snapshot_mark) {
    thread_local ColumnValues cv;  // reused: this runs once per snapshot row
    thread_local std::string key;
    cv.clear();
    for (size_t k = 0; k < row.desc.columns.size(); k++) {
        int col = static_cast<int>(k);
        if (r.null(i, col))
            cv.emplace_back(row.desc.columns[k], std::nullopt);
        else
            cv.emplace_back(row.desc.columns[k],
                            std::string_view(PQgetvalue(r.get(), i, col), PQgetlength(r.get(), i, col)));
    }
    key.clear();
    append_key_prefix(key, row.desc.schema, row.desc.table);
    for (int k : pk_idx) append_key_part(key, k < 0 ? std::nullopt : cv[k].second);
    ChangeMessage m;
    m.schema = row.desc.schema;
    m.table = row.desc.table;
    m.op = Operation::Insert;
    m.key = key;
    m.value = &cv;
    m.snapshot_mark = snapshot_mark;
    append_change_message(out, m);
}

// While alive, this session's writes carry the replication origin electric_sync_snapshot_<n>
// (n: the pool thread), created by the worker. Best effort: without it (no such origin yet, not a
// superuser, no free origin slot) the writes are decoded and skipped by schema, only slower.
// The origin is always reset when the guard ends, even after an error: writes of later jobs on
// this connection must never carry it (the decoder would drop them).
namespace {
struct SnapshotOrigin {
    PGconn *conn;
    bool on = false;
    explicit SnapshotOrigin(PGconn *c) : conn(c) {
        int idx = DbPool::current_index();
        if (idx < 0) return;
        // A savepoint: a failed setup must not abort the surrounding transaction.
        PgResult sp(PQexec(conn, "SAVEPOINT es_origin"));
        if (PQresultStatus(sp.get()) != PGRES_COMMAND_OK) return;
        std::string name = "electric_sync_snapshot_" + std::to_string(idx);
        const char *v[1] = {name.c_str()};
        PgResult r(
            PQexecParams(conn, "SELECT pg_replication_origin_session_setup($1)", 1, nullptr, v, nullptr, nullptr, 0));
        on = PQresultStatus(r.get()) == PGRES_TUPLES_OK;
        PgResult end(PQexec(conn, on ? "RELEASE SAVEPOINT es_origin" : "ROLLBACK TO SAVEPOINT es_origin"));
    }
    ~SnapshotOrigin() {
        if (!on) return;
        // The reset is not transactional, but a failed transaction block refuses every
        // statement: roll it back first.
        if (PQtransactionStatus(conn) == PQTRANS_INERROR) PgResult(PQexec(conn, "ROLLBACK"));
        PgResult r(PQexec(conn, "SELECT pg_replication_origin_session_reset()"));
        if (PQresultStatus(r.get()) != PGRES_TUPLES_OK && PQstatus(conn) == CONNECTION_OK) {
            // Cannot happen short of a broken session; never let the origin outlive the job.
            std::fprintf(stderr, "electric_sync: could not reset the snapshot origin: %s\n", PQerrorMessage(conn));
            ::shutdown(PQsocket(conn), SHUT_RDWR);
        }
    }
};
}  // namespace

// The filter of a snapshot or subset query for one where clause: its executable text, or, for a
// clause that calls allow-listed functions (no executable text), a call of _where_check with
// the clause and its parameters bound (evaluated security-restricted; the row is es_row).
static std::string where_filter(const std::string &executable, const std::string &clause,
                                const std::vector<std::string> &params, const std::string &table,
                                std::vector<std::optional<std::string>> &binds) {
    if (!executable.empty()) return executable;
    size_t n = binds.size();
    binds.emplace_back(table);
    binds.emplace_back(clause);
    binds.emplace_back(json(params).dump());
    return "electric_sync._where_check($" + std::to_string(n + 1) + "::regclass, $" + std::to_string(n + 2) +
        ", ARRAY(SELECT json_array_elements_text($" + std::to_string(n + 3) + "::json)), es_row.*)";
}

// Inside a snapshot or subset transaction: the rest of it runs as the unprivileged where role
// (which reads every table through pg_read_all_data, and nothing more), with the search_path the
// where clause was analyzed with (pg_catalog first: the deparsed text means the same), and the
// snapshot statement timeout.
static void begin_where_scope(PGconn *conn, const std::string &schema) {
    pq_exec(conn,
            "SELECT set_config('role', 'electric_sync_where', true), "
            "set_config('search_path', 'pg_catalog, ' || quote_ident($1) || ', public', true), "
            "set_config('statement_timeout', current_setting('electric_sync.snapshot_timeout'), true)",
            {std::optional<std::string>(schema)});
}

// The initial snapshot: REPEATABLE READ READ ONLY, recording pg_current_snapshot(); the engine
// later removes log entries of transactions visible to it (docs/read-path.md).
void ShapeRoutes::job_snapshot(const ShapePtr &s, const ShapeRow &row, PGconn *conn) {
    const std::string id = std::to_string(row.desc.id);
    std::string snap, lsn;
    // A transaction whose commit record is already decoded may still be listed as running in a
    // snapshot taken right after; retake the snapshot until none of its xip is committed.
    for (int attempt = 0;; attempt++) {
        pq_command(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
        begin_where_scope(conn, row.desc.schema);
        auto r = pq_exec(conn,
                         "SELECT pg_current_snapshot()::text, pg_current_wal_lsn()::text, "
                         "(SELECT count(*) FROM pg_snapshot_xip(pg_current_snapshot()) x "
                         " WHERE pg_xact_status(x) = 'committed')");
        snap = r.str(0, 0);
        lsn = r.str(0, 1);
        if (r.str(0, 2) == "0" || attempt >= 50) break;
        pq_command(conn, "ROLLBACK");
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    auto p1 = snap.find(':'), p2 = snap.find(':', p1 + 1);
    uint64_t xmin = std::stoull(snap.substr(0, p1));
    uint64_t xmax = std::stoull(snap.substr(p1 + 1, p2 - p1 - 1));
    std::vector<uint64_t> xip = parse_xip(snap.substr(p2 + 1));

    std::string sql = "SELECT ";
    for (size_t i = 0; i < row.desc.columns.size(); i++) {
        if (i) sql += ", ";
        sql += quote_ident(row.desc.columns[i]);
    }
    const std::string table = quote_qualified(row.desc.schema, row.desc.table);
    sql += " FROM " + table + " AS es_row";
    std::vector<std::optional<std::string>> binds;
    if (!row.desc.where.empty())
        sql += " WHERE (" + where_filter(row.where, row.desc.where, row.desc.params, table, binds) + ")";
    std::vector<int> pk_idx = pk_positions(row);

    // row.where is the analyzed clause deparsed with its parameters as constants (no $n left);
    // the only parameters are _where_check's.
    std::vector<const char *> pvals;
    for (auto &b : binds) pvals.push_back(b->c_str());
    if (!PQsendQueryParams(conn, sql.c_str(), static_cast<int>(pvals.size()), nullptr,
                           pvals.empty() ? nullptr : pvals.data(), nullptr, nullptr, 0))
        throw PqError(PQerrorMessage(conn), "08006", "", "");
    PQsetSingleRowMode(conn);

    const size_t threshold = static_cast<size_t>(std::max(1024, svc_.config().chunk_bytes));
    std::vector<std::string> chunks;
    std::string cur;
    int64_t rows = 0;
    std::vector<int> chunk_rows;
    int cur_rows = 0;
    std::string err, err_state;
    for (;;) {
        PgResult r(PQgetResult(conn));
        if (!r.get()) break;
        auto st = PQresultStatus(r.get());
        if (st == PGRES_SINGLE_TUPLE) {
            if (!cur.empty()) cur += ',';
            append_row_message(cur, r, 0, row, pk_idx, std::nullopt);
            rows++;
            cur_rows++;
            if (cur.size() >= threshold) {
                chunks.push_back(std::move(cur));
                chunk_rows.push_back(cur_rows);
                cur.clear();
                cur_rows = 0;
            }
        } else if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
            continue;
        } else {
            const char *m = PQresultErrorField(r.get(), PG_DIAG_MESSAGE_PRIMARY);
            const char *sst = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
            err = m ? m : PQerrorMessage(conn);
            err_state = sst ? sst : "XX000";
        }
    }
    if (!err.empty()) {
        pq_command(conn, "ROLLBACK");
        throw PqError(err, err_state, "", "");
    }
    pq_command(conn, "COMMIT");
    if (!cur.empty()) cur += ',';
    append_snapshot_end(cur, xmin, xmax, xip);
    chunks.push_back(std::move(cur));
    chunk_rows.push_back(cur_rows);

    std::string xip_arr = "{";
    for (size_t i = 0; i < xip.size(); i++) xip_arr += (i ? "," : "") + std::to_string(xip[i]);
    xip_arr += "}";
    pq_command(conn, "BEGIN");
    {
        // The bodies are written under this connection's replication origin, which the worker's
        // decoder drops unread (docs/read-path.md, "Snapshot storage"); the shape_snapshot message
        // and the commit below are written without it, so the worker still sees them.
        SnapshotOrigin origin(conn);
        pq_exec(conn, "DELETE FROM electric_sync.shape_snapshot_chunks WHERE shape_id = $1", {id});
        for (size_t i = 0; i < chunks.size(); i++)
            pq_exec(conn,
                    "INSERT INTO electric_sync.shape_snapshot_chunks (shape_id, chunk_no, row_count, body) VALUES ($1, "
                    "$2, $3, $4)",
                    {id, std::to_string(i), std::to_string(chunk_rows[i]), chunks[i]});
    }
    pq_exec(
        conn,
        "INSERT INTO electric_sync.shape_runtime AS r (shape_id, snapshot_xmin, snapshot_xmax, snapshot_xip, "
        "snapshot_lsn, "
        " snapshot_chunks, snapshot_rows, snapshot_done) VALUES ($1, $2, $3, $4::bigint[], $5::pg_lsn, $6, $7, true) "
        "ON CONFLICT (shape_id) DO UPDATE SET snapshot_xmin = excluded.snapshot_xmin, snapshot_xmax = "
        "excluded.snapshot_xmax, "
        " snapshot_xip = excluded.snapshot_xip, snapshot_lsn = excluded.snapshot_lsn, snapshot_chunks = "
        "excluded.snapshot_chunks, "
        " snapshot_rows = excluded.snapshot_rows, snapshot_done = true",
        {id, std::to_string(xmin), std::to_string(xmax), xip_arr, lsn, std::to_string(chunks.size()),
         std::to_string(rows)});
    pq_exec(conn, "SELECT pg_logical_emit_message(true, $1::text, $2::text)",
            {engine_message::kPrefix, engine_message::encode(engine_message::Kind::ShapeSnapshot, std::stoll(id))});
    pq_command(conn, "COMMIT");
    s->set_snapshot(std::move(chunks));
    hub_.trim_snapshots(svc_.config().snapshot_cache_bytes);
}

}  // namespace es::svc

namespace es::svc {

// Subset snapshot (docs/protocols/electric.md §9): one-shot query of part of the shape, in its own snapshot.
void ShapeRoutes::subset(CtxPtr c, const ShapePtr &s) {
    svc_.pool().submit([this, c, s](PGconn *conn) {
        const auto &sub = c->req.subset;
        try {
            if (!conn) throw PqError("database unreachable", "08006", "", "");
            ShapeRow row = load_row(conn, s->info().handle);
            const std::string table = quote_qualified(row.desc.schema, row.desc.table);
            std::vector<std::optional<std::string>> binds;
            std::string where = row.desc.where.empty()
                ? std::string()
                : where_filter(row.where, row.desc.where, row.desc.params, table, binds);
            if (sub.where && !sub.where->empty()) {
                // The subset where is analyzed like a shape's where and deparsed by Postgres with
                // its own parameters as constants: its text never reaches the query.
                std::vector<std::string> sp;
                for (auto &p : sub.params) sp.push_back(p.second);
                auto v = pq_exec(
                    conn,
                    "SELECT electric_sync._where_sql($1::regclass, $2, "
                    "CASE WHEN $3::text IS NULL THEN NULL ELSE ARRAY(SELECT json_array_elements_text($3::json)) END, "
                    "$4)",
                    {std::optional<std::string>(quote_qualified(row.desc.schema, row.desc.table)),
                     std::optional<std::string>(*sub.where), to_json_array(sp),
                     c->reader.restricted ? std::optional<std::string>(c->reader.role) : std::nullopt});
                std::string sw = v.null(0, 0) ? where_filter("", *sub.where, sp, table, binds) : v.str(0, 0);
                where = where.empty() ? sw : "(" + where + ") AND (" + sw + ")";
            }
            // order_by: columns of the table (checked against the catalog), each optionally
            // ASC/DESC and NULLS FIRST/LAST; reaches SQL only as quoted identifiers.
            std::string order_sql;
            if (sub.order_by) {
                OrderByResult ob = parse_order_by(*sub.order_by);
                if (ob.ok()) {
                    auto cols =
                        pq_exec(conn,
                                "SELECT coalesce(array_to_json(array_agg(attname::text)), '[]') FROM pg_attribute "
                                "WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped",
                                {std::optional<std::string>(quote_qualified(row.desc.schema, row.desc.table))});
                    std::vector<std::string> names = json_string_list(cols.str(0, 0));
                    // An authorized reader orders only by the shape's columns (its role's grants
                    // were checked for them); the order of other columns would leak them.
                    if (c->reader.restricted) names = row.desc.columns;
                    for (auto &it : ob.items)
                        if (std::find(names.begin(), names.end(), it.column) == names.end()) {
                            ob.error = "column \"" + it.column + "\" is not a column of the table";
                            break;
                        }
                }
                if (!ob.ok()) {
                    ValidationErrors ve;
                    ve.add_subset("order_by", *ob.error);
                    respond_error(c, 400, ve.to_body());
                    return;
                }
                order_sql = order_by_sql(ob.items);
            }
            LogOffset end;
            {
                std::lock_guard<std::mutex> g(s->mutex());
                end = s->log_end();
            }
            pq_command(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
            begin_where_scope(conn, row.desc.schema);
            auto sn = pq_exec(conn, "SELECT pg_current_snapshot()::text, pg_current_wal_lsn() - '0/0'::pg_lsn");
            std::string snap = sn.str(0, 0);
            uint64_t db_lsn = std::stoull(sn.str(0, 1));
            std::string sql = "SELECT ";
            for (size_t i = 0; i < row.desc.columns.size(); i++)
                sql += (i ? ", " : "") + quote_ident(row.desc.columns[i]);
            sql += " FROM " + table + " AS es_row";
            if (!where.empty()) sql += " WHERE (" + where + ")";
            if (!order_sql.empty()) sql += " ORDER BY " + order_sql;
            if (sub.limit) sql += " LIMIT " + std::to_string(*sub.limit);
            if (sub.offset) sql += " OFFSET " + std::to_string(*sub.offset);
            auto r = pq_exec(conn, sql, binds);
            pq_command(conn, "COMMIT");
            auto p1 = snap.find(':'), p2 = snap.find(':', p1 + 1);
            uint64_t xmin = std::stoull(snap.substr(0, p1));
            uint64_t xmax = std::stoull(snap.substr(p1 + 1, p2 - p1 - 1));
            std::vector<uint64_t> xip = parse_xip(snap.substr(p2 + 1));
            int64_t mark = static_cast<int64_t>(random64() % 2147483647);
            std::vector<int> pk_idx = pk_positions(row);
            std::vector<std::string> entries;
            entries.reserve(r.rows());
            for (int i = 0; i < r.rows(); i++) {
                entries.emplace_back();
                append_row_message(entries.back(), r, i, row, pk_idx, mark);
            }
            http::Response resp =
                http::json_response(200, subset_response_body(xmin, xmax, xip, mark, db_lsn, entries));
            resp.set("electric-handle", s->info().handle);
            resp.set("electric-offset", end.to_string());
            resp.set("electric-schema", s->info().schema_json);
            resp.set("electric-snapshot", "true");
            resp.set("cache-control", "no-cache");
            finish(c, std::move(resp));
        } catch (const PqError &e) {
            if (e.sqlstate.rfind("08", 0) == 0) {
                http::Response r = http::json_response(503, message_body("Database is unreachable"));
                r.set("retry-after", "5");
                finish(c, std::move(r));
                return;
            }
            ValidationErrors ve;
            ve.add_subset(e.sqlstate == "42601" && std::string(e.what()).find("order") != std::string::npos ? "order_by"
                                                                                                            : "where",
                          e.what());
            respond_error(c, 400, ve.to_body());
        } catch (const std::exception &e) {
            http::Response r = http::json_response(503, message_body(e.what()));
            r.set("retry-after", "1");
            finish(c, std::move(r));
        }
    });
}

}  // namespace es::svc
