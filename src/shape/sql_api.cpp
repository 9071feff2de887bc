// SQL API for shapes: create_shape, validate_shape, _where_matches, _relation_signature,
// _emit_message (delete_shape, the view and the DDL hooks are in sql/install/20_shapes.sql).
// See docs/sql-api.md.
#include "pg/compat.hpp"
extern "C" {
#include "access/htup_details.h"
#include "access/table.h"
#include "storage/proc.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "replication/message.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"
#include "access/sysattr.h"
#include "optimizer/optimizer.h"

PG_FUNCTION_INFO_V1(es_create_shape);
PG_FUNCTION_INFO_V1(es_validate_shape);
PG_FUNCTION_INFO_V1(es_where_matches);
PG_FUNCTION_INFO_V1(es_where_bench);
PG_FUNCTION_INFO_V1(es_where_sql);
PG_FUNCTION_INFO_V1(es_where_check);
PG_FUNCTION_INFO_V1(es_relation_signature);
PG_FUNCTION_INFO_V1(es_emit_message);
}
#include "core/common/engine_message.hpp"
#include "core/electric/electric.hpp"
#include "core/electric/shape_description.hpp"
#include "pg/spi.hpp"
#include "shape/policy.hpp"
#include "shape/relation.hpp"
#include "shape/where.hpp"

#include <cctype>
#include <chrono>

namespace es {
namespace {

using TextList = std::vector<std::optional<std::string>>;

struct ShapeInput {
    std::optional<std::string> table, where, replica, log;
    std::optional<TextList> columns, params;
    std::optional<std::string> role, claims;  // authorized shapes: the reader (create_shape only)
};

// A validated, normalized shape definition: the description the shape is stored with (the one
// type that describes a shape; id, handle and status come when it is stored), plus what only
// creating it needs.
struct ShapeDef {
    electric::ShapeDescription desc;  // request_where: deparsed with $n ("" = no where)
    bool explicit_columns = false;  // columns were listed (else every column; stored as NULL)
    std::string where_sql;  // the effective where (and policy) deparsed with the params as
                            // constants (snapshots)
    std::vector<int> where_attnums;  // columns the where clause reads
    std::string signature;
    char replident = 0;
    std::string def_key;

