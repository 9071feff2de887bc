// The table side of a shape: table name resolution, relation description, electric-schema.
#include "pg/compat.hpp"
extern "C" {
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/catalog.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/syscache.h"
}
#include "shape/relation.hpp"
#include "shape/where.hpp"
#include "core/electric/electric.hpp"

namespace es {

namespace {

const char *kTableHint =
    "Unquoted names are folded to lower case and an unqualified name is looked up in schema "
    "\"public\". Quote names with capitals or special characters: \"MyTable\" or "
    "my_schema.\"MyTable\".";

std::string str_or(const char *s, const char *dflt = "") { return s ? std::string(s) : std::string(dflt); }

[[noreturn]] void table_error(int code, std::string msg, std::string hint = kTableHint, std::string detail = {}) {
    throw ShapeError("table", code, std::move(msg), std::move(hint), std::move(detail));
}

bool is_blank(const std::string &s) {
    for (char c : s)
        if (!isspace(static_cast<unsigned char>(c))) return false;
    return true;
}

}  // namespace

std::string quote_qualified_pg(const std::string &schema, const std::string &table) {
    const char *qs = pg_guard([&] { return quote_identifier(schema.c_str()); });
    const char *qt = pg_guard([&] { return quote_identifier(table.c_str()); });
    return std::string(qs) + "." + qt;
}

std::vector<int> ShapeRelation::live_attnums() const {
    std::vector<int> out;
    for (auto &a : attrs)
        if (!a.dropped) out.push_back(a.attnum);
    return out;
}

std::vector<int> ShapeRelation::key_attnums() const { return has_pk() ? pk_attnums : live_attnums(); }

int ShapeRelation::attnum_of(const std::string &name) const {
    for (auto &a : attrs)
        if (!a.dropped && a.name == name) return a.attnum;
    return 0;
}

Oid resolve_shape_table(const std::string &name, LOCKMODE lockmode, bool lock_for_replica_identity,
                        LOCKMODE *lock_taken) {
    if (is_blank(name))
        table_error(ERRCODE_INVALID_PARAMETER_VALUE, "Invalid zero-length delimited identifier",
                    "Give the table as table, schema.table or \"Quoted Name\".");
    List *names = nullptr;
    try {
        names = pg_guard([&] { return stringToQualifiedNameList(name.c_str()); });
    } catch (const PgException &e) {
        table_error(ERRCODE_INVALID_NAME, "Invalid table name: " + name,
                    "Give the table as table, schema.table or \"Quoted Name\" (double quotes around "
                    "names with capitals or special characters, \"\" for a quote inside a quoted name).",
                    str_or(e.edata()->message));
    }
    int nparts = list_length(names);
    ListCell *lc;
    foreach (lc, names)
        if (strVal(lfirst(lc))[0] == '\0')
            table_error(ERRCODE_INVALID_NAME, "Invalid zero-length delimited identifier",
                        "Give the table as table, schema.table or \"Quoted Name\".");
    if (nparts > 2) table_error(ERRCODE_INVALID_NAME, "Invalid table name, too many parts: " + name);
    std::string schema = nparts == 2 ? strVal(linitial(names)) : "public";
    std::string table = strVal(llast(names));
    RangeVar *rv = pg_guard([&] { return makeRangeVar(pstrdup(schema.c_str()), pstrdup(table.c_str()), -1); });

    // Peek without a lock to choose the lock mode, then resolve again with the lock (which
    // also rechecks that the name still points at a live relation).
    LOCKMODE mode = lockmode;
    if (lock_for_replica_identity) {
        Oid peek = pg_guard([&] { return RangeVarGetRelid(rv, NoLock, true); });
        if (OidIsValid(peek)) {
            bool full = pg_guard([&] {
                HeapTuple tup = SearchSysCache1(RELOID, ObjectIdGetDatum(peek));
                if (!HeapTupleIsValid(tup)) return true;
                bool f = ((Form_pg_class)GETSTRUCT(tup))->relreplident == REPLICA_IDENTITY_FULL;
                ReleaseSysCache(tup);
                return f;
            });
            if (!full) mode = AccessExclusiveLock;
        }
    }
    Oid relid = pg_guard([&] { return RangeVarGetRelidExtended(rv, mode, RVR_MISSING_OK, nullptr, nullptr); });
    if (!OidIsValid(relid)) table_error(ERRCODE_UNDEFINED_TABLE, electric::table_not_found_message(schema, table));
    AclResult acl = pg_guard([&] { return pg_class_aclcheck(relid, GetUserId(), ACL_SELECT); });
    if (acl != ACLCHECK_OK)
        table_error(ERRCODE_INSUFFICIENT_PRIVILEGE, "permission denied for table " + quote_qualified_pg(schema, table),
                    "A shape can only be defined by a role with SELECT privilege on the table.");
    if (lock_taken) *lock_taken = mode;
    return relid;
}

ShapeRelation describe_relation(Relation rel) {
    ShapeRelation r;
    r.relid = RelationGetRelid(rel);
    r.relkind = rel->rd_rel->relkind;
    r.replident = rel->rd_rel->relreplident;
    r.relpersistence = rel->rd_rel->relpersistence;
    r.table = NameStr(rel->rd_rel->relname);
    const char *nsp = pg_guard([&] { return get_namespace_name(RelationGetNamespace(rel)); });
    r.schema = nsp ? nsp : "";
    TupleDesc td = RelationGetDescr(rel);
    r.attrs.reserve(td->natts);
    for (int i = 0; i < td->natts; i++) {
        Form_pg_attribute att = TupleDescAttr(td, i);
        ShapeColumn c;
        c.attnum = i + 1;
        c.dropped = att->attisdropped;
        if (!c.dropped) {
            c.name = NameStr(att->attname);
            c.typid = att->atttypid;
            c.typmod = att->atttypmod;
            c.ndims = att->attndims;
            c.not_null = att->attnotnull;
            c.generated = att->attgenerated;
            char typname[NAMEDATALEN], elemname[NAMEDATALEN];
            bool has_elem = pg_guard([&] {
                HeapTuple tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(att->atttypid));
                if (!HeapTupleIsValid(tup)) elog(ERROR, "cache lookup failed for type %u", att->atttypid);
                Form_pg_type t = (Form_pg_type)GETSTRUCT(tup);
                strlcpy(typname, NameStr(t->typname), NAMEDATALEN);
                Oid elem = t->typelem;
                ReleaseSysCache(tup);
                if (att->attndims <= 0 || !OidIsValid(elem)) return false;
                tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(elem));
                if (!HeapTupleIsValid(tup)) elog(ERROR, "cache lookup failed for type %u", elem);
                strlcpy(elemname, NameStr(((Form_pg_type)GETSTRUCT(tup))->typname), NAMEDATALEN);
                ReleaseSysCache(tup);
                return true;
            });
            c.type_name = has_elem ? elemname : typname;
        }
        r.attrs.push_back(std::move(c));
    }
    int pk[INDEX_MAX_KEYS];
    int npk = pg_guard([&] {
        Oid pkidx = RelationGetPrimaryKeyIndex(rel);
        if (!OidIsValid(pkidx)) return 0;
        HeapTuple tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(pkidx));
        if (!HeapTupleIsValid(tup)) elog(ERROR, "cache lookup failed for index %u", pkidx);
        Form_pg_index idx = (Form_pg_index)GETSTRUCT(tup);
        int n = idx->indnkeyatts;
        for (int i = 0; i < n && i < INDEX_MAX_KEYS; i++) pk[i] = idx->indkey.values[i];
        ReleaseSysCache(tup);
        return n;
    });
    r.pk_attnums.assign(pk, pk + npk);
    return r;
}

