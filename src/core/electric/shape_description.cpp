// One description of a stored shape (see shape_description.hpp).
#include "core/electric/shape_description.hpp"

#include <nlohmann/json.hpp>

#include <stdexcept>

namespace es::electric {

const char *const kShapeDescriptionSelect =
    "SELECT s.shape_id, s.handle, s.relid::bigint, s.schema_name, s.table_name, s.schema_json, s.status, "
    "coalesce(s.where_clause, ''), coalesce(array_to_json(s.params), '[]'), "
    "array_to_json(coalesce(s.columns, (SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_attribute a "
    "  WHERE a.attrelid = s.relid AND a.attnum > 0 AND NOT a.attisdropped))), "
    "coalesce(array_to_json(s.pk_columns), '[]'), s.replica = 'full', "
    "s.log_mode = 'changes_only', coalesce(rt.log_ready, false), s.read_role, s.policy_where";
const char *const kShapeDescriptionFrom =
    " FROM electric_sync.shapes s LEFT JOIN electric_sync.shape_runtime rt USING (shape_id)";

std::string effective_where(const std::string &where, const std::string &policy_where) {
    if (policy_where.empty()) return where;
    if (where.empty()) return policy_where;
    return "(" + where + ") AND (" + policy_where + ")";
}

std::vector<std::string> json_string_list(const std::string &json_array) {
    std::vector<std::string> out;
    if (json_array.empty()) return out;
    auto j = nlohmann::json::parse(json_array, nullptr, false);
    if (!j.is_array()) return out;
    for (auto &e : j) out.push_back(e.is_string() ? e.get<std::string>() : e.dump());
    return out;
}

namespace {

std::vector<std::string> strings_of(const std::optional<std::string> &s) {
    return s ? json_string_list(*s) : std::vector<std::string>{};
}

bool bool_of(const std::optional<std::string> &s) { return s && (*s == "t" || *s == "true"); }
std::string text_of(const std::optional<std::string> &s) { return s.value_or(""); }

}  // namespace

ShapeDescription shape_description_from_row(const std::vector<std::optional<std::string>> &row) {
    if (row.size() < static_cast<size_t>(kShapeDescriptionColumns) || !row[0] || !row[2])
        throw std::runtime_error("shape description row is incomplete");
    ShapeDescription d;
    d.id = std::stoll(*row[0]);
    d.handle = text_of(row[1]);
    d.relid = static_cast<uint32_t>(std::stoul(*row[2]));
    d.schema = text_of(row[3]);
    d.table = text_of(row[4]);
    d.schema_json = text_of(row[5]);
    d.status = text_of(row[6]);
    d.request_where = text_of(row[7]);
    d.read_role = text_of(row[14]);
    d.policy_where = text_of(row[15]);
    d.where = effective_where(d.request_where, d.policy_where);
    d.params = strings_of(row[8]);
    d.columns = strings_of(row[9]);
    d.pk_columns = strings_of(row[10]);
    d.full = bool_of(row[11]);
    d.changes_only = bool_of(row[12]);
    d.log_ready = bool_of(row[13]);
    return d;
}

}  // namespace es::electric
