// A reader's grants and row-level security policies, compiled once per shape (policy.hpp,
// docs/authorization.md). The policies are Postgres's own (pg_policy, as the relation cache
// holds them); the reader's values (its role, its JWT claims) replace current_user and
// current_setting('request.jwt.claim(s)') calls, constants are folded, and what is left must be
// a where clause like any other: analyze_where checks it (own columns, immutable functions, no
// subqueries), so the snapshot, subsets and every live change filter with the same predicate.
#include "shape/policy.hpp"
#include "shape/where_internal.hpp"
#include "extension/guc.hpp"

extern "C" {
#include "catalog/pg_collation.h"
#include "rewrite/rowsecurity.h"
#include "utils/rls.h"
}

#include <nlohmann/json.hpp>

#include <cstring>

namespace es {

using namespace where_detail;

namespace {

constexpr const char *kReaderRole = "electric_sync_reader";

// What the claims mutator substitutes (plain C data: the mutator is a C callback).
struct ClaimCtx {
    const char *claims = nullptr;  // the whole JSON object (request.jwt.claims)
    const char *role = nullptr;  // current_user, current_role, user, session_user
    std::vector<const char *> names, values;  // request.jwt.claim.<name>: text (nullptr: JSON null)
};

Node *text_const(const char *s, Oid collation) {
    if (!s) return reinterpret_cast<Node *>(makeNullConst(TEXTOID, -1, collation));
    return reinterpret_cast<Node *>(makeConst(TEXTOID, -1, collation, -1, CStringGetTextDatum(s), false, false));
}

// current_setting('request.jwt.claims' | 'request.jwt.claim.<name>' [, missing_ok]) and the
// session-user functions, replaced by the reader's values. (A claim the token does not have is
// NULL, with or without missing_ok.) C callback: Postgres errors only, no C++ exceptions.
Node *claims_mutator(Node *node, void *vctx) {
    if (!node) return nullptr;
    auto *ctx = static_cast<ClaimCtx *>(vctx);
    if (IsA(node, FuncExpr)) {
        auto *f = reinterpret_cast<FuncExpr *>(node);
        if ((f->funcid == F_CURRENT_SETTING_TEXT || f->funcid == F_CURRENT_SETTING_TEXT_BOOL) && f->args != NIL &&
            IsA(linitial(f->args), Const) && !static_cast<Const *>(linitial(f->args))->constisnull) {
            char *name = TextDatumGetCString(static_cast<Const *>(linitial(f->args))->constvalue);
            constexpr const char *kClaim = "request.jwt.claim.";
            const size_t kClaimLen = strlen(kClaim);
            if (pg_strcasecmp(name, "request.jwt.claims") == 0) return text_const(ctx->claims, f->funccollid);
            if (pg_strncasecmp(name, kClaim, kClaimLen) == 0) {
                for (size_t i = 0; i < ctx->names.size(); i++)
                    if (pg_strcasecmp(name + kClaimLen, ctx->names[i]) == 0)
                        return text_const(ctx->values[i], f->funccollid);
                return text_const(nullptr, f->funccollid);
            }
        }
    }
    if (IsA(node, SQLValueFunction)) {
        auto *v = reinterpret_cast<SQLValueFunction *>(node);
        if (v->op == SVFOP_CURRENT_ROLE || v->op == SVFOP_CURRENT_USER || v->op == SVFOP_USER ||
            v->op == SVFOP_SESSION_USER) {
            NameData *n = static_cast<NameData *>(palloc0(sizeof(NameData)));
            namestrcpy(n, ctx->role);
            return reinterpret_cast<Node *>(
                makeConst(NAMEOID, -1, C_COLLATION_OID, NAMEDATALEN, NameGetDatum(n), false, false));
        }
    }
    return expression_tree_mutator(node, mutator_cast(claims_mutator), vctx);
}

bool policy_applies(const RowSecurityPolicy *p, Oid role) {
    if (p->polcmd != '*' && p->polcmd != ACL_SELECT_CHR) return false;
    const Oid *roles = reinterpret_cast<const Oid *>(ARR_DATA_PTR(p->roles));
    int n = ARR_DIMS(p->roles)[0];
    for (int i = 0; i < n; i++)
        if (roles[i] == ACL_ID_PUBLIC || has_privs_of_role(role, roles[i])) return true;
    return false;
}

std::string table_name_of(Relation rel) {
    return pg_guard([&] {
        return std::string(quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
                                                      RelationGetRelationName(rel)));
    });
}

// One policy's USING expression with the reader's values, folded; checked as a where clause.
Node *compile_one(Relation rel, const RowSecurityPolicy *p, ClaimCtx &ctx, Deparser &deparse) {
    Node *q = pg_guard([&] {
        Node *e = reinterpret_cast<Node *>(copyObjectImpl(p->qual));
        // Inline SQL functions first (auth.uid()-style helpers), then substitute, then fold.
        e = eval_const_expressions(nullptr, e);
        e = claims_mutator(e, &ctx);
        return eval_const_expressions(nullptr, e);
    });
    std::string text = deparse(q);
    try {
        (void)analyze_where(rel, text, {});
    } catch (const ShapeError &e) {
        std::string msg = e.what();
        const std::string prefix = "invalid where clause: ";
        if (msg.rfind(prefix, 0) == 0) msg = msg.substr(prefix.size());
        throw ShapeError("policy", e.sqlstate,
                         "row-level security policy \"" + std::string(p->policy_name) + "\" on table " +
                             table_name_of(rel) + " cannot be compiled into a shape: " + msg,
                         "A shape evaluates its readers' policies once, when it is created, and then on every "
                         "change: a policy may use the row's columns, constants, current_user and "
                         "current_setting('request.jwt.claims', true) (or request.jwt.claim.<name>), and immutable "
                         "functions; not subqueries (other tables) or volatile and stable functions. See "
                         "docs/authorization.md.",
                         "The policy, with this reader's values: " + text);
    }
    return q;
}

}  // namespace

