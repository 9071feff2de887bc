// The bounded JSON parser itself: never throws, depth of an accepted value is at most the
// limit, and for accepted text it agrees with nlohmann::json::parse.
// fuzz-sources: src/core/common/json_limits.cpp
#include "core/common/json_limits.hpp"
#include "fuzz_common.hpp"

using namespace es::json_limits;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    auto in = fuzz_input(data, size);
    auto r = parse_bounded(in, {16, 1 << 16});
    if (!r.ok()) {
        FUZZ_ASSERT(r.value.is_null() && !r.message.empty());
        return 0;
    }
    FUZZ_ASSERT(depth_of(r.value) <= 16);
    auto ref = nlohmann::json::parse(in.begin(), in.end(), nullptr, false);
    FUZZ_ASSERT(!ref.is_discarded());
    FUZZ_ASSERT(ref == r.value);
    return 0;
}