    const char *replica() const { return desc.full ? "full" : "default"; }
    const char *log_mode() const { return desc.changes_only ? "changes_only" : "full"; }
    std::optional<std::string> where() const {
        return desc.request_where.empty() ? std::nullopt : std::optional<std::string>(desc.request_where);
    }
    std::optional<std::string> read_role() const {
        return desc.read_role.empty() ? std::nullopt : std::optional<std::string>(desc.read_role);
    }
};

bool is_blank(const std::string &s) {
    for (char c : s)
        if (!isspace(static_cast<unsigned char>(c))) return false;
    return true;
}

std::optional<std::string> text_arg(FunctionCallInfo fcinfo, int n) {
    if (PG_NARGS() <= n || PG_ARGISNULL(n)) return std::nullopt;
    const char *s = pg_guard([&] { return text_to_cstring(PG_GETARG_TEXT_PP(n)); });
    return std::string(s);
}

std::optional<TextList> text_array_arg(FunctionCallInfo fcinfo, int n, const char *what) {
    if (PG_NARGS() <= n || PG_ARGISNULL(n)) return std::nullopt;
    ArrayType *arr = pg_guard([&] { return PG_GETARG_ARRAYTYPE_P(n); });
    if (ARR_NDIM(arr) > 1)
        throw SqlError(ERRCODE_ARRAY_SUBSCRIPT_ERROR, std::string(what) + " must be a one-dimensional array");
    Datum *elems;
    bool *nulls;
    int count;
    pg_guard([&] { deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &count); });
    TextList out;
    out.reserve(count);
    for (int i = 0; i < count; i++) {
        if (nulls[i]) {
            out.emplace_back(std::nullopt);
        } else {
            const char *s = pg_guard([&] { return TextDatumGetCString(elems[i]); });
            out.emplace_back(std::string(s));
        }
    }
    return out;
}

Datum text_array_datum(const std::vector<std::string> &v) {
    return pg_guard([&] {
        Datum *d = static_cast<Datum *>(palloc(sizeof(Datum) * (v.size() + 1)));
        for (size_t i = 0; i < v.size(); i++)
            d[i] = PointerGetDatum(cstring_to_text_with_len(v[i].data(), (int)v[i].size()));
        return PointerGetDatum(construct_array(d, (int)v.size(), TEXTOID, -1, false, TYPALIGN_INT));
    });
}

Datum text_datum(const std::string &s) {
    return pg_guard([&] { return PointerGetDatum(cstring_to_text_with_len(s.data(), (int)s.size())); });
}

// {"a","b \"c\""} — a text[] literal.
std::string array_literal(const std::vector<std::string> &v) {
    std::string out = "{";
    for (size_t i = 0; i < v.size(); i++) {
        if (i) out += ',';
        out += '"';
        for (char c : v[i]) {
            if (c == '"' || c == '\\') out += '\\';
            out += c;
        }
        out += '"';
    }
    out += '}';
    return out;
}

std::string join(const std::vector<std::string> &v, const char *sep = ", ") {
    std::string out;
    for (size_t i = 0; i < v.size(); i++) {
        if (i) out += sep;
        out += v[i];
    }
    return out;
}

void append_lenpref(std::string &k, const char *tag, const std::string &v) {
    k += tag;
    k += std::to_string(v.size());
    k += ':';
    k += v;
    k += '\n';
}

ShapeInput read_input(FunctionCallInfo fcinfo) {
    ShapeInput in;
    in.table = text_arg(fcinfo, 0);
    in.where = text_arg(fcinfo, 1);
    in.columns = text_array_arg(fcinfo, 2, "columns");
    in.replica = text_arg(fcinfo, 3);
    in.params = text_array_arg(fcinfo, 4, "params");
    in.log = text_arg(fcinfo, 5);
    if (PG_NARGS() > 7) {
        in.role = text_arg(fcinfo, 6);
        in.claims = text_arg(fcinfo, 7);
    }
    return in;
}

namespace {

void check_modes(const ShapeInput &in, ShapeDef &d) {
    const std::string replica = in.replica.value_or("default");
    if (replica != "default" && replica != "full")
        throw ShapeError("replica", ERRCODE_INVALID_PARAMETER_VALUE, "invalid replica mode \"" + replica + "\"",
                         "replica must be 'default' (updates carry the changed columns) or 'full' (updates carry "
                         "the whole row and old_value).");
    const std::string log_mode = in.log.value_or("full");
    if (log_mode != "full" && log_mode != "changes_only")
        throw ShapeError("log", ERRCODE_INVALID_PARAMETER_VALUE, "invalid log mode \"" + log_mode + "\"",
                         "log_mode must be 'full' (initial snapshot, then changes) or 'changes_only' (changes "
                         "after creation only).");
    d.desc.full = replica == "full";
    d.desc.changes_only = log_mode == "changes_only";
}

// Columns: exact names; normalized to table order; must cover the key. Returns the selected
// attnums.
std::vector<int> select_columns(const ShapeInput &in, const ShapeRelation &r, ShapeDef &d) {
    std::vector<int> selected;
    if (in.columns) {
        if (in.columns->empty())
            throw ShapeError("columns", ERRCODE_INVALID_PARAMETER_VALUE, "The list of columns must not be empty",
                             "Leave columns NULL to select every column, or list the columns to select "
                             "(primary key columns included).");
        std::vector<std::string> given;
        for (auto &c : *in.columns) {
            if (!c)
                throw ShapeError("columns", ERRCODE_NULL_VALUE_NOT_ALLOWED, "column names must not be NULL",
                                 "List the exact column names to select.");
            given.push_back(*c);
        }
        auto contains = [&](const std::string &n) {
            for (auto &g : given)
                if (g == n) return true;
            return false;
        };
        std::vector<std::string> missing_pk, unknown, live_names;
        for (int a : r.key_attnums())
            if (!contains(r.attrs[a - 1].name)) missing_pk.push_back(r.attrs[a - 1].name);
        for (int a : r.live_attnums()) live_names.push_back(r.attrs[a - 1].name);
        for (auto &g : given) {
            bool dup = false;
            for (auto &u : unknown) dup = dup || u == g;
            if (!r.attnum_of(g) && !dup) unknown.push_back(g);
        }
        if (!missing_pk.empty())
            throw ShapeError("columns", ERRCODE_INVALID_PARAMETER_VALUE,
                             "The list of columns must include all primary key columns, missing: " + join(missing_pk),
                             r.has_pk() ? "Rows are identified by their primary key; add its columns to columns."
                                        : "The table has no primary key, so rows are identified by all their "
                                          "columns: select every column (or add a primary key).");
        if (!unknown.empty())
            throw ShapeError("columns", ERRCODE_UNDEFINED_COLUMN,
                             "The following columns are not found on the table: " + join(unknown),
                             "Column names are exact, case-sensitive names (no quoting). The table's columns are: " +
                                 join(live_names) + ".");
        for (int a : r.live_attnums())
            if (contains(r.attrs[a - 1].name)) selected.push_back(a);
    } else {
        selected = r.live_attnums();
    }
    d.explicit_columns = in.columns.has_value();
    for (int a : selected) d.desc.columns.push_back(r.attrs[a - 1].name);
    return selected;
}

// Runs f with a scratch memory context current (deleted afterwards, also on an exception): the
// analysis of a where clause allocates trees nobody needs once its texts are copied out.
template <typename F>
void in_scratch_context(F &&f) {
    MemoryContext cxt = pg_guard(
        [&] { return AllocSetContextCreate(CurrentMemoryContext, "electric_sync shape where", ALLOCSET_DEFAULT_SIZES); });
    MemoryContext old = MemoryContextSwitchTo(cxt);
    try {
        f();
    } catch (...) {
        MemoryContextSwitchTo(old);
        MemoryContextDelete(cxt);
        throw;
    }
    MemoryContextSwitchTo(old);
    MemoryContextDelete(cxt);
}

// The attribute numbers an analyzed where expression reads.
std::vector<int> referenced_attnums(Node *expr) {
    std::vector<int> out;
    pg_guard([&] {
        Bitmapset *attrs = nullptr;
        pull_varattnos(expr, 1, &attrs);
        for (int i = -1; (i = bms_next_member(attrs, i)) >= 0;) out.push_back(i + FirstLowInvalidHeapAttributeNumber);
    });
    return out;
}

// Params and the where clause: analyzed, stored in canonical form (never the request's text).
void check_where(const ShapeInput &in, Relation rel, ShapeDef &d) {
    if (in.params) {
        for (size_t i = 0; i < in.params->size(); i++) {
            if (!(*in.params)[i])
                throw ShapeError("params", ERRCODE_NULL_VALUE_NOT_ALLOWED,
                                 "parameter $" + std::to_string(i + 1) + " must not be NULL",
                                 "Parameter values are text; use IS NULL in the where clause to match NULLs.");
            d.desc.params.push_back(*(*in.params)[i]);
        }
    }
    bool has_where = in.where && !is_blank(*in.where);
    if (!has_where && !d.desc.params.empty())
        throw ShapeError("params", ERRCODE_INVALID_PARAMETER_VALUE,
                         "parameters were given but there is no where clause",
                         "Parameters ($1, $2, ...) can only be used in a where clause.");
    if (has_where) {
        in_scratch_context([&] {
            AnalyzedWhere aw = analyze_where(rel, *in.where, d.desc.params);
            // The definition is the canonical form, never the request's text (which could
            // carry comments or spacing that change its meaning when pasted elsewhere).
            d.desc.request_where = aw.normalized;
            d.where_sql = aw.executable;
            d.where_attnums = referenced_attnums(aw.expr);
        });
    }
}

// The identity of a live shape: everything that changes what a client receives.
void set_def_key(ShapeDef &d) {
    std::string &k = d.def_key;
    const electric::ShapeDescription &s = d.desc;
    k = "relid:" + std::to_string(s.relid) + "\n";
    append_lenpref(k, "where:", s.request_where);
    k += "params:" + std::to_string(s.params.size()) + "\n";
    for (auto &p : s.params) append_lenpref(k, "param:", p);
    if (d.explicit_columns) {
        k += "columns:" + std::to_string(s.columns.size()) + "\n";
        for (auto &c : s.columns) append_lenpref(k, "column:", c);
    } else {
        k += "columns:*\n";
    }
    k += std::string("replica:") + d.replica() + "\nlog:" + d.log_mode();
    if (d.read_role()) {
        k += "\n";
        append_lenpref(k, "role:", s.read_role);
        append_lenpref(k, "policy:", s.policy_where);
    }
}

// An authorized shape (docs/authorization.md): the reader's role may read the selected columns
// and those the where clause uses, and its row-level security policies, compiled with its
// claims, are and-ed to the where clause.
void authorize(const ShapeInput &in, Relation rel, const std::vector<int> &selected, ShapeDef &d) {
    Oid role = check_reader_role(*in.role);
    check_column_grants(rel, role, selected, "columns");
    check_column_grants(rel, role, d.where_attnums, "where");
    d.desc.read_role = *in.role;
    d.desc.policy_where = compile_read_policy(rel, role, *in.role, in.claims.value_or("{}"));
    if (d.desc.policy_where.empty()) return;
    std::string combined = electric::effective_where(d.desc.request_where, d.desc.policy_where);
    in_scratch_context([&] { d.where_sql = analyze_where(rel, combined, d.desc.params).executable; });
}

}  // namespace

// Validates and normalizes a definition. Leaves the table locked (AccessShareLock, or
// AccessExclusiveLock when for_create and the replica identity must still be set).
ShapeDef validate_definition(const ShapeInput &in, bool for_create) {
    ShapeDef d;
    check_modes(in, d);
    if (!in.table)
        throw ShapeError("table", ERRCODE_NULL_VALUE_NOT_ALLOWED, "table name must not be NULL",
                         "Give the table as table, schema.table or \"Quoted Name\".");

    Oid relid = resolve_shape_table(*in.table, AccessShareLock, for_create, nullptr);
    Relation rel = pg_guard([&] { return table_open(relid, NoLock); });
    try {
        ShapeRelation r = describe_relation(rel);
        check_shape_relation(r);
        d.desc.relid = relid;
        d.desc.schema = r.schema;
        d.desc.table = r.table;
        d.replident = r.replident;
        std::vector<int> selected = select_columns(in, r, d);
        check_where(in, rel, d);
        if (in.role) authorize(in, rel, selected, d);
        d.desc.schema_json = schema_json(r, selected);
        for (int a : r.key_attnums()) d.desc.pk_columns.push_back(r.attrs[a - 1].name);
        d.desc.where = electric::effective_where(d.desc.request_where, d.desc.policy_where);
        d.signature = relation_signature(r);
    } catch (...) {
        pg_guard([&] { table_close(rel, NoLock); });
        throw;
    }
    pg_guard([&] { table_close(rel, NoLock); });
    set_def_key(d);
    return d;
}

int64 unix_micros_now() {
    return static_cast<int64>(GetCurrentTimestamp()) + (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
}

struct LiveShape {
    std::string shape_id, handle, signature;
};

std::optional<LiveShape> find_live_shape(const std::string &def_key) {
    auto res = spi::exec(
        "SELECT shape_id::text, handle, rel_signature FROM electric_sync.shapes "
        "WHERE md5(def_key) = md5($1) AND def_key = $1 AND status = 'active'",
        {def_key});
    if (res.rows.empty()) return std::nullopt;
    return LiveShape{*res.rows[0][0], *res.rows[0][1], *res.rows[0][2]};
}

std::string create_shape(const ShapeInput &in) {
    ShapeDef d = validate_definition(in, true);
    pg_guard([] {
        if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    });
    // Concurrent creations of one definition take turns (until the end of the transaction): the
    // second finds the first's shape. Without it both could compute the same handle in the same
    // microsecond and one failed on the handle's unique index (seen when many clients re-synced
    // after a rotation at once).
    uint64_t h64 = electric::fnv1a64(d.def_key);
    uint32_t h32 = static_cast<uint32_t>(h64 ^ (h64 >> 32));
    spi::exec("SELECT pg_advisory_xact_lock(1163085825, $1::int)", {std::to_string(static_cast<int32_t>(h32))});
    if (auto live = find_live_shape(d.def_key)) {
        if (live->signature == d.signature) {
            pg_guard([] { SPI_finish(); });
            return live->handle;
        }
        // The table changed without the DDL hooks noticing (event triggers disabled, or
        // session_replication_role = replica): that shape is stale, replace it.
        spi::exec("SELECT electric_sync._invalidate_shape($1::bigint, 'relation changed')", {live->shape_id});
    }

    // The live log needs old tuples (unchanged TOAST values, replica=full, PK-less tables).
    if (d.replident != REPLICA_IDENTITY_FULL) {
        try {
            spi::exec("ALTER TABLE " + quote_qualified_pg(d.desc.schema, d.desc.table) + " REPLICA IDENTITY FULL");
        } catch (const PgException &e) {
            const ErrorData *ed = e.edata();
            throw ShapeError(
                "table", ed ? ed->sqlerrcode : ERRCODE_INTERNAL_ERROR,
                "cannot set REPLICA IDENTITY FULL on table " + quote_qualified_pg(d.desc.schema, d.desc.table) + ": " + e.what(),
                "The first shape on a table sets its replica identity to FULL, which needs the table's "
                "owner: run ALTER TABLE ... REPLICA IDENTITY FULL as the owner once, or create the "
                "shape as the owner.");
        }
        bool found = false;
        d.signature = relation_signature_by_oid(d.desc.relid, &found);
    }

    // "<hash of the definition>-<unix microseconds>", never reused (bumped on a clash).
    int64 micros = unix_micros_now();
    std::string handle;
    for (;;) {
        handle = electric::make_shape_handle(h32, micros);
        auto r = spi::exec("SELECT 1 FROM electric_sync.shapes WHERE handle = $1", {handle});
        if (r.rows.empty()) break;
        micros++;
    }

    // What the role was when the shape was made (_check_reader_roles compares it later).
    std::optional<std::string> role_state;
    if (d.read_role())
        role_state = spi::exec("SELECT electric_sync._reader_role_state($1)", {d.desc.read_role}).rows.at(0)[0];
    std::optional<std::string> params_lit, columns_lit, where;
    if (!d.desc.params.empty()) params_lit = array_literal(d.desc.params);
    if (d.explicit_columns) columns_lit = array_literal(d.desc.columns);
    auto ins = spi::exec(
        "INSERT INTO electric_sync.shapes (handle, def_key, relid, schema_name, table_name, where_clause, params, "
        "columns, replica, log_mode, schema_json, pk_columns, rel_signature, where_sql, read_role, policy_where, "
        "read_role_state) "
        "VALUES ($1, $2, $3::oid, $4, $5, $6, $7::text[], $8::text[], $9, $10, $11, $12::text[], $13, $14, $15, "
        "$16, $17) "
        "ON CONFLICT ((md5(def_key))) WHERE status = 'active' DO NOTHING RETURNING shape_id",
        {handle, d.def_key, std::to_string(d.desc.relid), d.desc.schema, d.desc.table, d.where(), params_lit,
         columns_lit, d.replica(), d.log_mode(), d.desc.schema_json, array_literal(d.desc.pk_columns), d.signature,
         // '' for a clause that calls allow-listed functions: snapshots filter with _where_check.
         !d.desc.where.empty() ? std::optional<std::string>(d.where_sql) : std::nullopt, d.read_role(),
         d.desc.policy_where.empty() ? std::nullopt : std::optional<std::string>(d.desc.policy_where), role_state});
    if (ins.rows.empty()) {
        // A concurrent create_shape of the same definition committed first: use its shape.
        auto live = find_live_shape(d.def_key);
        if (!live) throw SqlError(ERRCODE_T_R_SERIALIZATION_FAILURE, "concurrent shape creation conflict, retry");
        pg_guard([] { SPI_finish(); });
        return live->handle;
    }
    std::string msg = engine_message::encode(engine_message::Kind::ShapeCreated, std::stoll(*ins.rows[0][0]));
    pg_guard([&] {
        LogLogicalMessage(engine_message::kPrefix, msg.c_str(), msg.size(), true);
        SPI_finish();
    });
    return handle;
}

}  // namespace
}  // namespace es

