// Electric query string -> ShapeRequest (parse_query, parse_shape_request, the 400 body) and
// the values a valid request hands to the rest of the server (must dump as JSON: valid UTF-8).
// fuzz-sources: src/core/electric/*.cpp src/core/common/json_limits.cpp src/core/common/utf8.cpp
#include "core/electric/electric.hpp"
#include "fuzz_common.hpp"

using namespace es::electric;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    auto q = parse_query(fuzz_input(data, size));
    ShapeRequest r;
    auto errs = parse_shape_request(q, r);
    std::string body = errs.to_body();
    fuzz_assert_json(body);
    if (!errs.empty()) return 0;
    // What svc does with a valid request: JSON arrays of columns/params, the definition hash.
    nlohmann::json cols = r.columns;
    (void)cols.dump();
    nlohmann::json p = nlohmann::json::object();
    for (auto &[k, v] : r.params) p[std::to_string(k)] = v;
    (void)p.dump();
    if (r.where) (void)nlohmann::json(*r.where).dump();
    if (r.subset.where) (void)nlohmann::json(*r.subset.where).dump();
    if (r.subset.order_by) (void)nlohmann::json(*r.subset.order_by).dump();
    if (r.handle) (void)nlohmann::json(*r.handle).dump();
    (void)nlohmann::json(r.table_schema + r.table_name).dump();
    (void)normalized_definition(r.table_schema, r.table_name, r.where.value_or(""), r.params, r.columns, r.replica,
                                r.log);
    FUZZ_ASSERT(!r.offset.is_now() || !r.live);
    if (r.offset.kind == RequestOffset::At) {
        FUZZ_ASSERT(r.offset.offset.tx <= kMaxLogOffsetPart && r.offset.offset.op <= kMaxLogOffsetPart);
        FUZZ_ASSERT(r.handle.has_value());
    }
    return 0;
}
