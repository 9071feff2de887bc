// Shape where clauses: Postgres parse analysis + executor evaluation (see where.hpp).
#include "pg/compat.hpp"
extern "C" {
#include "access/htup_details.h"
#include "access/table.h"
#include "access/genam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "parser/parse_collate.h"
#include "parser/parse_expr.h"
#include "parser/parse_node.h"
#include "parser/parse_param.h"
#include "parser/parse_relation.h"
#include "parser/parser.h"
#include "parser/parse_type.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/fmgroids.h"
#include "utils/regproc.h"
#include "access/stratnum.h"
#include "utils/snapmgr.h"
#include "rewrite/rewriteManip.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"
}
#include "shape/where.hpp"
#include "shape/eval_watchdog.hpp"

#include <cctype>

namespace es {

namespace {

constexpr const char *kPrefix = "SELECT 1 WHERE ";
constexpr int kPrefixChars = 15;   // characters of kPrefix (error positions are in characters)

const char *kGenericHint =
    "A shape where clause is a boolean SQL expression over the table's own columns and $n "
    "parameters, using immutable functions and operators only, e.g. status = 'active' AND "
    "owner_id = $1.";

std::string str(const char *p) { return p ? std::string(p) : std::string(); }

bool is_blank(const std::string &s) {
    for (char c : s)
        if (!isspace(static_cast<unsigned char>(c))) return false;
    return true;
}

std::string hint_for(const ErrorData *ed) {
    if (ed->hint) return ed->hint;
    std::string msg = str(ed->message);
    if (msg.find("set-returning") != std::string::npos)
        return "Set-returning functions cannot be used in a shape where clause.";
    switch (ed->sqlerrcode) {
    case ERRCODE_SYNTAX_ERROR:
        return "The where clause must be a single boolean SQL expression, e.g. status = 'active' AND "
               "owner_id = $1 (string literals in single quotes, identifiers with capitals in double quotes).";
    case ERRCODE_UNDEFINED_COLUMN:
        return "Only the columns of the shape's table can be used. Quote column names with capitals or "
               "special characters: \"MyColumn\".";
    case ERRCODE_UNDEFINED_TABLE:
        return "A shape where clause can only reference the columns of its own table; other tables and "
               "subqueries are not supported.";
    case ERRCODE_UNDEFINED_FUNCTION:
        return "No function or operator matches the given name and argument types; you might need to add "
               "explicit type casts.";
    case ERRCODE_DATATYPE_MISMATCH:
        return "The where clause must be a boolean expression; compare values of compatible types or add "
               "explicit casts.";
    case ERRCODE_GROUPING_ERROR:
        return "Aggregate functions cannot be used in a shape where clause.";
    case ERRCODE_WINDOWING_ERROR:
        return "Window functions cannot be used in a shape where clause.";
    case ERRCODE_UNDEFINED_PARAMETER:
        return "Parameters are written $1, $2, ... and given in params (params[1] for $1, ...).";
    default:
        return kGenericHint;
    }
}

// Converts a Postgres error raised while handling the where clause into a ShapeError whose
// position refers to the where clause itself (not to our "SELECT 1 WHERE " wrapper).
[[noreturn]] void rethrow_where(const PgException &e, const char *field = "where",
                                const std::string &prefix = "invalid where clause: ") {
    const ErrorData *ed = e.edata();
    if (!ed) throw ShapeError(field, ERRCODE_INTERNAL_ERROR, prefix + e.what(), kGenericHint);
    int pos = ed->cursorpos > kPrefixChars ? ed->cursorpos - kPrefixChars : 0;
    // A reference to another table ("missing FROM-clause entry for table x") is a problem of the
    // where clause, not a missing shape table: never report it with the table's SQLSTATE.
    int code = ed->sqlerrcode == ERRCODE_UNDEFINED_TABLE ? ERRCODE_FEATURE_NOT_SUPPORTED : ed->sqlerrcode;
    std::string detail = str(ed->detail);
    if (pos > 0) {
        if (!detail.empty()) detail += "\n";
        detail += "At character " + std::to_string(pos) + " of the where clause.";
    }
    std::string msg = str(ed->message);
    if (ed->sqlerrcode == ERRCODE_UNDEFINED_TABLE)
        msg = "it references another table (" + msg + "); a shape where clause can only use the columns of its own table";
    throw ShapeError(field, code, prefix + msg, hint_for(ed), detail, pos);
}

[[noreturn]] void where_error(int code, const std::string &msg, const std::string &hint,
                              const std::string &detail = {}, const char *field = "where") {
    throw ShapeError(field, code, "invalid where clause: " + msg, hint, detail);
}

// Fixed settings while a where clause is analyzed, so its meaning does not depend on the
// session that happens to analyze it (create_shape in any session, the worker): search_path
// for name resolution, and TimeZone / DateStyle / extra_float_digits for literals such as
// '2024-01-02 00:00' (read as UTC) and for the normalized text. Restored when the scope ends.
class AnalysisSettings {
public:
    explicit AnalysisSettings(const std::string &path) {
        level_ = pg_guard([&] {
            int level = NewGUCNestLevel();
            auto set = [](const char *name, const char *value) {
                (void)set_config_option(name, value, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
            };
            set("search_path", path.c_str());
            set("TimeZone", "UTC");
            set("DateStyle", "ISO, YMD");
            set("IntervalStyle", "postgres");
            set("extra_float_digits", "1");
            return level;
        });
    }
    ~AnalysisSettings() {
        try {
            pg_guard([&] { AtEOXact_GUC(true, level_); });
        } catch (...) {
        }
    }

private:
    int level_ = 0;
};

struct ContextSwitch {
    explicit ContextSwitch(MemoryContext c) : old(MemoryContextSwitchTo(c)) {}
    ~ContextSwitch() { MemoryContextSwitchTo(old); }
    MemoryContext old;
};

// The raw parse tree must be exactly `SELECT 1 WHERE <expr>`: anything else means the clause
// smuggled in more SQL (`;`, UNION, ORDER BY, LIMIT, FOR UPDATE, WINDOW, ...).
Node *single_where(List *raw) {
    const char *msg = "it must be a single boolean expression";
    const char *hint =
        "Write only the condition (what follows WHERE), e.g. status = 'active'; statements separated by ';', "
        "UNION, GROUP BY, ORDER BY, LIMIT, FOR UPDATE and other clauses are not allowed.";
    if (list_length(raw) != 1) where_error(ERRCODE_SYNTAX_ERROR, msg, hint);
    RawStmt *rs = static_cast<RawStmt *>(linitial(raw));
    if (!rs || !rs->stmt || !IsA(rs->stmt, SelectStmt)) where_error(ERRCODE_SYNTAX_ERROR, msg, hint);
    SelectStmt *s = reinterpret_cast<SelectStmt *>(rs->stmt);
    bool ok = s->op == SETOP_NONE && !s->larg && !s->rarg && !s->distinctClause && !s->intoClause &&
              !s->fromClause && !s->groupClause && !s->groupDistinct && !s->havingClause && !s->windowClause &&
              !s->valuesLists && !s->sortClause && !s->limitOffset && !s->limitCount &&
              !s->lockingClause && !s->withClause &&
              list_length(s->targetList) == 1 && s->whereClause;
    if (ok) {
        ResTarget *rt = static_cast<ResTarget *>(linitial(s->targetList));
        ok = rt && IsA(rt, ResTarget) && !rt->name && rt->val && IsA(rt->val, A_Const);
    }
    if (!ok) where_error(ERRCODE_SYNTAX_ERROR, msg, hint);
    return s->whereClause;
}

// ---- tree walkers (C callbacks: they never throw C++ exceptions) ---------------------------

// PG15 declares walker/mutator arguments as unprototyped C function pointers; cast via the
// generic function pointer type (what the C code does implicitly).
using GenericFn = void (*)();
inline bool (*walker_cast(bool (*f)(Node *, void *)))() {
    return reinterpret_cast<bool (*)()>(reinterpret_cast<GenericFn>(f));
}
inline Node *(*mutator_cast(Node *(*f)(Node *, void *)))() {
    return reinterpret_cast<Node *(*)()>(reinterpret_cast<GenericFn>(f));
}

struct InfoWalk {
    Bitmapset *params = nullptr;   // referenced $n
    AttrNumber system_attno = 0;   // a referenced system column, if any
};

bool info_walker(Node *node, void *ctx) {
    if (!node) return false;
    InfoWalk *w = static_cast<InfoWalk *>(ctx);
    if (IsA(node, Param)) {
        Param *p = reinterpret_cast<Param *>(node);
        if (p->paramkind == PARAM_EXTERN) {
            if (p->paramtype == UNKNOWNOID) {   // unresolved type: the value is text
                p->paramtype = TEXTOID;
                p->paramcollid = DEFAULT_COLLATION_OID;
            }
            w->params = bms_add_member(w->params, p->paramid);
        }
        return false;
    }
    if (IsA(node, Var)) {
        Var *v = reinterpret_cast<Var *>(node);
        if (v->varattno < 0 && !w->system_attno) w->system_attno = v->varattno;
        return false;
    }
    return expression_tree_walker(node, walker_cast(info_walker), ctx);
}

bool mutable_checker(Oid func_id, void *ctx) {
    if (func_volatile(func_id) != PROVOLATILE_IMMUTABLE) {
        *static_cast<Oid *>(ctx) = func_id;
        return true;
    }
    return false;
}

bool mutable_walker(Node *node, void *ctx) {
    if (!node) return false;
    if (check_functions_in_node(node, mutable_checker, ctx)) return true;
    return expression_tree_walker(node, walker_cast(mutable_walker), ctx);
}

bool nonbuiltin_checker(Oid func_id, void *) {
    HeapTuple tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(func_id));
    if (!HeapTupleIsValid(tup)) return true;
    Oid lang = ((Form_pg_proc)GETSTRUCT(tup))->prolang;
    ReleaseSysCache(tup);
    return lang != INTERNALlanguageId && lang != ClanguageId;
}

bool nonbuiltin_walker(Node *node, void *ctx) {
    if (!node) return false;
    if (check_functions_in_node(node, nonbuiltin_checker, ctx)) return true;
    return expression_tree_walker(node, walker_cast(nonbuiltin_walker), ctx);
}

// ---- what may run in a where clause (docs/security.md) -----------------------------------

// reg* types: their input functions look names up in the catalogs, so a literal such as
// 'pg_authid'::regclass is an existence oracle for any object, evaluated at parse time.
bool is_reg_type(Oid t) {
    switch (t) {
    case REGCLASSOID:
    case REGPROCOID:
    case REGPROCEDUREOID:
    case REGOPEROID:
    case REGOPERATOROID:
    case REGTYPEOID:
    case REGCONFIGOID:
    case REGDICTIONARYOID:
    case REGNAMESPACEOID:
    case REGROLEOID:
    case REGCOLLATIONOID:
        return true;
    default:
        return false;
    }
}

// A reg* type, a domain over one, or an array of one.
bool is_reg_family(Oid t) {
    if (!OidIsValid(t)) return false;
    Oid base = getBaseType(t);
    if (is_reg_type(base)) return true;
    Oid elem = get_element_type(base);
    return OidIsValid(elem) && is_reg_type(getBaseType(elem));
}

bool names_reg_type(TypeName *tn) {
    Type t = LookupTypeName(nullptr, tn, nullptr, true);
    if (!t) return false;
    Oid id = typeTypeId(t);
    ReleaseSysCache(t);
    return is_reg_family(id);
}

// Does any function of this name take or return a reg* type? Then a string literal given to it
// would be coerced (its input function run) during analysis.
bool name_has_reg_candidate(List *funcname) {
    FuncCandidateList c = FuncnameGetCandidates(funcname, -1, NIL, false, false, false, true);
    for (; c; c = c->next) {
        if (is_reg_family(get_func_rettype(c->oid))) return true;
        for (int i = 0; i < c->nargs; i++)
            if (is_reg_family(c->args[i])) return true;
    }
    return false;
}

struct RawCheck {
    Relation rel = nullptr;
    bool found = false;
    int location = -1;
};

// Raw parse tree, before analysis would run any input function: refuses casts to reg* types
// (x::regclass, CAST(x AS regclass), regclass 'x', regclass('x')), calls of functions that take
// or return reg* types, and references to reg*-typed columns (a literal compared with one is
// coerced). Otherwise 'pg_authid'::regclass would be an existence oracle for any object.
bool raw_reg_walker(Node *node, void *ctx) {
    if (!node) return false;
    RawCheck *c = static_cast<RawCheck *>(ctx);
    if (IsA(node, TypeCast)) {
        TypeCast *tc = reinterpret_cast<TypeCast *>(node);
        if (tc->typeName && names_reg_type(tc->typeName)) {
            c->found = true;
            c->location = tc->location;
            return true;
        }
    } else if (IsA(node, FuncCall)) {
        FuncCall *fc = reinterpret_cast<FuncCall *>(node);
        if ((list_length(fc->args) == 1 && list_length(fc->funcname) <= 2 &&
             names_reg_type(makeTypeNameFromNameList(fc->funcname))) ||
            name_has_reg_candidate(fc->funcname)) {
            c->found = true;
            c->location = fc->location;
            return true;
        }
    } else if (IsA(node, ColumnRef)) {
        ColumnRef *cr = reinterpret_cast<ColumnRef *>(node);
        Node *last = static_cast<Node *>(llast(cr->fields));
        if (IsA(last, String)) {
            const char *name = strVal(last);
            TupleDesc td = RelationGetDescr(c->rel);
            for (int i = 0; i < td->natts; i++) {
                Form_pg_attribute a = TupleDescAttr(td, i);
                if (!a->attisdropped && strcmp(NameStr(a->attname), name) == 0 && is_reg_family(a->atttypid)) {
                    c->found = true;
                    c->location = cr->location;
                    return true;
                }
            }
        }
        return false;
    }
    return raw_expression_tree_walker(node, walker_cast(raw_reg_walker), ctx);
}

// The superuser-kept allow-list of non-built-in functions (electric_sync.where_functions).
std::vector<Oid> load_allowed_functions() {
    std::vector<Oid> out;
    Oid nsp = get_namespace_oid("electric_sync", true);
    Oid relid = OidIsValid(nsp) ? get_relname_relid("where_functions", nsp) : InvalidOid;
    if (!OidIsValid(relid)) return out;
    Relation rel = table_open(relid, AccessShareLock);
    SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, nullptr, 0, nullptr);
    HeapTuple tup;
    while (HeapTupleIsValid(tup = systable_getnext(scan))) {
        bool isnull = false;
        Datum d = heap_getattr(tup, 1, RelationGetDescr(rel), &isnull);
        if (!isnull) out.push_back(DatumGetObjectId(d));
    }
    systable_endscan(scan);
    table_close(rel, AccessShareLock);
    return out;
}

struct Policy {
    const std::vector<Oid> *allowed = nullptr;
    Oid bad_func = InvalidOid;
    bool secdef = false;           // bad_func is SECURITY DEFINER
    Oid bad_domain = InvalidOid;   // a coercion to a user-defined domain
    bool reg = false;              // a value of a reg* type
    bool uses_allowed = false;     // calls an allow-listed (non-built-in) function
};

bool policy_func_checker(Oid func_id, void *ctx) {
    Policy *p = static_cast<Policy *>(ctx);
    HeapTuple tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(func_id));
    if (!HeapTupleIsValid(tup)) {
        p->bad_func = func_id;
        return true;
    }
    bool secdef = ((Form_pg_proc)GETSTRUCT(tup))->prosecdef;
    ReleaseSysCache(tup);
    if (secdef) {
        p->bad_func = func_id;
        p->secdef = true;
        return true;
    }
    // Built in: created by initdb (not by a user or an extension).
    if (func_id < FirstNormalObjectId) return false;
    for (Oid a : *p->allowed)
        if (a == func_id) {
            p->uses_allowed = true;
            return false;
        }
    p->bad_func = func_id;
    return true;
}