using namespace es;

// electric_sync.create_shape(table, where, columns, replica, params, log_mode, read_role, claims)
// -> handle
extern "C" Datum es_create_shape(PG_FUNCTION_ARGS) {
    return pg_entry([&]() -> Datum {
        ShapeInput in = read_input(fcinfo);
        std::string handle = create_shape(in);
        return text_datum(handle);
    });
}

// electric_sync.validate_shape(...) -> record (never raises for bad input)
extern "C" Datum es_validate_shape(PG_FUNCTION_ARGS) {
    return pg_entry([&]() -> Datum {
        TupleDesc td = nullptr;
        TypeFuncClass cls = pg_guard([&] { return get_call_result_type(fcinfo, nullptr, &td); });
        if (cls != TYPEFUNC_COMPOSITE)
            throw SqlError(ERRCODE_FEATURE_NOT_SUPPORTED, "validate_shape must return a record");
        ShapeInput in = read_input(fcinfo);
        ShapeDef d;
        bool ok = false;
        std::string field, message, hint, detail;
        int code = 0, position = 0;
        try {
            run_in_subtransaction([&] { d = validate_definition(in, false); });
            ok = true;
        } catch (const ShapeError &e) {
            field = e.field, code = e.sqlstate, message = e.msg, hint = e.hint, detail = e.detail,
            position = e.position;
        } catch (const SqlError &e) {
            code = e.sqlstate, message = e.msg, hint = e.hint, detail = e.detail;
        } catch (const PgException &e) {
            const ErrorData *ed = e.edata();
            code = ed ? ed->sqlerrcode : ERRCODE_INTERNAL_ERROR;
            message = e.what();
            if (ed && ed->hint) hint = ed->hint;
            if (ed && ed->detail) detail = ed->detail;
        }
        constexpr int N = 17;
        Datum v[N];
        bool n[N];
        for (int i = 0; i < N; i++) v[i] = (Datum)0, n[i] = true;
        v[0] = BoolGetDatum(ok), n[0] = false;
        auto set_text = [&](int i, const std::string &s, bool present = true) {
            if (present) v[i] = text_datum(s), n[i] = false;
        };
        if (!ok) {
            set_text(1, field, !field.empty());
            const char *st = pg_guard([&] { return unpack_sql_state(code); });
            set_text(2, st);
            set_text(3, message);
            set_text(4, hint, !hint.empty());
            set_text(5, detail, !detail.empty());
            if (position > 0) v[6] = Int32GetDatum(position), n[6] = false;
        } else {
            const electric::ShapeDescription &s = d.desc;
            v[7] = ObjectIdGetDatum(s.relid), n[7] = false;
            set_text(8, s.schema);
            set_text(9, s.table);
            set_text(10, s.request_where, !s.request_where.empty());
            if (d.explicit_columns) v[11] = text_array_datum(s.columns), n[11] = false;
            v[12] = text_array_datum(s.pk_columns), n[12] = false;
            set_text(13, d.replica());
            set_text(14, d.log_mode());
            set_text(15, s.schema_json);
            set_text(16, d.def_key);
        }
        return pg_guard([&] { return HeapTupleGetDatum(heap_form_tuple(td, v, n)); });
    });
}