Oid check_reader_role(const std::string &role) {
    struct Info {
        Oid oid = InvalidOid, reader = InvalidOid;
        bool super = false, bypass = false;
    };
    Info i = pg_guard([&] {
        Info r;
        r.oid = get_role_oid(role.c_str(), true);
        r.reader = get_role_oid(kReaderRole, true);
        if (OidIsValid(r.oid)) {
            r.super = superuser_arg(r.oid);
            r.bypass = has_bypassrls_privilege(r.oid);
        }
        return r;
    });
    const std::string hint = "The role a token names (its \"role\" claim, or electric_sync.read_anon_role) must be "
                             "granted to electric_sync_reader by an administrator: GRANT " +
        role + " TO electric_sync_reader.";
    if (!OidIsValid(i.oid))
        throw ShapeError("role", ERRCODE_UNDEFINED_OBJECT, "role \"" + role + "\" does not exist", hint);
    if (i.super)
        throw ShapeError("role", ERRCODE_INSUFFICIENT_PRIVILEGE,
                         "role \"" + role + "\" is a superuser: shapes are never read as a superuser",
                         "Name an ordinary role in the token.");
    if (i.bypass && !es_guc_read_allow_bypassrls)
        throw ShapeError("role", ERRCODE_INSUFFICIENT_PRIVILEGE,
                         "role \"" + role + "\" has BYPASSRLS: shapes are not read as such a role",
                         "Name a role without BYPASSRLS, or set electric_sync.read_allow_bypassrls = on.");
    bool member = OidIsValid(i.reader) && pg_guard([&] { return is_member_of_role(i.reader, i.oid); });
    if (!member)
        throw ShapeError("role", ERRCODE_INSUFFICIENT_PRIVILEGE,
                         "role \"" + role + "\" may not be used by readers: it is not granted to electric_sync_reader", hint);
    return i.oid;
}