bool policy_walker(Node *node, void *ctx) {
    if (!node) return false;
    Policy *p = static_cast<Policy *>(ctx);
    if (check_functions_in_node(node, policy_func_checker, ctx)) return true;
    if (IsA(node, CoerceToDomain)) {
        // Domain CHECK constraints are code of the domain's owner, run at evaluation.
        Oid t = reinterpret_cast<CoerceToDomain *>(node)->resulttype;
        if (t >= FirstNormalObjectId) {
            p->bad_domain = t;
            return true;
        }
    }
    if ((IsA(node, Const) || IsA(node, FuncExpr) || IsA(node, CoerceViaIO) || IsA(node, RelabelType) ||
         IsA(node, ArrayCoerceExpr) || IsA(node, Param)) &&
        is_reg_family(exprType(node))) {
        p->reg = true;
        return true;
    }
    return expression_tree_walker(node, walker_cast(policy_walker), ctx);
}

// Nesting depth of an analyzed expression (walkers and the deparsed text grow with it).
struct DepthCtx {
    int cur = 0, max = 0;
};

bool depth_walker(Node *node, void *ctx) {
    if (!node) return false;
    DepthCtx *d = static_cast<DepthCtx *>(ctx);
    if (++d->cur > d->max) return true;
    bool deep = expression_tree_walker(node, walker_cast(depth_walker), ctx);
    d->cur--;
    return deep;
}