// electric_sync._where_matches(tbl, where_clause, params, row_values) -> boolean
extern "C" Datum es_where_matches(PG_FUNCTION_ARGS) {
    return pg_entry([&]() -> Datum {
        if (PG_ARGISNULL(0) || PG_ARGISNULL(3)) {
            fcinfo->isnull = true;
            return (Datum)0;
        }
        Oid relid = PG_GETARG_OID(0);
        std::string where = text_arg(fcinfo, 1).value_or("");
        std::vector<std::string> params;
        if (auto p = text_array_arg(fcinfo, 2, "params")) {
            for (auto &v : *p) {
                if (!v) throw SqlError(ERRCODE_NULL_VALUE_NOT_ALLOWED, "parameter values must not be NULL");
                params.push_back(*v);
            }
        }
        TextList row = *text_array_arg(fcinfo, 3, "row_values");
        auto cw = CompiledWhere::compile(relid, where, params);
        bool r = cw->matches(row);
        return BoolGetDatum(r);
    });
}

// electric_sync._where_sql(tbl, where_clause, params, read_role) -> text: the where clause analyzed and
// checked like a shape's, deparsed with the parameters as typed constants. What the read path
// runs in snapshot and subset queries (never the request's text). Raises for a bad clause.
extern "C" Datum es_where_sql(PG_FUNCTION_ARGS) {
    return pg_entry([&]() -> Datum {
        if (PG_ARGISNULL(0) || PG_ARGISNULL(1)) {
            fcinfo->isnull = true;
            return (Datum)0;
        }
        Oid relid = PG_GETARG_OID(0);
        std::string where = *text_arg(fcinfo, 1);
        std::vector<std::string> params;
        if (auto p = text_array_arg(fcinfo, 2, "params")) {
            for (auto &v : *p) {
                if (!v) throw ShapeError("params", ERRCODE_NULL_VALUE_NOT_ALLOWED, "parameter values must not be NULL");
                params.push_back(*v);
            }
        }
        if (is_blank(where))
            throw ShapeError("where", ERRCODE_SYNTAX_ERROR, "invalid where clause: it is empty",
                             "Give a boolean SQL expression over the table's columns.");
        Relation rel = pg_guard([&] { return try_table_open(relid, AccessShareLock); });
        if (!rel) throw ShapeError("table", ERRCODE_UNDEFINED_TABLE, "the shape's table does not exist any more");
        std::string sql;
        try {
            AnalyzedWhere aw = analyze_where(rel, where, params);
            sql = aw.executable;
            // An authorized reader's subset: only columns its role may select (what rows a
            // where on another column returns would tell that column's values).
            if (PG_NARGS() > 3 && !PG_ARGISNULL(3)) {
                Oid role = check_reader_role(*text_arg(fcinfo, 3));
                check_column_grants(rel, role, referenced_attnums(aw.expr), "where");
            }
        } catch (...) {
            pg_guard([&] { table_close(rel, AccessShareLock); });
            throw;
        }
        pg_guard([&] { table_close(rel, AccessShareLock); });
        if (sql.empty()) {  // calls allow-listed functions: evaluate with _where_check
            fcinfo->isnull = true;
            return (Datum)0;
        }
        return text_datum(sql);
    });
}

