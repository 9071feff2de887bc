// Shape where clauses with Postgres semantics (backend side; main thread only).
//
// A where clause is parsed by Postgres' own grammar (as `SELECT 1 WHERE <clause>`, checked to be
// exactly that shape), analyzed against the shape's table (transformExpr, EXPR_KIND_WHERE),
// coerced to boolean and checked: only the table's own columns, `$n` parameters and immutable
// built-in functions/operators (others only when a superuser allow-listed them in
// electric_sync.where_functions; SECURITY DEFINER never); no subqueries, aggregates, window or
// set-returning functions, no system columns, no reg* casts, no user-defined domains. Analysis,
// folding and every evaluation run as the unprivileged role electric_sync_where, in a
// security-restricted operation (docs/security.md). Parameters get the types Postgres infers for them (unresolved ones become text) and
// are turned into constants with the type's input function. Rows are evaluated with the
// executor (ExecInitQual/ExecQual) on a virtual slot; no hand-written SQL evaluator.
//
// Analysis uses fixed settings (the same for create_shape in any session and for the worker):
// search_path = pg_catalog, <table schema>, public; TimeZone = UTC and DateStyle = ISO, YMD
// for literals and parameters (a timestamptz parameter '2024-01-02 00:00' means UTC).
//
// Every function here needs a transaction (catalog access) and may only run on the thread
// that runs Postgres.
#pragma once
#include "pg/compat.hpp"

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

extern "C" {
#include "access/tupdesc.h"
#include "executor/tuptable.h"
#include "nodes/execnodes.h"
#include "utils/relcache.h"
}

namespace es {

// A validation error of a shape definition. `field` names the part of the definition that is
// wrong, as the HTTP layer reports it: "table", "columns", "where", "params", "replica", "log".
// `position` is the 1-based character position inside the where clause (0 = unknown).
class ShapeError : public SqlError {
public:
    ShapeError(std::string field, int sqlstate, std::string msg, std::string hint = {}, std::string detail = {},
               int position = 0)
        : SqlError(sqlstate, std::move(msg), std::move(hint), std::move(detail)),
          field(std::move(field)),
          position(position) {}
    std::string field;
    int position;
};

// Bounds of a where clause (longer, deeper or with more parameters: a "where"/"params" error).
constexpr size_t kMaxWhereBytes = 256 * 1024;
constexpr size_t kMaxWhereParams = 10000;
constexpr int kMaxWhereDepth = 256;

// Result of analyzing a where clause (palloc'd in the memory context current at the call).
struct AnalyzedWhere {
    Node *expr = nullptr;  // boolean expression; Params replaced by Consts
    std::string normalized;  // deparsed form with $n (canonical, for the shape identity)
    std::string executable;  // deparsed with the parameters as typed constants (snapshots);
        // "" when it calls allow-listed (non-built-in) functions
    bool calls_allowed = false;  // calls allow-listed functions: snapshots must evaluate it
        // through _where_check (security-restricted), not as SQL
    std::vector<Oid> param_types;  // inferred type of $1..$n
};

// Parses, analyzes and checks `where_clause` against the open relation `rel` and coerces the
// params. Throws ShapeError (field "where" or "params") on bad input. An empty where clause
// is an error here; callers treat "no where" before calling. Errors leave the transaction in
// an undefined state unless the caller runs this inside a subtransaction.
AnalyzedWhere analyze_where(Relation rel, const std::string &where_clause, const std::vector<std::string> &params);

// The role every where clause is evaluated as (created by the extension script): no login,
// not a superuser; it reads tables through pg_read_all_data (snapshots) and nothing else.
constexpr const char *kWhereRole = "electric_sync_where";

// The OID of kWhereRole; throws SqlError when it is missing or has been made a superuser.
Oid where_role_oid();

// While alive: the current user is `role`, in a security-restricted operation (no SET ROLE,
// no temporary objects, ...), as Postgres does for index expressions and matview refreshes.
class EvalRole {
public:
    explicit EvalRole(Oid role);
    ~EvalRole();
    EvalRole(const EvalRole &) = delete;
    EvalRole &operator=(const EvalRole &) = delete;

private:
    Oid saved_uid_ = InvalidOid;
    int saved_sec_ = 0;
};

// Runs f inside an internal subtransaction: on any exception the subtransaction is rolled back
// (releasing whatever Postgres state the failed code left behind) and the exception rethrown;
// the caller's memory context and resource owner are restored either way.
void run_in_subtransaction(const std::function<void()> &f);

class CompiledWhere {
public:
    // Parses, analyzes and checks where_clause against relid (same rules as create_shape;
    // throws es::SqlError — an es::ShapeError — on bad input). params are the $n values as
    // text; they are coerced to the types Postgres infers for them. An empty (or blank)
    // where_clause compiles to "always true". Runs in an internal subtransaction, so a bad
    // clause leaves the caller's transaction usable.
    // keep_executor: keep the executor state even for `col = const` clauses (matches_row).
    static std::unique_ptr<CompiledWhere> compile(Oid relid, const std::string &where_clause,
                                                  const std::vector<std::string> &params, bool keep_executor = false);