struct SubstCtx {
    Const **consts;
    int n;
};

Node *subst_mutator(Node *node, void *ctx) {
    if (!node) return nullptr;
    if (IsA(node, Param)) {
        Param *p = reinterpret_cast<Param *>(node);
        SubstCtx *c = static_cast<SubstCtx *>(ctx);
        if (p->paramkind == PARAM_EXTERN && p->paramid >= 1 && p->paramid <= c->n && c->consts[p->paramid - 1]) {
            Const *k = static_cast<Const *>(copyObjectImpl(c->consts[p->paramid - 1]));
            k->constcollid = p->paramcollid;
            k->location = p->location;
            return reinterpret_cast<Node *>(k);
        }
    }
    return expression_tree_mutator(node, mutator_cast(subst_mutator), ctx);
}

}  // namespace

// ---------------------------------------------------------------------------------------------

Oid where_role_oid() {
    Oid r = pg_guard([] { return get_role_oid(kWhereRole, true); });
    if (!OidIsValid(r))
        throw SqlError(ERRCODE_UNDEFINED_OBJECT, std::string("role ") + kWhereRole + " does not exist",
                       "It is created by CREATE EXTENSION electric_sync (and ALTER EXTENSION electric_sync UPDATE); "
                       "where clauses are evaluated as that role.");
    bool super = pg_guard([&] { return superuser_arg(r); });
    if (super)
        throw SqlError(ERRCODE_INSUFFICIENT_PRIVILEGE, std::string("role ") + kWhereRole + " must not be a superuser",
                       std::string("Where clauses are evaluated as ") + kWhereRole + ": ALTER ROLE " + kWhereRole +
                           " NOSUPERUSER.");
    return r;
}