// electric_sync._where_check(tbl, where_clause, params, row) -> boolean: the where clause
// evaluated on one row of the table, as electric_sync_where in a security-restricted operation
// (how snapshots and subsets filter rows when the clause calls allow-listed functions). The
// compiled clause is kept for the rest of the transaction (a few at a time).
extern "C" Datum es_where_check(PG_FUNCTION_ARGS) {
    return pg_entry([&]() -> Datum {
        if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(3)) {
            fcinfo->isnull = true;
            return (Datum)0;
        }
        Oid relid = PG_GETARG_OID(0);
        std::string where = *text_arg(fcinfo, 1);
        std::vector<std::string> params;
        if (auto p = text_array_arg(fcinfo, 2, "params"))
            for (auto &v : *p) params.push_back(v.value_or(""));
        HeapTupleHeader row = pg_guard([&] { return PG_GETARG_HEAPTUPLEHEADER(3); });
        struct Entry {
            LocalTransactionId lxid = InvalidLocalTransactionId;
            Oid relid = InvalidOid;
            std::string where;
            std::vector<std::string> params;
            std::unique_ptr<CompiledWhere> cw;
        };
        // On the heap and never freed: a static with a destructor would run at process exit,
        // after Postgres has torn its memory down.
        static Entry *cache = new Entry[4];
        static int next = 0;
        CompiledWhere *cw = nullptr;
        for (int i = 0; i < 4; i++) {
            Entry &e = cache[i];
            if (e.cw && e.lxid != MyProc->lxid) e.cw.reset();
            if (e.cw && e.relid == relid && e.where == where && e.params == params) cw = e.cw.get();
        }
        if (!cw) {
            Entry &e = cache[next];
            next = (next + 1) % 4;
            e.cw.reset();
            e.cw = CompiledWhere::compile(relid, where, params, true);
            e.lxid = MyProc->lxid;
            e.relid = relid;
            e.where = where;
            e.params = params;
            cw = e.cw.get();
        }
        return BoolGetDatum(cw->matches_row(row));
    });
}

