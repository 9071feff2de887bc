// The SyncKit server rules (src/core/synckit/server.hpp) on hostile input. First byte picks:
// 0 base64 and chunk reassembly (pieces cut from the input, indexes and totals from its bytes);
// 1 the input as token claims (identity_from_claims, permission checks against its tail);
// 2 the outgoing payloads built from pieces of the input (must be JSON, and carry the pieces);
// 3 awareness updates and expiry driven by the input. Nothing may throw or crash.
// fuzz-sources: src/core/synckit/server.cpp src/core/synckit/frame.cpp src/core/common/json_limits.cpp
#include "core/synckit/server.hpp"
#include "core/common/json_limits.hpp"
#include "fuzz_common.hpp"

using namespace es::synckit;
using nlohmann::json;

namespace {

std::string piece(std::string_view &in, size_t max) {
    if (in.empty()) return {};
    size_t n = std::min<size_t>(static_cast<unsigned char>(in[0]) % (max + 1), in.size() - 1);
    std::string out(in.substr(1, n));
    in.remove_prefix(1 + n);
    return out;
}

uint8_t byte(std::string_view &in) {
    if (in.empty()) return 0;
    uint8_t b = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
    return b;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string_view in = fuzz_input(data, size);
    if (in.empty()) return 0;
    uint8_t mode = static_cast<uint8_t>(in[0]) % 4;
    in.remove_prefix(1);
    switch (mode) {
    case 0: {
        std::string out;
        if (base64_decode(in, out)) FUZZ_ASSERT(out.size() <= in.size() / 4 * 3);
        ChunkAssembler a(256);
        int64_t now = 0;
        while (!in.empty()) {
            DeltaBatchChunk c;
            c.chunk_id = std::string(1, char('a' + byte(in) % 6));
            c.total_chunks = 1 + byte(in) % 5;
            c.chunk_index = byte(in) % c.total_chunks;
            c.data = piece(in, 40);
            now += byte(in) * 1000;
            auto r = a.add(c, now);
            FUZZ_ASSERT(!(r.complete && !r.error.empty()));
            if (r.complete) FUZZ_ASSERT(r.bytes.size() <= 256);
            FUZZ_ASSERT(a.pending_sets() <= ChunkAssembler::kMaxSets);
        }
        break;
    }
    case 1: {
        std::string claims = piece(in, 4000);
        auto p = es::json_limits::parse_bounded(claims);
        if (!p.ok()) break;
        auto id = identity_from_claims(p.value);
        FUZZ_ASSERT(id.ok == id.error.empty());
        if (id.ok) {
            FUZZ_ASSERT(!id.user_id.empty());
            std::string doc(in);
            if (can_write(id.permissions, doc)) FUZZ_ASSERT(can_read(id.permissions, doc));
            fuzz_assert_json(auth_success_payload(id));
        }
        break;
    }
    case 2: {
        std::string doc = piece(in, 64), field = piece(in, 64), client = piece(in, 64);
        auto v = es::json_limits::parse_bounded(piece(in, 200));
        FieldState f{field, v.ok() ? v.value.dump() : std::string("1"), (byte(in) & 1) != 0,
                     static_cast<int64_t>(byte(in)) << 30, client, byte(in)};
        std::string d = delta_payload(doc, f);
        auto pd = json::parse(d, nullptr, false, false);
        // Invalid UTF-8 in the pieces is replaced; valid pieces come back as they were.
        FUZZ_ASSERT(!pd.is_discarded());
        FUZZ_ASSERT(pd["clock"][kServerClockKey] == f.counter);
        fuzz_assert_json(sync_response_payload(doc, client, {f}, f.counter));
        fuzz_assert_json(ack_payload(doc, byte(in), field));
        break;
    }
    case 3: {
        AwarenessStore s;
        int64_t now = 0;
        while (!in.empty()) {
            AwarenessUpdate u;
            u.document_id = std::string(1, char('a' + byte(in) % 3));
            u.client_id = std::string(1, char('a' + byte(in) % 4));
            uint8_t k = byte(in);
            if (k % 3) u.state = json{{"k", k}};
            u.clock = k;
            uint64_t owner = 1 + k % 3;
            now += byte(in) * 100;
            std::string out = s.update(u, owner, now, 3000);
            if (!out.empty()) fuzz_assert_json(out);
            fuzz_assert_json(s.state_payload(u.document_id));
            if (k % 7 == 0) s.drop_owner(owner);
            for (auto &[d, p] : s.expire(now)) fuzz_assert_json(p);
        }
        break;
    }
    }
    return 0;
}
