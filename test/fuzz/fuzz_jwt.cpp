// JWT verifier. First byte picks the mode: 0 = the input is a token (verify_hs256 with a fixed
// secret; bearer_token); 1 = the input is a claims text, signed and verified (reaches the
// bounded JSON parse of header and payload); 2 = base64url: accepted text is canonical
// (decode then encode gives it back).
// fuzz-sources: src/core/auth/jwt.cpp src/core/oversync/canonical.cpp src/core/common/json_limits.cpp
#include "core/auth/jwt.hpp"
#include "fuzz_common.hpp"

using namespace es::jwt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    auto in = fuzz_input(data + 1, size - 1);
    const std::string secret = "fuzz-secret";
    switch (data[0] % 3) {
    case 0: {
        auto c = verify_hs256(in, secret, 1700000000, 5);
        FUZZ_ASSERT(c.ok != !c.error.empty());
        (void)bearer_token(in);
        break;
    }
    case 1: {
        auto c = verify_hs256(sign_hs256(in, secret), secret, 1700000000, 5);
        if (c.ok) FUZZ_ASSERT(!c.subject.empty());
        break;
    }
    default: {
        std::string out;
        if (base64url_decode(in, out)) FUZZ_ASSERT(base64url_encode(out) == in);
        break;
    }
    }
    return 0;
}