void check_shape_relation(const ShapeRelation &r) {
    std::string qn = quote_qualified_pg(r.schema, r.table);
    if (r.relkind == RELKIND_PARTITIONED_TABLE)
        table_error(ERRCODE_FEATURE_NOT_SUPPORTED, "shapes on partitioned tables are not supported: " + qn,
                    "Define the shape on each partition instead.");
    if (r.relkind != RELKIND_RELATION)
        table_error(ERRCODE_WRONG_OBJECT_TYPE, qn + " is not a table",
                    "Shapes can only be defined on plain tables (not views, materialized views, "
                    "foreign tables or sequences).");
    if (r.relpersistence == RELPERSISTENCE_TEMP)
        table_error(ERRCODE_FEATURE_NOT_SUPPORTED, "shapes on temporary tables are not supported: " + r.table,
                    "Changes to temporary tables are not logically decoded, so they cannot be streamed; use a "
                    "regular table.");
    if (r.relpersistence != RELPERSISTENCE_PERMANENT)
        table_error(ERRCODE_FEATURE_NOT_SUPPORTED, "shapes on unlogged tables are not supported: " + qn,
                    "Changes to unlogged tables are not written to the WAL, so they cannot be streamed; use a "
                    "regular table (ALTER TABLE ... SET LOGGED).");
    if (r.schema == "pg_catalog" || r.schema == "information_schema" || r.schema == "electric_sync" ||
        r.relid < FirstNormalObjectId)
        table_error(ERRCODE_FEATURE_NOT_SUPPORTED, "shapes on system or electric_sync tables are not supported: " + qn,
                    "Define shapes on your application's tables.");
    if (r.live_attnums().empty())
        table_error(ERRCODE_FEATURE_NOT_SUPPORTED, "table " + qn + " has no columns",
                    "Add at least one column to the table.");
}

