// Output-plugin text format: parse_record on the whole input, then a Decoder session over the
// input split at '\n' (framing, relation checks) until the first error. Only ParseError may
// escape.
// fuzz-sources: src/core/decode/decoding_format.cpp
#include "core/decode/decoding_format.hpp"
#include "fuzz_common.hpp"

using namespace es::decoding;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    auto in = fuzz_input(data, size);
    try {
        Record r = parse_record(in);
        (void)to_string(r.kind);
    } catch (const ParseError &) {}
    Decoder d;
    size_t start = 0;
    while (start <= in.size()) {
        size_t nl = in.find('\n', start);
        if (nl == std::string_view::npos) nl = in.size();
        try {
            const Record &r = d.feed(in.substr(start, nl - start));
            if (r.kind == RecordKind::Insert || r.kind == RecordKind::Update || r.kind == RecordKind::Delete) {
                const RelationInfo &rel = d.relation_of(r.change);
                (void)rel.pk_columns();
            }
        } catch (const ParseError &) {
            break;  // the worker abandons a decoding call at its first malformed record
        }
        start = nl + 1;
    }
    return 0;
}