// electric_sync._where_bench(tbl, where_clause, params, row_values, iterations) -> float8:
// compiles once, then evaluates `iterations` times; returns nanoseconds per evaluation.
extern "C" Datum es_where_bench(PG_FUNCTION_ARGS) {
    return pg_entry([&]() -> Datum {
        if (PG_ARGISNULL(0) || PG_ARGISNULL(3) || PG_ARGISNULL(4)) {
            fcinfo->isnull = true;
            return (Datum)0;
        }
        Oid relid = PG_GETARG_OID(0);
        int iterations = PG_GETARG_INT32(4);
        std::string where = text_arg(fcinfo, 1).value_or("");
        std::vector<std::string> params;
        if (auto p = text_array_arg(fcinfo, 2, "params"))
            for (auto &v : *p) params.push_back(v.value_or(""));
        TextList row = *text_array_arg(fcinfo, 3, "row_values");
        auto cw = CompiledWhere::compile(relid, where, params);
        auto t0 = std::chrono::steady_clock::now();
        long hits = 0;
        for (int i = 0; i < iterations; i++) {
            if ((i & 1023) == 0) pg_guard([] { CHECK_FOR_INTERRUPTS(); });
            hits += cw->matches(row) ? 1 : 0;
        }
        auto ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
        (void)hits;
        return Float8GetDatum(iterations > 0 ? ns / iterations : 0.0);
    });
}