std::string schema_json(const ShapeRelation &r, const std::vector<int> &attnums) {
    std::vector<electric::SchemaColumn> cols;
    cols.reserve(attnums.size());
    for (int attnum : attnums) {
        const ShapeColumn &a = r.attrs.at(attnum - 1);
        electric::SchemaColumn c;
        c.name = a.name;
        c.type = a.type_name;
        c.dims = a.ndims > 0 ? a.ndims : 0;
        for (size_t i = 0; i < r.pk_attnums.size(); i++)
            if (r.pk_attnums[i] == attnum) c.pk_index = static_cast<int>(i);
        c.not_null = a.not_null;
        electric::apply_typmod(c, a.typmod);
        cols.push_back(std::move(c));
    }
    return electric::schema_header(cols);
}

std::string relation_signature(const ShapeRelation &r) {
    std::string s = quote_qualified_pg(r.schema, r.table);
    s += "|kind=";
    s += r.relkind;
    s += "|replident=";
    s += r.replident;
    s += "|pk=";
    for (int a : r.pk_attnums) s += std::to_string(a) + ",";
    s += "|cols=";
    for (auto &a : r.attrs) {
        if (a.dropped) continue;
        s += std::to_string(a.attnum) + ":" + std::to_string(a.typid) + ":" + std::to_string(a.typmod) + ":" +
            std::to_string(a.ndims) + ":" + (a.not_null ? "n" : "-") + ":" +
            (a.generated ? std::string(1, a.generated) : "-") + ";";
    }
    s += "|schema=" + schema_json(r, r.live_attnums());
    return s;
}

std::string relation_signature_by_oid(Oid relid, bool *found) {
    Relation rel = pg_guard([&] { return try_table_open(relid, AccessShareLock); });
    if (!rel) {
        *found = false;
        return {};
    }
    std::string sig;
    try {
        sig = relation_signature(describe_relation(rel));
    } catch (...) {
        pg_guard([&] { table_close(rel, AccessShareLock); });
        throw;
    }
    pg_guard([&] { table_close(rel, AccessShareLock); });
    *found = true;
    return sig;
}

}  // namespace es
