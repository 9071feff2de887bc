// One shape as stored in electric_sync.shapes (and its runtime row): the single description
// the engine (over SPI) and the pool (over libpq) load, with one select list and one parser.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace es::electric {

struct ShapeDescription {
    int64_t id = 0;
    std::string handle;
    uint32_t relid = 0;
    std::string schema, table;
    std::string schema_json;  // electric-schema header value
    std::string status;  // active, invalidated, deleted, failed
    std::string where;  // what rows pass: the canonical where clause and the reader's policy
                        // (effective_where); "" = every row
    std::string request_where;  // the canonical where clause alone; "" = none
    std::string read_role;  // authorized shapes: the role it is read as; "" = unrestricted
    std::string policy_where;  // authorized shapes: the role's compiled policies; "" = none
    std::vector<std::string> params;  // $n values as text
    std::vector<std::string> columns;  // selected columns, table order (all when none given)
    std::vector<std::string> pk_columns;  // key order
    bool full = false;  // replica=full
    bool changes_only = false;  // log_mode=changes_only
    bool log_ready = false;  // the engine has filtered the log against the snapshot
};

// "SELECT <the description's columns>" and "FROM electric_sync.shapes s LEFT JOIN ..." (alias s):
// callers add their own WHERE, and may add columns between the two (after the first
// kShapeDescriptionColumns columns).
extern const char *const kShapeDescriptionSelect;
extern const char *const kShapeDescriptionFrom;
constexpr int kShapeDescriptionColumns = 16;

// The predicate of an authorized shape: its where clause and its reader's compiled row-level
// security policies, both canonical texts deparsed by Postgres ("" = none of that part). The
// one place the two are combined (create_shape, the engine and the pool all use it).
std::string effective_where(const std::string &where, const std::string &policy_where);

// A JSON array of strings (array_to_json of a text[]) as strings; anything else: empty.
std::vector<std::string> json_string_list(const std::string &json_array);

// A result row of that select list, as text (nullopt = NULL; booleans as t/f or true/false).
ShapeDescription shape_description_from_row(const std::vector<std::optional<std::string>> &row);

}  // namespace es::electric
