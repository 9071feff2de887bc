// JWT verifier. First byte picks the mode: 0 = the input is a token (verify_hs256 with a fixed
// secret; bearer_token); 1 = the input is a claims text, signed and verified (reaches the
// bounded JSON parse of header and payload); 2 = base64url: accepted text is canonical
// (decode then encode gives it back); 3 = a reader's token (verify_token with a secret) and the
// read_auth decision on it; 4 = a public key file (PEM or JWKS) loaded into a KeySet.
// fuzz-sources: src/core/auth/jwt.cpp src/core/auth/reader.cpp src/core/oversync/canonical.cpp src/core/electric/*.cpp src/core/common/json_limits.cpp src/core/common/utf8.cpp
#include "core/auth/jwt.hpp"
#include "core/auth/reader.hpp"

#include <memory>
#include "fuzz_common.hpp"

using namespace es::jwt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    auto in = fuzz_input(data + 1, size - 1);
    const std::string secret = "fuzz-secret";
    switch (data[0] % 5) {
    case 3: {
        static const auto keys = std::make_shared<const KeySet>(secret, "");
        auto t = verify_token(in, *keys, 1700000000, 5);
        FUZZ_ASSERT(t.ok != !t.error.empty());
        es::auth::ReaderConfig cfg;
        cfg.mode = es::auth::ReadAuth::Jwt;
        cfg.keys = keys;
        std::string header = "Bearer " + std::string(in);
        auto r = es::auth::authenticate_reader(cfg, {nullptr, &header}, 1700000000);
        FUZZ_ASSERT(r.ok || r.status == 401);
        break;
    }
    case 4: {
        KeySet ks("", std::string(in));
        FUZZ_ASSERT(ks.public_key_count() > 0 || !ks.error().empty() || in.find_first_not_of(" \t\r\n") == std::string::npos);
        break;
    }
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
    case 2: {
        std::string out;
        if (base64url_decode(in, out)) FUZZ_ASSERT(base64url_encode(out) == in);
        break;
    }
    }
    return 0;
}
