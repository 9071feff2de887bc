// Go-compatible canonical JSON (canonical_json): only JsonSyntaxError may escape; the output
// is valid JSON and canonical (canonicalizing it again changes nothing).
// fuzz-sources: src/core/oversync/canonical.cpp
#include "core/oversync/canonical.hpp"
#include "fuzz_common.hpp"

using namespace es::oversync;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string out;
    try {
        out = canonical_json(fuzz_input(data, size));
    } catch (const JsonSyntaxError &) {
        return 0;
    }
    FUZZ_ASSERT(canonical_json(out) == out);
    return 0;
}
