// JWT verification. Pure C++ (OpenSSL). verify_hs256: the write path's bearer tokens (HS256,
// a subject required). KeySet + verify_token: the read path's tokens (HS256 with a secret, or
// RS256 / ES256 with a configured public key; no claim required).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace es::jwt {

struct Claims {
    bool ok = false;
    std::string error;  // why it was rejected (for logs / 401 message)
    std::string subject;  // "sub"
    int64_t exp = 0;  // 0 = none
};

// Verifies an HS256 compact JWS with `secret`: header alg must be HS256, signature must match
// (constant time), "sub" must be a non-empty string, "exp" (if present) must be > now and
// "nbf" (if present) <= now (leeway_s seconds of clock skew allowed). An empty secret rejects
// every token.
// Each of the three segments must be canonical base64url (see base64url_decode); header and
// payload are parsed with json_limits::parse_bounded.
inline constexpr size_t kMaxTokenBytes = 16384;
Claims verify_hs256(std::string_view token, std::string_view secret, int64_t now_unix, int64_t leeway_s = 0);

// The keys a reader's token may be signed with. HS256 with the shared secret (empty: refused);
// RS256 or ES256 (P-256) with the public key, given as a PEM "PUBLIC KEY" block or a JWKS
// document ({"keys":[...]}: RSA keys with n/e, EC P-256 keys with x/y; a token's "kid" picks
// the key, a token without kid tries each). Immutable once built; safe to share across threads.
class KeySet {
public:
    KeySet(std::string hs256_secret, const std::string &public_keys);
    ~KeySet();
    KeySet(const KeySet &) = delete;
    KeySet &operator=(const KeySet &) = delete;
    // Why the public keys could not be used ("" = fine or none given).
    const std::string &error() const { return error_; }
    size_t public_key_count() const { return keys_.size(); }

    struct Key;  // an OpenSSL public key with its algorithm and kid

private:
    friend struct Verifier;
    std::string secret_;
    std::vector<Key *> keys_;
    std::string error_;
};

struct Token {
    bool ok = false;
    std::string error;  // why it was rejected (for the 401 message; never the token itself)
    std::string payload;  // the claims object, as signed (JSON text)
    nlohmann::json claims;  // the same, parsed (a JSON object)
    int64_t exp = 0;  // 0 = none
};

// Verifies a compact JWS: alg HS256 (with the secret), RS256 or ES256 (with a public key),
// never "none"; the signature; the payload a JSON object; "exp" (if present) > now and "nbf"
// (if present) <= now, leeway_s seconds of skew allowed. Bounded like verify_hs256.
Token verify_token(std::string_view token, const KeySet &keys, int64_t now_unix, int64_t leeway_s = 0);

// Signs claims (a JSON object text) with HS256; kid, when given, goes into the header. Device
// tokens (reader.hpp) and tests.
std::string sign_hs256(std::string_view claims_json, std::string_view secret, std::string_view kid = {});

// The "kid" of a token's header, without verifying anything ("" if absent or malformed). Picks
// the key set a token is then verified with.
std::string token_kid(std::string_view token);

std::string base64url_encode(std::string_view data);
// Strict: returns false unless `in` is canonical unpadded base64url (no '=', '+', '/',
// whitespace; length not 1 mod 4; zero trailing bits in the last character).
bool base64url_decode(std::string_view in, std::string &out);

// Extracts the token from an "Authorization: Bearer <token>" header value ("" if absent).
std::string bearer_token(std::string_view header_value);

}  // namespace es::jwt
