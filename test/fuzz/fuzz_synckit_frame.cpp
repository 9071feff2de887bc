// SyncKit codec (src/core/synckit/frame.hpp). First byte picks: 0 decode a WebSocket message
// and parse its payload by type; 1 decode in stream mode with a small limit; 2 the input as a
// payload for every parser; 3 the LWW order on two halves of the input. Nothing may throw but
// PayloadError; a decoded binary frame re-encodes to the same bytes.
// fuzz-sources: src/core/synckit/frame.cpp src/core/common/json_limits.cpp
#include "core/synckit/frame.hpp"
#include "core/common/json_limits.hpp"
#include "fuzz_common.hpp"

using namespace es::synckit;
using nlohmann::json;

namespace {

void parse_all(const json &payload, MessageType only, bool every) {
    auto run = [&](MessageType t, auto &&f) {
        if (!every && t != only) return;
        try {
            f();
        } catch (const PayloadError &e) {
            FUZZ_ASSERT(!e.field.empty());
            FUZZ_ASSERT(std::string(payload_error_name(e.code)) != "unknown");
            fuzz_assert_json(encode_frame_json(MessageType::Error, 0, error_payload("INVALID_REQUEST", e.what()))
                                 .substr(kHeaderBytes));
        }
    };
    run(MessageType::Auth, [&] { (void)parse_auth(payload); });
    run(MessageType::Subscribe, [&] { FUZZ_ASSERT(!parse_document_request(payload).document_id.empty()); });
    run(MessageType::SyncRequest, [&] { (void)parse_sync_request(payload); });
    run(MessageType::Delta, [&] {
        auto d = parse_delta(payload, 7);
        FUZZ_ASSERT(!d.field.empty() && !d.client_id.empty() && !d.document_id.empty());
        FUZZ_ASSERT(d.delete_field == is_tombstone(d.value));
        (void)d.value.dump();
    });
    run(MessageType::Ack, [&] { FUZZ_ASSERT(!parse_ack(payload).message_id.empty()); });
    run(MessageType::AwarenessUpdate, [&] {
        auto u = parse_awareness_update(payload);
        FUZZ_ASSERT(u.state.is_null() || u.state.is_object());
    });
    run(MessageType::DeltaBatch, [&] {
        auto b = parse_delta_batch(payload, 7);
        FUZZ_ASSERT(!b.deltas.empty() && b.deltas.size() <= PayloadLimits{}.max_batch_deltas);
        for (auto &d : b.deltas) FUZZ_ASSERT(d.document_id == b.document_id);
    });
    run(MessageType::DeltaBatchChunk, [&] {
        auto c = parse_delta_batch_chunk(payload);
        FUZZ_ASSERT(c.chunk_index < c.total_chunks && c.data.size() % 4 == 0);
    });
}

void check_decoded(std::string_view in, const DecodeResult &r, const DecodeOptions &o) {
    if (!r.ok()) {
        FUZZ_ASSERT(!r.message.empty());
        FUZZ_ASSERT(r.needed == 0 || r.needed > in.size());
        FUZZ_ASSERT(r.needed <= kHeaderBytes + o.max_message_bytes);
        return;
    }
    FUZZ_ASSERT(r.frame.payload.is_object());
    FUZZ_ASSERT(es::json_limits::depth_of(r.frame.payload) <= o.max_depth);
    FUZZ_ASSERT(r.consumed > 0 && r.consumed <= in.size());
    if (!r.frame.text) {
        FUZZ_ASSERT(type_from_code(r.frame.code) == r.frame.type);
        std::string again = encode_frame_code(r.frame.code, r.frame.timestamp,
                                              in.substr(kHeaderBytes, r.consumed - kHeaderBytes));
        FUZZ_ASSERT(again == in.substr(0, r.consumed));
        DecodeOptions wide = o;  // a dump may be longer than the input (1e5 -> 100000.0)
        wide.max_message_bytes = size_t(1) << 30;
        auto r2 = decode_frame(encode_frame_json(r.frame.type, r.frame.timestamp, r.frame.payload), wide);
        FUZZ_ASSERT(r2.ok() && r2.frame.payload == r.frame.payload);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    auto in = fuzz_input(data + 1, size - 1);
    switch (data[0] % 4) {
    case 0: {
        DecodeOptions o;
        auto r = decode_frame(in, o);
        check_decoded(in, r, o);
        if (r.ok()) parse_all(r.frame.payload, r.frame.type, false);
        break;
    }
    case 1: {
        DecodeOptions o;
        o.allow_trailing = true;
        o.max_message_bytes = 1024;
        o.max_depth = 8;
        while (!in.empty()) {
            auto r = decode_frame(in, o);
            check_decoded(in, r, o);
            if (!r.ok()) break;
            in.remove_prefix(r.consumed);
        }
        break;
    }
    case 2: {
        auto j = es::json_limits::parse_bounded(in);
        if (j.ok()) parse_all(j.value, MessageType::Error, true);
        break;
    }
    default: {
        auto a = in.substr(0, in.size() / 2), b = in.substr(in.size() / 2);
        int c = compare_js(a, b);
        FUZZ_ASSERT(c == -compare_js(b, a));
        FUZZ_ASSERT(compare_js(a, a) == 0);
        FUZZ_ASSERT(wins(1, a, 1, b) || wins(1, b, 1, a));
        FUZZ_ASSERT(wins(1, a, 1, b) == (c >= 0));
        FUZZ_ASSERT(wins(2, a, 1, b) && !wins(1, a, 2, b));
        break;
    }
    }
    return 0;
}
