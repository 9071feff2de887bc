// What a shape where clause may contain (docs/security.md), and the errors that say why not.
#include "shape/where_internal.hpp"

#include <cctype>

namespace es::where_detail {

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
    case ERRCODE_GROUPING_ERROR: return "Aggregate functions cannot be used in a shape where clause.";
    case ERRCODE_WINDOWING_ERROR: return "Window functions cannot be used in a shape where clause.";
    case ERRCODE_UNDEFINED_PARAMETER:
        return "Parameters are written $1, $2, ... and given in params (params[1] for $1, ...).";
    default: return kGenericHint;
    }
}

// Converts a Postgres error raised while handling the where clause into a ShapeError whose
// position refers to the where clause itself (not to our "SELECT 1 WHERE " wrapper).
[[noreturn]] void rethrow_where(const PgException &e, const char *field, const std::string &prefix) {
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
        msg =
            "it references another table (" + msg + "); a shape where clause can only use the columns of its own table";
    throw ShapeError(field, code, prefix + msg, hint_for(ed), detail, pos);
}

[[noreturn]] void where_error(int code, const std::string &msg, const std::string &hint, const std::string &detail,
                              const char *field) {
    throw ShapeError(field, code, "invalid where clause: " + msg, hint, detail);
}

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
    bool ok = s->op == SETOP_NONE && !s->larg && !s->rarg && !s->distinctClause && !s->intoClause && !s->fromClause &&
        !s->groupClause && !s->groupDistinct && !s->havingClause && !s->windowClause && !s->valuesLists &&
        !s->sortClause && !s->limitOffset && !s->limitCount && !s->lockingClause && !s->withClause &&
        list_length(s->targetList) == 1 && s->whereClause;
    if (ok) {
        ResTarget *rt = static_cast<ResTarget *>(linitial(s->targetList));
        ok = rt && IsA(rt, ResTarget) && !rt->name && rt->val && IsA(rt->val, A_Const);
    }
    if (!ok) where_error(ERRCODE_SYNTAX_ERROR, msg, hint);
    return s->whereClause;
}

// ---- tree walkers (C callbacks: they never throw C++ exceptions) ---------------------------

bool info_walker(Node *node, void *ctx) {
    if (!node) return false;
    InfoWalk *w = static_cast<InfoWalk *>(ctx);
    if (IsA(node, Param)) {
        Param *p = reinterpret_cast<Param *>(node);
        if (p->paramkind == PARAM_EXTERN) {
            if (p->paramtype == UNKNOWNOID) {  // unresolved type: the value is text
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
    case REGCOLLATIONOID: return true;
    default: return false;
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

bool depth_walker(Node *node, void *ctx) {
    if (!node) return false;
    DepthCtx *d = static_cast<DepthCtx *>(ctx);
    if (++d->cur > d->max) return true;
    bool deep = expression_tree_walker(node, walker_cast(depth_walker), ctx);
    d->cur--;
    return deep;
}

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

}  // namespace es::where_detail
