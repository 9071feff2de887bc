// oversync request parsers. First byte picks: connect, push create, push chunk, snapshot
// create, query string, int64. Only ApiError (status 4xx) may escape; its body must be JSON.
// fuzz-sources: src/core/oversync/request.cpp src/core/common/json_limits.cpp
#include "core/oversync/request.hpp"
#include "fuzz_common.hpp"

using namespace es::oversync;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    auto in = fuzz_input(data + 1, size - 1);
    try {
        switch (data[0] % 6) {
        case 0: (void)parse_connect(in); break;
        case 1: (void)parse_push_create(in); break;
        case 2: {
            auto r = parse_push_chunk(in, 100);
            FUZZ_ASSERT(r.rows.is_array() && !r.rows.empty() && r.rows.size() <= 100);
            (void)r.rows.dump();
            break;
        }
        case 3: {
            auto r = parse_snapshot_create(in, "source-1");
            (void)r.source_replacement.dump();
            break;
        }
        case 4: {
            auto m = parse_query(in);
            for (auto &[k, v] : m) (void)parse_int64(v);
            break;
        }
        default: {
            auto v = parse_int64(in);
            if (v) FUZZ_ASSERT(std::to_string(*v).size() <= in.size());
            break;
        }
        }
    } catch (const ApiError &e) {
        FUZZ_ASSERT(e.status >= 400 && e.status < 500);
        fuzz_assert_json(error_body(e.code, e.what(), e.extra));
    }
    return 0;
}