void check_column_grants(Relation rel, Oid role, const std::vector<int> &attnums, const char *field) {
    std::vector<std::string> refused = pg_guard([&] {
        std::vector<std::string> out;
        Oid relid = RelationGetRelid(rel);
        if (pg_class_aclcheck(relid, role, ACL_SELECT) == ACLCHECK_OK) return out;
        for (int a : attnums)
            if (pg_attribute_aclcheck(relid, static_cast<AttrNumber>(a), role, ACL_SELECT) != ACLCHECK_OK)
                out.emplace_back(NameStr(TupleDescAttr(RelationGetDescr(rel), a - 1)->attname));
        return out;
    });
    if (refused.empty()) return;
    std::string list;
    for (auto &c : refused) list += (list.empty() ? "" : ", ") + c;
    std::string role_name = pg_guard([&] { return std::string(GetUserNameFromId(role, false)); });
    throw ShapeError(field, ERRCODE_INSUFFICIENT_PRIVILEGE,
                     "permission denied: role \"" + role_name + "\" cannot select column" +
                         (refused.size() > 1 ? "s " : " ") + list + " of table " + table_name_of(rel),
                     std::string(field) == "where"
                         ? "A where clause may only use columns the reader can select."
                         : "Request only the columns the reader may select (columns=...), or GRANT SELECT on them.");
}

std::string compile_read_policy(Relation rel, Oid role, const std::string &role_name, const std::string &claims_json) {
    int rls = pg_guard([&] { return check_enable_rls(RelationGetRelid(rel), role, true); });
    if (rls != RLS_ENABLED) return "";

    // The claims: the whole object, and each top-level claim as text (strings as they are,
    // other values as JSON), as PostgREST sets request.jwt.claim.<name>.
    auto claims = nlohmann::json::parse(claims_json, nullptr, false);
    if (!claims.is_object())
        throw ShapeError("claims", ERRCODE_INVALID_PARAMETER_VALUE, "the reader's claims must be a JSON object");
    std::vector<std::string> names, values;
    std::vector<bool> is_null;
    for (auto it = claims.begin(); it != claims.end(); ++it) {
        names.push_back(it.key());
        values.push_back(it->is_string() ? it->get<std::string>() : it->dump());
        is_null.push_back(it->is_null());
    }
    ClaimCtx ctx;
    ctx.claims = claims_json.c_str();
    ctx.role = role_name.c_str();
    for (size_t i = 0; i < names.size(); i++) {
        ctx.names.push_back(names[i].c_str());
        ctx.values.push_back(is_null[i] ? nullptr : values[i].c_str());
    }

    const char *nsp = pg_guard([&] { return quote_identifier(get_namespace_name(RelationGetNamespace(rel))); });
    AnalysisSettings settings(std::string("pg_catalog, ") + nsp + ", public");
    EvalRole as_where_role(where_role_oid());
    Deparser deparse(RelationGetRelationName(rel), RelationGetRelid(rel));

    List *permissive = NIL, *restrictive = NIL;
    RowSecurityDesc *rs = rel->rd_rsdesc;
    ListCell *lc;
    if (rs) {
        foreach (lc, rs->policies) {
            auto *p = static_cast<RowSecurityPolicy *>(lfirst(lc));
            bool applies = pg_guard([&] { return policy_applies(p, role); });
            if (!applies || !p->qual) continue;
            Node *q = compile_one(rel, p, ctx, deparse);
            pg_guard([&] {
                if (p->permissive)
                    permissive = lappend(permissive, q);
                else
                    restrictive = lappend(restrictive, q);
            });
        }
    }
    // As the rewriter combines them (rowsecurity.c): no permissive policy means no row.
    Node *all = pg_guard([&] {
        Node *perm = permissive == NIL ? makeBoolConst(false, false)
            : list_length(permissive) == 1 ? static_cast<Node *>(linitial(permissive))
                                           : reinterpret_cast<Node *>(makeBoolExpr(OR_EXPR, permissive, -1));
        if (restrictive == NIL) return eval_const_expressions(nullptr, perm);
        List *conj = lcons(perm, restrictive);
        return eval_const_expressions(nullptr, reinterpret_cast<Node *>(makeBoolExpr(AND_EXPR, conj, -1)));
    });
    return deparse(all);
}

}  // namespace es