// electric_sync._relation_signature(relid) -> text (NULL if the relation does not exist)
extern "C" Datum es_relation_signature(PG_FUNCTION_ARGS) {
    return pg_entry([&]() -> Datum {
        Oid relid = PG_GETARG_OID(0);
        bool exists = pg_guard([&] { return get_rel_relkind(relid) == RELKIND_RELATION; });
        bool found = false;
        std::string sig;
        if (exists) sig = relation_signature_by_oid(relid, &found);
        if (!found) {
            fcinfo->isnull = true;
            return (Datum)0;
        }
        return text_datum(sig);
    });
}

// electric_sync._emit_message(kind, shape_id, detail) -> pg_lsn: a message to the engine
// (core/common/engine_message.hpp), written as a transactional logical decoding message.
extern "C" Datum es_emit_message(PG_FUNCTION_ARGS) {
    return pg_entry([&]() -> Datum {
        if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
            throw SqlError(ERRCODE_NULL_VALUE_NOT_ALLOWED, "kind and shape_id must not be NULL");
        std::string kind = *text_arg(fcinfo, 0);
        auto k = engine_message::kind_named(kind);
        if (!k) throw SqlError(ERRCODE_INVALID_PARAMETER_VALUE, "unknown engine message kind \"" + kind + "\"");
        std::string msg = engine_message::encode(*k, PG_GETARG_INT64(1), text_arg(fcinfo, 2).value_or(""));
        return pg_guard(
            [&] { return LSNGetDatum(LogLogicalMessage(engine_message::kPrefix, msg.c_str(), msg.size(), true)); });
    });
}
