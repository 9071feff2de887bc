// analyze_where(): a where clause parsed, checked and analyzed by Postgres against the shape's
// table, deparsed into its canonical and executable forms (see where.hpp). The steps, in order:
// bounds, parse (exactly SELECT 1 WHERE <expr>, no reg* values), analysis as the where role,
// content rules (depth, system columns, subqueries, SRFs, volatility, function policy),
// parameters, the canonical text, the parameter values bound as constants, the executable text.
#include "shape/where_internal.hpp"

namespace es {

using namespace where_detail;

namespace {

void check_bounds(const std::string &where_clause, const std::vector<std::string> &params) {
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
}

// Runs f under pg_guard; a Postgres error becomes the where clause's ShapeError.
template <typename F>
auto guarded(F &&f) -> decltype(f()) {
    try {
        return pg_guard(std::forward<F>(f));
    } catch (const PgException &e) {
        rethrow_where(e);
    }
}

// 1. Parse with the real grammar; the statement must be exactly SELECT 1 WHERE <expr>, and reg*
//    values are refused before analysis would run their input functions.
Node *parse_checked(const std::string &sql, Relation rel) {
    List *raw = guarded([&] { return raw_parser(sql.c_str(), RAW_PARSE_DEFAULT); });
    Node *where_raw = single_where(raw);
    RawCheck raw_check;
    raw_check.rel = rel;
    guarded([&] { (void)raw_reg_walker(where_raw, &raw_check); });
    if (raw_check.found)
        where_error(
            ERRCODE_FEATURE_NOT_SUPPORTED, "object identifier types (regclass, regproc, regtype, ...) are not allowed",
            "Casts to reg* types, functions that take or return them and reg* columns look names up in "
            "the catalogs; they cannot be used in a shape where clause.",
            raw_check.location >= kPrefixChars
                ? "At character " + std::to_string(raw_check.location - kPrefixChars + 1) + " of the where clause."
                : std::string());
    return where_raw;
}

// 2. Analyze against the table: names, types, operators, coercion to boolean, collations.
Node *analyze_expr(const std::string &sql, Relation rel, Node *where_raw, Oid **ptypes, int *nptypes) {
    return guarded([&] {
        ParseState *ps = make_parsestate(nullptr);
        ps->p_sourcetext = sql.c_str();
        setup_parse_variable_parameters(ps, ptypes, nptypes);
        ParseNamespaceItem *nsi = addRangeTableEntryForRelation(ps, rel, AccessShareLock, nullptr, false, false);
        addNSItemToQuery(ps, nsi, false, true, true);
        Node *e = transformExpr(ps, where_raw, EXPR_KIND_WHERE);
        e = coerce_to_boolean(ps, e, "WHERE");
        assign_expr_collations(ps, e);
        return e;
    });
}

[[noreturn]] void refuse_mutable(Oid bad_func) {
    std::string detail =
        "The expression uses a value that can change between evaluations (such as "
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

[[noreturn]] void refuse_policy(const Policy &policy, const std::string &bad_name) {
    if (policy.secdef)
        where_error(ERRCODE_INSUFFICIENT_PRIVILEGE,
                    "function " + bad_name + " is SECURITY DEFINER, which is not allowed",
                    "A shape where clause runs as the unprivileged role electric_sync_where; functions that run "
                    "with their owner's rights are never allowed.");
    if (OidIsValid(policy.bad_func))
        where_error(ERRCODE_INSUFFICIENT_PRIVILEGE, "function " + bad_name + " is not allowed in a shape where clause",
                    "Only built-in functions and operators may be used. A superuser can allow another immutable "
                    "function with SELECT electric_sync.allow_where_function('" +
                        bad_name +
                        "'::regprocedure); "
                        "it then runs as the unprivileged role electric_sync_where.");
    if (OidIsValid(policy.bad_domain))
        where_error(ERRCODE_INSUFFICIENT_PRIVILEGE, "casts to the domain " + bad_name + " are not allowed",
                    "Domain constraints are code of the domain's owner; cast to the domain's base type instead.");
    where_error(ERRCODE_FEATURE_NOT_SUPPORTED, "values of reg* types (regclass, regproc, regtype, ...) are not allowed",
                "Object-identifier types look names up in the catalogs; compare with the column's own values "
                "instead.");
}

// 3. What may appear: own columns (no system columns), no subqueries, no SRFs, and only
//    immutable functions and operators that are built in or allow-listed. (Aggregates, window
//    functions and references to other tables are already refused by the analysis.) Returns
//    the referenced parameters; policy says whether allow-listed functions are called.
InfoWalk check_contents(Node *expr, Policy &policy) {
    DepthCtx depth;
    depth.max = kMaxWhereDepth;
    if (guarded([&] { return depth_walker(expr, &depth); }))
        where_error(ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                    "it is nested more than " + std::to_string(kMaxWhereDepth) + " levels deep",
                    "Write the condition with fewer nested parentheses, NOTs and function calls.");
    InfoWalk info;
    bool has_sublink = false, returns_set = false, is_mutable = false, refused = false;
    Oid bad_func = InvalidOid;
    std::string bad_name;
    guarded([&] {
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
    if (is_mutable) refuse_mutable(bad_func);
    if (refused) refuse_policy(policy, bad_name);
    return info;
}

// 4. Parameters: every given value must be referenced and every reference given.
void check_params(const InfoWalk &info, int nparams) {
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
}

// 6. Parameter values become constants of the inferred types (unresolved types are text).
std::vector<Const *> bind_params(const std::vector<std::string> &params, const Oid *ptypes, int nptypes,
                                 std::vector<Oid> &types) {
    int nparams = static_cast<int>(params.size());
    std::vector<Const *> consts(nparams, nullptr);
    types.assign(nparams, TEXTOID);
    for (int i = 0; i < nparams; i++) {
        Oid type = (i < nptypes && ptypes[i] != UNKNOWNOID && OidIsValid(ptypes[i])) ? ptypes[i] : TEXTOID;
        types[i] = type;
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
    return consts;
}

}  // namespace

AnalyzedWhere analyze_where(Relation rel, const std::string &where_clause, const std::vector<std::string> &params) {
    AnalyzedWhere out;
    check_bounds(where_clause, params);
    const std::string sql = std::string(kPrefix) + where_clause;
    const char *nsp = pg_guard([&] { return quote_identifier(get_namespace_name(RelationGetNamespace(rel))); });
    AnalysisSettings settings(std::string("pg_catalog, ") + nsp + ", public");
    Node *where_raw = parse_checked(sql, rel);

    // Everything from here (literal input functions, constant folding) runs as the unprivileged
    // where role, security-restricted.
    EvalRole as_where_role(where_role_oid());
    std::vector<Oid> allowed = pg_guard([] { return load_allowed_functions(); });
    Oid *ptypes = nullptr;
    int nptypes = 0;
    Node *expr = analyze_expr(sql, rel, where_raw, &ptypes, &nptypes);
    Policy policy;
    policy.allowed = &allowed;
    InfoWalk info = check_contents(expr, policy);
    check_params(info, static_cast<int>(params.size()));

    // 5. The normalized form (shape identity): deparsed by Postgres, $n kept.
    Deparser deparse(RelationGetRelationName(rel), RelationGetRelid(rel));
    out.normalized = deparse(expr);

    std::vector<Const *> consts = bind_params(params, ptypes, nptypes, out.param_types);
    Node *substituted = nullptr;
    expr = guarded([&] {
        SubstCtx sc{consts.data(), static_cast<int>(consts.size())};
        substituted = subst_mutator(expr, &sc);
        // Constant folding and function-id fixing, as the executor needs; constant
        // sub-expressions that fail (1/0, 'x'::int) fail here, at definition time.
        return reinterpret_cast<Node *>(expression_planner(reinterpret_cast<Expr *>(substituted)));
    });
    // 7. The executable form: the analyzed tree with the parameter values as typed constants,
    //    deparsed (what snapshot and subset queries run; never the request's text). Not for
    //    clauses that call allow-listed functions: those run only inside _where_check,
    //    security-restricted (a snapshot query is not, and such a function could RESET ROLE there).
    out.calls_allowed = policy.uses_allowed;
    if (!out.calls_allowed) out.executable = deparse(substituted);
    out.expr = expr;
    return out;
}

}  // namespace es
