// Identifiers: parse_table / parse_columns / parse_identifier; an accepted name quotes and
// parses back to itself.
// fuzz-sources: src/core/electric/ident.cpp
#include "core/electric/electric.hpp"
#include "fuzz_common.hpp"

using namespace es::electric;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    auto in = fuzz_input(data, size);
    QualifiedName qn;
    if (!parse_table(in, qn)) {
        QualifiedName back;
        FUZZ_ASSERT(!parse_table(quote_qualified(qn.schema, qn.name), back));
        FUZZ_ASSERT(back.schema == qn.schema && back.name == qn.name);
    }
    std::vector<std::string> cols;
    (void)parse_columns(in, cols);
    std::string id;
    if (!parse_identifier(in, id)) {
        std::string back;
        FUZZ_ASSERT(!parse_identifier(quote_ident(id), back) && back == id);
    }
    return 0;
}