    // Evaluates a whole row of the relation (its composite datum), as the where role in a
    // security-restricted operation. Errors propagate (PgException). Compile with keep_executor.
    bool matches_row(HeapTupleHeader row);

    // values: one entry per attribute of the relation (index = attnum-1, dropped columns
    // included as nullopt), each the column's text output or nullopt for NULL. Only the
    // attributes the expression references are converted (with their type input functions).
    // NULL or false -> false. An evaluation error (division by zero, a bad cast of a jsonb
    // field, ...) throws es::SqlError (ERRCODE of the Postgres error); the row then matches
    // nothing as far as the caller is concerned. Needs a transaction (input functions of
    // enums, domains, ... read the catalogs).
    bool matches(const std::vector<std::optional<std::string>> &values);

    // Attribute numbers (1-based) the expression reads; empty for "always true".
    const std::vector<int> &referenced_attnums() const { return attnums_; }
    // Number of attributes matches() expects (the relation's natts, dropped included).
    int natts() const { return natts_; }
    // The normalized (deparsed) where clause, "" for "always true".
    const std::string &normalized() const { return normalized_; }
    bool always_true() const { return qual_ == nullptr && !eq_exact_; }
    // Routing index key: when the clause is (or has, as a top-level AND conjunct) `col = const`
    // or `col IN (consts)` on a column whose text output equality is value equality (integers,
    // text, varchar, uuid, bool), the attnum and the constants' text outputs. A row can only
    // match when that column's text is one of the values. eq_attnum() == 0: not indexable.
    int eq_attnum() const { return eq_attnum_; }
    const std::vector<std::string> &eq_values() const { return eq_values_; }
    // The whole where clause is that equality (or IN list): a row matches exactly when its
    // column text is one of eq_values() (so routing need not run the executor).
    bool eq_exact() const { return eq_exact_; }
    // For eq_exact() clauses: does a row whose column (eq_attnum()) has this text (nullopt: NULL)
    // match?
    bool eq_match(const std::optional<std::string_view> &text) const {
        return text && std::find(eq_values_.begin(), eq_values_.end(), *text) != eq_values_.end();
    }

    ~CompiledWhere();
    CompiledWhere(const CompiledWhere &) = delete;
    CompiledWhere &operator=(const CompiledWhere &) = delete;

private:
    CompiledWhere() = default;
    void build(Oid relid, const std::string &where_clause, const std::vector<std::string> &params);

    struct AttrInput {
        FmgrInfo finfo;
        Oid ioparam = InvalidOid;
        int32 typmod = -1;
    };

    MemoryContext cxt_ = nullptr;  // owns everything below (child of TopMemoryContext)
    int natts_ = 0;
    TupleDesc tupdesc_ = nullptr;
    TupleTableSlot *slot_ = nullptr;
    ExprContext *econtext_ = nullptr;  // per-tuple memory reset per evaluation
    ExprState *qual_ = nullptr;  // null = always true
    std::vector<int> attnums_;
    std::vector<AttrInput *> inputs_;  // indexed by attnum-1; null when not referenced
    bool needs_subxact_ = false;  // expression calls non-builtin functions
    Oid role_ = InvalidOid;  // evaluated as this role (kWhereRole)
    std::string normalized_;
    int eq_attnum_ = 0;
    bool eq_exact_ = false;
    std::vector<std::string> eq_values_;
    void find_eq_key(Node *expr);
};

}  // namespace es
