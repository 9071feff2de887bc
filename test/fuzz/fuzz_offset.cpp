// Log offsets: parse_request_offset / parse_log_offset; accepted offsets print and re-parse to
// the same position, and no part exceeds INT64_MAX.
// fuzz-sources: src/core/electric/*.cpp src/core/common/json_limits.cpp src/core/common/utf8.cpp
#include "core/electric/electric.hpp"
#include "fuzz_common.hpp"

using namespace es::electric;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    auto in = fuzz_input(data, size);
    auto r = parse_request_offset(in);
    if (!r) return 0;
    std::string s = r->to_string();
    auto again = parse_request_offset(s);
    FUZZ_ASSERT(again && again->kind == r->kind);
    if (r->kind == RequestOffset::At) {
        FUZZ_ASSERT(again->offset == r->offset);
        FUZZ_ASSERT(r->offset.tx <= kMaxLogOffsetPart && r->offset.op <= kMaxLogOffsetPart);
        FUZZ_ASSERT(compare(r->offset, LogOffset::make_before_all()) > 0);
    }
    return 0;
}
