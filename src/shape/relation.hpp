// The table side of a shape: resolving the `table` argument, describing the relation (columns,
// types, primary key) and the `electric-schema` header value (docs/protocols/electric.md §12).
// Backend side only (main thread, inside a transaction).
#pragma once
#include "pg/compat.hpp"

#include <string>
#include <vector>

extern "C" {
#include "storage/lockdefs.h"
#include "utils/relcache.h"
}

namespace es {

struct ShapeColumn {
    int attnum = 0;
    std::string name;
    Oid typid = InvalidOid;
    int32 typmod = -1;
    int ndims = 0;
    bool not_null = false;
    bool dropped = false;
    char generated = '\0';
    std::string type_name;  // Electric's "type": typname, or the element's typname for arrays
};

struct ShapeRelation {
    Oid relid = InvalidOid;
    std::string schema, table;
    char relkind = 0, replident = 0, relpersistence = 0;
    std::vector<ShapeColumn> attrs;  // index attnum-1, dropped columns included
    std::vector<int> pk_attnums;  // primary key columns in key order; empty = no PK

    bool has_pk() const { return !pk_attnums.empty(); }
    // Live (not dropped) columns in table order.
    std::vector<int> live_attnums() const;
    // PK columns in key order; every live column (table order) when the table has no PK.
    std::vector<int> key_attnums() const;
    // attnum of a live column by exact name, 0 if none.
    int attnum_of(const std::string &name) const;
};

// Parses `name` with Postgres identifier rules (`t`, `s.t`, `"Mixed"`, `"s"."T"`; unquoted
// names are folded to lower case; unqualified means schema public, as Electric does), checks
// that it names a table the caller may SELECT from, and returns its oid, locked with
// `lockmode`, or — when `lock_for_replica_identity` — with AccessExclusiveLock if the table's
// replica identity is not FULL yet (so create_shape can change it without a lock upgrade).
// Throws ShapeError (field "table").
Oid resolve_shape_table(const std::string &name, LOCKMODE lockmode, bool lock_for_replica_identity,
                        LOCKMODE *lock_taken);

// Describes an open relation (needs the relation locked).
ShapeRelation describe_relation(Relation rel);

// Refuses relations a shape cannot be defined on (not a plain table, temporary or unlogged,
// system catalogs, the extension's own tables). Throws ShapeError (field "table").
void check_shape_relation(const ShapeRelation &r);

// The exact `electric-schema` header value for the given attributes (in the given order).
std::string schema_json(const ShapeRelation &r, const std::vector<int> &attnums);

// A string that changes whenever anything a shape depends on changes: qualified name, kind,
// replica identity, live columns (names, types, typmods, dims, NOT NULL, generated) and the
// primary key. Used by the DDL event trigger to invalidate shapes.
std::string relation_signature(const ShapeRelation &r);

// Relation signature by oid; empty optional-like "" when the relation does not exist.
std::string relation_signature_by_oid(Oid relid, bool *found);

// "schema"."table" with Postgres' quote_identifier rules (quotes only where needed).
std::string quote_qualified_pg(const std::string &schema, const std::string &table);

}  // namespace es