EvalRole::EvalRole(Oid role) {
    GetUserIdAndSecContext(&saved_uid_, &saved_sec_);
    SetUserIdAndSecContext(role, saved_sec_ | SECURITY_RESTRICTED_OPERATION | SECURITY_LOCAL_USERID_CHANGE);
}

EvalRole::~EvalRole() { SetUserIdAndSecContext(saved_uid_, saved_sec_); }

// ---------------------------------------------------------------------------------------------

void run_in_subtransaction(const std::function<void()> &f) {
    MemoryContext oldcxt = CurrentMemoryContext;
    ResourceOwner oldowner = CurrentResourceOwner;
    pg_guard([&] { BeginInternalSubTransaction(nullptr); });
    MemoryContextSwitchTo(oldcxt);
    try {
        f();
    } catch (...) {
        pg_guard([&] { RollbackAndReleaseCurrentSubTransaction(); });
        MemoryContextSwitchTo(oldcxt);
        CurrentResourceOwner = oldowner;
        throw;
    }
    pg_guard([&] { ReleaseCurrentSubTransaction(); });
    MemoryContextSwitchTo(oldcxt);
    CurrentResourceOwner = oldowner;
}

AnalyzedWhere analyze_where(Relation rel, const std::string &where_clause, const std::vector<std::string> &params) {
    AnalyzedWhere out;
    if (where_clause.size() > kMaxWhereBytes)
        where_error(ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                    "it is " + std::to_string(where_clause.size()) + " bytes long, more than the limit of " +
                        std::to_string(kMaxWhereBytes),
                    "Use an array parameter (col = ANY($1::int[])) for long lists of values.");
    if (params.size() > kMaxWhereParams)
        throw ShapeError("params", ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                         "too many parameters: " + std::to_string(params.size()) + " (at most " +
                             std::to_string(kMaxWhereParams) + ")",
                         "Use an array parameter (col = ANY($1::int[])) for long lists of values.");
    const std::string sql = std::string(kPrefix) + where_clause;
    const char *relname = RelationGetRelationName(rel);
    Oid relid = RelationGetRelid(rel);
    const char *nsp = pg_guard([&] { return quote_identifier(get_namespace_name(RelationGetNamespace(rel))); });
    AnalysisSettings settings(std::string("pg_catalog, ") + nsp + ", public");

    // 1. Parse with the real grammar and check the statement is exactly SELECT 1 WHERE <expr>.
    List *raw = nullptr;
    try {
        raw = pg_guard([&] { return raw_parser(sql.c_str(), RAW_PARSE_DEFAULT); });
    } catch (const PgException &e) {
        rethrow_where(e);
    }
    Node *where_raw = single_where(raw);

    // reg* values are refused before analysis would run their input functions.
    RawCheck raw_check;
    raw_check.rel = rel;
    try {
        pg_guard([&] { (void)raw_reg_walker(where_raw, &raw_check); });
    } catch (const PgException &e) {
        rethrow_where(e);
    }
    if (raw_check.found)
        where_error(ERRCODE_FEATURE_NOT_SUPPORTED,
                    "object identifier types (regclass, regproc, regtype, ...) are not allowed",
                    "Casts to reg* types, functions that take or return them and reg* columns look names up in "
                    "the catalogs; they cannot be used in a shape where clause.",
                    raw_check.location >= kPrefixChars
                        ? "At character " + std::to_string(raw_check.location - kPrefixChars + 1) + " of the where clause."
                        : std::string());

    // Everything from here (literal input functions, constant folding) runs as the unprivileged
    // where role, security-restricted.
    EvalRole as_where_role(where_role_oid());
    std::vector<Oid> allowed = pg_guard([] { return load_allowed_functions(); });

    // 2. Analyze against the table: names, types, operators, coercion to boolean, collations.
    Oid *ptypes = nullptr;
    int nptypes = 0;
    Node *expr = nullptr;
    try {
        expr = pg_guard([&] {
            ParseState *ps = make_parsestate(nullptr);
            ps->p_sourcetext = sql.c_str();
            setup_parse_variable_parameters(ps, &ptypes, &nptypes);
            ParseNamespaceItem *nsi = addRangeTableEntryForRelation(ps, rel, AccessShareLock, nullptr, false, false);
            addNSItemToQuery(ps, nsi, false, true, true);
            Node *e = transformExpr(ps, where_raw, EXPR_KIND_WHERE);
            e = coerce_to_boolean(ps, e, "WHERE");
            assign_expr_collations(ps, e);
            return e;
        });
    } catch (const PgException &e) {
        rethrow_where(e);
    }

    // 3. What may appear: own columns (no system columns), no subqueries, no SRFs, and only
    //    immutable functions and operators. (Aggregates, window functions and references to
    //    other tables are already refused by the analysis above.)
    DepthCtx depth;
    depth.max = kMaxWhereDepth;
    bool too_deep = false;
    try {
        too_deep = pg_guard([&] { return depth_walker(expr, &depth); });
    } catch (const PgException &e) {
        rethrow_where(e);
    }
    if (too_deep)
        where_error(ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                    "it is nested more than " + std::to_string(kMaxWhereDepth) + " levels deep",
                    "Write the condition with fewer nested parentheses, NOTs and function calls.");

    InfoWalk info;
    bool has_sublink = false, returns_set = false, is_mutable = false;
    Oid bad_func = InvalidOid;
    Policy policy;
    policy.allowed = &allowed;
    bool refused = false;
    std::string bad_name;
    try {
        pg_guard([&] {
            info_walker(expr, &info);
            has_sublink = checkExprHasSubLink(expr);
            returns_set = expression_returns_set(expr);
            if (!has_sublink) {
                is_mutable = contain_mutable_functions(expr);
                if (is_mutable) (void)mutable_walker(expr, &bad_func);
                refused = !is_mutable && policy_walker(expr, &policy);
                if (refused && OidIsValid(policy.bad_func)) bad_name = format_procedure(policy.bad_func);
                if (refused && OidIsValid(policy.bad_domain)) bad_name = format_type_be(policy.bad_domain);
            }
        });
    } catch (const PgException &e) {
        rethrow_where(e);
    }
    if (info.system_attno)
        where_error(ERRCODE_FEATURE_NOT_SUPPORTED, "system columns cannot be used",
                    "Use the table's own columns only (ctid, xmin, xmax, cmin, cmax and tableoid are not part of "
                    "the streamed rows).");
    if (has_sublink)
        where_error(ERRCODE_FEATURE_NOT_SUPPORTED, "subqueries are not supported",
                    "A shape where clause can only reference the columns of its own table; use a literal list "
                    "(col IN (1, 2, 3)) or an array parameter (col = ANY($1::int[])) instead of a subquery.");
    if (returns_set)
        where_error(ERRCODE_FEATURE_NOT_SUPPORTED, "set-returning functions are not allowed",
                    "Set-returning functions cannot be used in a shape where clause.");
    if (is_mutable) {
        std::string detail = "The expression uses a value that can change between evaluations (such as "
                             "CURRENT_TIMESTAMP or a sequence).";
        if (OidIsValid(bad_func)) {
            const char *name = pg_guard([&] { return get_func_name(bad_func); });
            char vol = pg_guard([&] { return func_volatile(bad_func); });
            detail = "Function " + str(name) + "() is " + (vol == PROVOLATILE_VOLATILE ? "volatile" : "stable") +
                     ", not immutable.";
        }
        where_error(ERRCODE_FEATURE_NOT_SUPPORTED, "functions and operators in a shape where clause must be immutable",
                    "Each change is matched once, when it is streamed, so the result must not depend on the time, "
                    "the session or the database state; compare with a literal or a $n parameter instead "
                    "(e.g. created_at > $1), and avoid casts that depend on TimeZone or DateStyle.",
                    detail);
    }

    if (refused && policy.secdef)
        where_error(ERRCODE_INSUFFICIENT_PRIVILEGE, "function " + bad_name + " is SECURITY DEFINER, which is not allowed",
                    "A shape where clause runs as the unprivileged role electric_sync_where; functions that run "
                    "with their owner's rights are never allowed.");
    if (refused && OidIsValid(policy.bad_func))
        where_error(ERRCODE_INSUFFICIENT_PRIVILEGE, "function " + bad_name + " is not allowed in a shape where clause",
                    "Only built-in functions and operators may be used. A superuser can allow another immutable "
                    "function with SELECT electric_sync.allow_where_function('" + bad_name + "'::regprocedure); "
                    "it then runs as the unprivileged role electric_sync_where.");
    if (refused && OidIsValid(policy.bad_domain))
        where_error(ERRCODE_INSUFFICIENT_PRIVILEGE, "casts to the domain " + bad_name + " are not allowed",
                    "Domain constraints are code of the domain's owner; cast to the domain's base type instead.");
    if (refused)
        where_error(ERRCODE_FEATURE_NOT_SUPPORTED, "values of reg* types (regclass, regproc, regtype, ...) are not allowed",
                    "Object-identifier types look names up in the catalogs; compare with the column's own values "
                    "instead.");

    // 4. Parameters: every given value must be referenced and every reference given.
    int nparams = static_cast<int>(params.size());
    for (int id = -1; (id = bms_next_member(info.params, id)) >= 0;) {
        if (id > nparams)
            throw ShapeError("params", ERRCODE_UNDEFINED_PARAMETER,
                             "invalid where clause: parameter $" + std::to_string(id) + " is used but " +
                                 (nparams == 0 ? std::string("no parameters were given")
                                               : "only " + std::to_string(nparams) + " parameter" +
                                                     (nparams == 1 ? " was" : "s were") + " given"),
                             "Give one value per parameter: params[1] for $1, params[2] for $2, and so on.");
    }
    for (int id = 1; id <= nparams; id++) {
        if (!bms_is_member(id, info.params))
            throw ShapeError("params", ERRCODE_INVALID_PARAMETER_VALUE,
                             "parameter $" + std::to_string(id) + " is given but not used in the where clause",
                             "Give exactly the parameters the where clause references as $1, $2, ...");
    }

    // 5. The normalized form (shape identity): deparsed by Postgres, $n kept. Deparsed with
    //    search_path = pg_catalog, so every name outside pg_catalog comes out schema-qualified
    //    and the text means the same in any session.
    List *dpcontext = nullptr;
    auto deparse_qualified = [&](Node *e) {
        return pg_guard([&] {
            int level = NewGUCNestLevel();
            (void)set_config_option("search_path", "pg_catalog", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
            if (!dpcontext) dpcontext = deparse_context_for(relname, relid);
            char *txt = deparse_expression(e, dpcontext, false, false);
            AtEOXact_GUC(true, level);
            return txt;
        });
    };
    try {
        out.normalized = deparse_qualified(expr);
    } catch (const PgException &e) {
        rethrow_where(e);
    }

    // 6. Parameter values become constants of the inferred types (unresolved types are text).
    std::vector<Const *> consts(nparams, nullptr);
    out.param_types.assign(nparams, TEXTOID);
    for (int i = 0; i < nparams; i++) {
        Oid type = (i < nptypes && ptypes[i] != UNKNOWNOID && OidIsValid(ptypes[i])) ? ptypes[i] : TEXTOID;
        out.param_types[i] = type;
        const std::string &val = params[i];
        try {
            consts[i] = pg_guard([&] {
                Oid infunc, ioparam;
                int16 typlen;
                bool typbyval;
                getTypeInputInfo(type, &infunc, &ioparam);
                get_typlenbyval(type, &typlen, &typbyval);
                Datum d = OidInputFunctionCall(infunc, const_cast<char *>(val.c_str()), ioparam, -1);
                return makeConst(type, -1, InvalidOid, typlen, d, false, typbyval);
            });
        } catch (const PgException &e) {
            const char *tname = pg_guard([&] { return format_type_be(type); });
            std::string hint = "The where clause uses $" + std::to_string(i + 1) + " as type " + str(tname) +
                               "; give a value in that type's text format.";
            const ErrorData *ed = e.edata();
            throw ShapeError("params", ed ? ed->sqlerrcode : ERRCODE_INVALID_PARAMETER_VALUE,
                             "invalid value for parameter $" + std::to_string(i + 1) + ": " + e.what(), hint);
        }
    }
    Node *substituted = nullptr;
    try {
        expr = pg_guard([&] {
            SubstCtx sc{consts.data(), nparams};
            Node *e = subst_mutator(expr, &sc);
            substituted = e;
            // Constant folding and function-id fixing, as the executor needs; constant
            // sub-expressions that fail (1/0, 'x'::int) fail here, at definition time.
            return reinterpret_cast<Node *>(expression_planner(reinterpret_cast<Expr *>(e)));
        });
    } catch (const PgException &e) {
        rethrow_where(e);
    }
    // The executable form: the analyzed tree with the parameter values as typed constants,
    // deparsed (what snapshot and subset queries run; never the request's text).
    // Not for clauses that call allow-listed functions: those run only inside _where_check,
    // security-restricted (a snapshot query is not, and such a function could RESET ROLE there).
    out.calls_allowed = policy.uses_allowed;
    if (!out.calls_allowed) {
        try {
            out.executable = deparse_qualified(substituted);
        } catch (const PgException &e) {
            rethrow_where(e);
        }
    }
    out.expr = expr;
    return out;
}

// ---------------------------------------------------------------------------------------------

std::unique_ptr<CompiledWhere> CompiledWhere::compile(Oid relid, const std::string &where_clause,
                                                      const std::vector<std::string> &params, bool keep_executor) {
    if (!IsTransactionState()) throw std::logic_error("CompiledWhere::compile needs a transaction");
    bool blank = is_blank(where_clause);
    if (blank && !params.empty())
        throw ShapeError("params", ERRCODE_INVALID_PARAMETER_VALUE, "parameters were given but there is no where clause",
                         "Parameters ($1, $2, ...) can only be used in a where clause.");
    std::unique_ptr<CompiledWhere> cw(new CompiledWhere());
    cw->cxt_ = pg_guard([] { return AllocSetContextCreate(TopMemoryContext, "electric_sync where", ALLOCSET_SMALL_SIZES); });
    CompiledWhere *self = cw.get();
    const std::string empty;
    run_in_subtransaction([&] { self->build(relid, blank ? empty : where_clause, params); });
    if (cw->eq_exact_ && !keep_executor) {
        // `col = const` / `col IN (...)`: matched by comparing texts, so the executor state is
        // not kept (it is most of a shape's memory; bench/shape_memory.sh).
        MemoryContext c = cw->cxt_;
        cw->cxt_ = nullptr;
        cw->tupdesc_ = nullptr;
        cw->slot_ = nullptr;
        cw->econtext_ = nullptr;
        cw->qual_ = nullptr;
        cw->inputs_.clear();
        cw->inputs_.shrink_to_fit();
        pg_guard([&] { MemoryContextDelete(c); });
    }
    return cw;
}

// Types whose text output is equal exactly when the values are equal (under `=`).
static bool text_eq_is_value_eq(Oid t) {
    switch (t) {
    case INT2OID:
    case INT4OID:
    case INT8OID:
    case OIDOID:
    case TEXTOID:
    case VARCHAROID:
    case UUIDOID:
    case BOOLOID:
        return true;
    default:
        return false;
    }
}

static Node *strip_relabel(Node *n) {
    while (n && IsA(n, RelabelType)) n = reinterpret_cast<Node *>(reinterpret_cast<RelabelType *>(n)->arg);
    return n;
}

static bool is_eq_operator(Oid opno) {
    char *name = get_opname(opno);
    return name && strcmp(name, "=") == 0;
}

// Equal texts mean equal values only under a deterministic collation (a case-insensitive ICU
// collation makes 'a' = 'A').
static bool deterministic(Oid collid) { return !OidIsValid(collid) || get_collation_isdeterministic(collid); }

static char *const_text(Const *c) {
    Oid out;
    bool varlena;
    getTypeOutputInfo(c->consttype, &out, &varlena);
    return OidOutputFunctionCall(out, c->constvalue);
}

// Finds an indexable equality (see eq_attnum()). Runs inside pg_guard.
void CompiledWhere::find_eq_key(Node *expr) {
    if (!expr) return;
    if (IsA(expr, BoolExpr) && reinterpret_cast<BoolExpr *>(expr)->boolop == AND_EXPR) {
        ListCell *lc;
        foreach (lc, reinterpret_cast<BoolExpr *>(expr)->args) {
            find_eq_key(static_cast<Node *>(lfirst(lc)));
            if (eq_attnum_) return;
        }
        return;
    }
    if (IsA(expr, OpExpr)) {
        OpExpr *op = reinterpret_cast<OpExpr *>(expr);
        if (list_length(op->args) != 2 || !is_eq_operator(op->opno) || !deterministic(op->inputcollid)) return;
        Node *a = strip_relabel(static_cast<Node *>(linitial(op->args)));
        Node *b = strip_relabel(static_cast<Node *>(lsecond(op->args)));
        if (IsA(b, Var)) std::swap(a, b);
        if (!IsA(a, Var) || !IsA(b, Const)) return;
        Var *v = reinterpret_cast<Var *>(a);
        Const *c = reinterpret_cast<Const *>(b);
        if (v->varattno <= 0 || c->constisnull || !text_eq_is_value_eq(v->vartype) || !text_eq_is_value_eq(c->consttype))
            return;
        eq_values_.emplace_back(const_text(c));
        eq_attnum_ = v->varattno;
        return;
    }
    if (IsA(expr, ScalarArrayOpExpr)) {
        ScalarArrayOpExpr *op = reinterpret_cast<ScalarArrayOpExpr *>(expr);
        if (!op->useOr || list_length(op->args) != 2 || !is_eq_operator(op->opno) || !deterministic(op->inputcollid)) return;
        Node *a = strip_relabel(static_cast<Node *>(linitial(op->args)));
        Node *b = strip_relabel(static_cast<Node *>(lsecond(op->args)));
        if (!IsA(a, Var) || !IsA(b, Const) || reinterpret_cast<Const *>(b)->constisnull) return;
        Var *v = reinterpret_cast<Var *>(a);
        Const *c = reinterpret_cast<Const *>(b);
        Oid elem = get_element_type(c->consttype);
        if (v->varattno <= 0 || !text_eq_is_value_eq(v->vartype) || !text_eq_is_value_eq(elem)) return;
        ArrayType *arr = DatumGetArrayTypeP(c->constvalue);
        int16 len;
        bool byval;
        char align;
        get_typlenbyvalalign(elem, &len, &byval, &align);
        Datum *vals;
        bool *nulls;
        int n;
        deconstruct_array(arr, elem, len, byval, align, &vals, &nulls, &n);
        Oid out;
        bool varlena;
        getTypeOutputInfo(elem, &out, &varlena);
        for (int i = 0; i < n; i++)
            if (!nulls[i]) eq_values_.emplace_back(OidOutputFunctionCall(out, vals[i]));
        eq_attnum_ = v->varattno;
    }
}

void CompiledWhere::build(Oid relid, const std::string &where_clause, const std::vector<std::string> &params) {
    Relation rel = pg_guard([&] { return try_table_open(relid, AccessShareLock); });
    if (!rel)
        throw ShapeError("table", ERRCODE_UNDEFINED_TABLE, "relation with OID " + std::to_string(relid) + " does not exist",
                         "The table was dropped; the shape must be created again.");
    MemoryContext caller = CurrentMemoryContext;
    MemoryContext tmp = nullptr;
    try {
        tmp = pg_guard([&] { return AllocSetContextCreate(caller, "electric_sync where analysis", ALLOCSET_DEFAULT_SIZES); });
        pg_guard([&] {
            MemoryContext old = MemoryContextSwitchTo(cxt_);
            tupdesc_ = CreateTupleDescCopy(RelationGetDescr(rel));
            slot_ = MakeSingleTupleTableSlot(tupdesc_, &TTSOpsVirtual);
            econtext_ = CreateStandaloneExprContext();
            // One per-tuple context shared by every compiled where of the process (evaluations
            // never nest; each resets it first): not one per shape (memory per shape).
            static MemoryContext shared_per_tuple = nullptr;
            if (shared_per_tuple == nullptr)
                shared_per_tuple = AllocSetContextCreate(TopMemoryContext, "electric_sync where per tuple", ALLOCSET_DEFAULT_SIZES);
            MemoryContextDelete(econtext_->ecxt_per_tuple_memory);
            econtext_->ecxt_per_tuple_memory = shared_per_tuple;
            MemoryContextSwitchTo(old);
        });
        natts_ = tupdesc_->natts;
        for (int i = 0; i < natts_; i++) {
            slot_->tts_values[i] = (Datum)0;
            slot_->tts_isnull[i] = true;
        }
        inputs_.assign(natts_, nullptr);
        if (!where_clause.empty()) {
            AnalyzedWhere aw;
            {
                ContextSwitch cs(tmp);
                aw = analyze_where(rel, where_clause, params);
            }
            normalized_ = aw.normalized;
            Bitmapset *attrs = nullptr;
            bool nonbuiltin = false;
            role_ = where_role_oid();
            EvalRole as_where_role(role_);  // ExecInitQual checks EXECUTE rights of the current user
            pg_guard([&] {
                MemoryContext old = MemoryContextSwitchTo(cxt_);
                Node *e = static_cast<Node *>(copyObjectImpl(aw.expr));
                List *qual = make_ands_implicit(reinterpret_cast<Expr *>(e));
                qual_ = ExecInitQual(qual, nullptr);
                MemoryContextSwitchTo(tmp);
                pull_varattnos(e, 1, &attrs);
                nonbuiltin = nonbuiltin_walker(e, nullptr);
                find_eq_key(e);
                eq_exact_ = eq_attnum_ > 0 && (IsA(e, OpExpr) || IsA(e, ScalarArrayOpExpr));
                MemoryContextSwitchTo(old);
            });
            needs_subxact_ = nonbuiltin;
            bool whole_row = false;
            std::vector<bool> needed(natts_, false);
            for (int x = -1; (x = bms_next_member(attrs, x)) >= 0;) {
                int attno = x + FirstLowInvalidHeapAttributeNumber;
                if (attno == 0) whole_row = true;
                else if (attno > 0 && attno <= natts_) needed[attno - 1] = true;
            }
            for (int i = 0; i < natts_; i++) {
                Form_pg_attribute att = TupleDescAttr(tupdesc_, i);
                if (att->attisdropped || !(needed[i] || whole_row)) continue;
                AttrInput *in = pg_guard([&] {
                    AttrInput *a = static_cast<AttrInput *>(MemoryContextAllocZero(cxt_, sizeof(AttrInput)));
                    Oid infunc;
                    getTypeInputInfo(att->atttypid, &infunc, &a->ioparam);
                    fmgr_info_cxt(infunc, &a->finfo, cxt_);
                    a->typmod = att->atttypmod;
                    return a;
                });
                inputs_[i] = in;
                attnums_.push_back(i + 1);
            }
        }
    } catch (...) {
        if (tmp) pg_guard([&] { MemoryContextDelete(tmp); });
        pg_guard([&] { table_close(rel, AccessShareLock); });
        throw;
    }
    pg_guard([&] {
        MemoryContextDelete(tmp);
        table_close(rel, AccessShareLock);
    });
}

bool CompiledWhere::matches(const std::vector<std::optional<std::string>> &values) {
    if (always_true()) return true;
    if (static_cast<int>(values.size()) != natts_)
        throw SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                       "expected " + std::to_string(natts_) + " column values (one per attribute, dropped columns "
                       "included), got " + std::to_string(values.size()));
    if (eq_exact_) {
        const std::optional<std::string> &v = values[eq_attnum_ - 1];
        return eq_match(v ? std::optional<std::string_view>(*v) : std::nullopt);
    }
    bool result = false;
    auto eval = [&] {
        watchdog::Armed armed;  // electric_sync.where_eval_timeout (in the worker)
        EvalRole as_where_role(role_);
        result = pg_guard([&]() -> bool {
            ResetExprContext(econtext_);
            MemoryContext old = MemoryContextSwitchTo(econtext_->ecxt_per_tuple_memory);
            ExecClearTuple(slot_);
            for (int attno : attnums_) {
                const std::optional<std::string> &v = values[attno - 1];
                if (v) {
                    AttrInput *in = inputs_[attno - 1];
                    slot_->tts_values[attno - 1] =
                        InputFunctionCall(&in->finfo, const_cast<char *>(v->c_str()), in->ioparam, in->typmod);
                    slot_->tts_isnull[attno - 1] = false;
                } else {
                    slot_->tts_values[attno - 1] = (Datum)0;
                    slot_->tts_isnull[attno - 1] = true;
                }
            }
            ExecStoreVirtualTuple(slot_);
            econtext_->ecxt_scantuple = slot_;
            bool r = ExecQual(qual_, econtext_);
            MemoryContextSwitchTo(old);
            return r;
        });
    };
    if (needs_subxact_ && !IsTransactionState())
        throw std::logic_error("CompiledWhere::matches needs a transaction for this where clause");
    try {
        if (needs_subxact_) run_in_subtransaction(eval);
        else eval();
    } catch (const PgException &e) {
        const ErrorData *ed = e.edata();
        throw SqlError(ed ? ed->sqlerrcode : ERRCODE_INTERNAL_ERROR,
                       std::string("where clause evaluation failed: ") + e.what(),
                       "The shape's where clause raised an error for this row.", ed ? str(ed->detail) : "");
    }
    return result;
}

bool CompiledWhere::matches_row(HeapTupleHeader row) {
    if (!qual_) {
        if (eq_exact_) throw std::logic_error("CompiledWhere::matches_row needs compile(..., keep_executor = true)");
        return true;
    }
    watchdog::Armed armed;
    EvalRole as_where_role(role_);
    return pg_guard([&]() -> bool {
        ResetExprContext(econtext_);
        MemoryContext old = MemoryContextSwitchTo(econtext_->ecxt_per_tuple_memory);
        HeapTupleData tup;
        tup.t_len = HeapTupleHeaderGetDatumLength(row);
        ItemPointerSetInvalid(&tup.t_self);
        tup.t_tableOid = InvalidOid;
        tup.t_data = row;
        ExecClearTuple(slot_);
        heap_deform_tuple(&tup, tupdesc_, slot_->tts_values, slot_->tts_isnull);
        ExecStoreVirtualTuple(slot_);
        econtext_->ecxt_scantuple = slot_;
        bool r = ExecQual(qual_, econtext_);
        MemoryContextSwitchTo(old);
        return r;
    });
}

CompiledWhere::~CompiledWhere() {
    if (cxt_) MemoryContextDelete(cxt_);
}

}  // namespace es
