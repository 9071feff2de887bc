// Header-value parsers of the read path: If-None-Match, CORS preflight request headers, the
// live cursor (next_cursor must strictly exceed a client cursor it accepts).
// fuzz-sources: src/core/electric/*.cpp src/core/common/json_limits.cpp src/core/common/utf8.cpp
#include "core/electric/electric.hpp"
#include "fuzz_common.hpp"

using namespace es::electric;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    auto in = fuzz_input(data, size);
    (void)if_none_match_matches(in, "\"h-1:-1:0_0\"");
    (void)preflight_allow_headers(in);
    int64_t next = next_cursor(1800000000, 20, in, 12345);
    FUZZ_ASSERT(next >= 0);
    (void)make_etag("h", in, "0_0");
    std::string requested(in);
    auto h = preflight_headers(&requested);
    FUZZ_ASSERT(!h.empty() && h[0].second == "*");
    return 0;
}
