// Internals shared by the where-clause files (src/shape/where*.cpp), not an interface:
//   where_rules.cpp    what a clause may contain: the statement shape, reg* values, the
//                      function policy, depth, parameters; error conversion with positions
//   where_analyze.cpp  analyze_where(): parse, check, analyze, deparse, bind parameters
//   where.cpp          CompiledWhere (routing keys, evaluation), the where role
//   policy.cpp         a reader's row-level security policies compiled into a where clause
#pragma once
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

#include <string>
#include <vector>

namespace es::where_detail {

constexpr const char *kPrefix = "SELECT 1 WHERE ";
constexpr int kPrefixChars = 15;  // characters of kPrefix (error positions are in characters)

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
        } catch (...) {}
    }

private:
    int level_ = 0;
};

struct ContextSwitch {
    explicit ContextSwitch(MemoryContext c) : old(MemoryContextSwitchTo(c)) {}
    ~ContextSwitch() { MemoryContextSwitchTo(old); }
    MemoryContext old;
};

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
    Bitmapset *params = nullptr;  // referenced $n
    AttrNumber system_attno = 0;  // a referenced system column, if any
};

struct RawCheck {
    Relation rel = nullptr;
    bool found = false;
    int location = -1;
};

struct Policy {
    const std::vector<Oid> *allowed = nullptr;
    Oid bad_func = InvalidOid;
    bool secdef = false;  // bad_func is SECURITY DEFINER
    Oid bad_domain = InvalidOid;  // a coercion to a user-defined domain
    bool reg = false;  // a value of a reg* type
    bool uses_allowed = false;  // calls an allow-listed (non-built-in) function
};

// Nesting depth of an analyzed expression (walkers and the deparsed text grow with it).
struct DepthCtx {
    int cur = 0, max = 0;
};

struct SubstCtx {
    Const **consts;
    int n;
};

extern const char *kGenericHint;

std::string str(const char *p);
bool is_blank(const std::string &s);
std::string hint_for(const ErrorData *ed);
// A Postgres error raised while handling the clause, as a ShapeError whose position refers to
// the where clause itself (not to our "SELECT 1 WHERE " wrapper).
[[noreturn]] void rethrow_where(const PgException &e, const char *field = "where",
                                const std::string &prefix = "invalid where clause: ");
[[noreturn]] void where_error(int code, const std::string &msg, const std::string &hint, const std::string &detail = {},
                              const char *field = "where");
// The raw parse tree must be exactly `SELECT 1 WHERE <expr>`; returns <expr>.
Node *single_where(List *raw);

// Tree walkers (C callbacks: they never throw C++ exceptions).
bool info_walker(Node *node, void *ctx);  // InfoWalk: parameters, system columns
bool mutable_walker(Node *node, void *ctx);  // Oid*: the first non-immutable function
bool nonbuiltin_walker(Node *node, void *ctx);  // any function not in C or internal
bool raw_reg_walker(Node *node, void *ctx);  // RawCheck: reg* casts, calls, columns (raw tree)
bool policy_walker(Node *node, void *ctx);  // Policy: allow-list, SECURITY DEFINER, domains, reg*
bool depth_walker(Node *node, void *ctx);  // DepthCtx
Node *subst_mutator(Node *node, void *ctx);  // SubstCtx: $n -> typed constants
// The superuser-kept allow-list of non-built-in functions (electric_sync.where_functions).
std::vector<Oid> load_allowed_functions();

// Deparsed with search_path = pg_catalog, so every name outside pg_catalog comes out
// schema-qualified and the text means the same in any session.
class Deparser {
public:
    Deparser(const char *relname, Oid relid) : relname_(relname), relid_(relid) {}
    std::string operator()(Node *e) {
        try {
            return pg_guard([&] {
            int level = NewGUCNestLevel();
            (void)set_config_option("search_path", "pg_catalog", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0,
                                    false);
            if (!ctx_) ctx_ = deparse_context_for(relname_, relid_);
            char *txt = deparse_expression(e, ctx_, false, false);
            AtEOXact_GUC(true, level);
            return std::string(txt);
            });
        } catch (const PgException &e) {
            rethrow_where(e);
        }
    }

private:
    const char *relname_;
    Oid relid_;
    List *ctx_ = nullptr;
};

}  // namespace es::where_detail
