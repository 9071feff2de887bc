// POST /v1/shape subset body (merge_subset_body: bounded JSON, 400/413 bodies), then the
// merged request validated as a whole (params JSON form, subset fields).
// fuzz-sources: src/core/electric/*.cpp src/core/common/json_limits.cpp src/core/common/utf8.cpp
#include "core/electric/electric.hpp"
#include "fuzz_common.hpp"

using namespace es::electric;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    QueryParams q = {{"table", "items"}, {"offset", "-1"}};
    std::string err;
    int status = 0;
    if (!merge_subset_body(fuzz_input(data, size), q, err, status)) {
        FUZZ_ASSERT(status == 400 || status == 413);
        fuzz_assert_json(err);
        return 0;
    }
    ShapeRequest r;
    auto errs = parse_shape_request(q, r);
    fuzz_assert_json(errs.to_body());
    for (auto &[k, v] : r.subset.params) (void)nlohmann::json(v).dump();
    return 0;
}
