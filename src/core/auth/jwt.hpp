// JWT HS256 verification (write path auth). Pure C++ (OpenSSL HMAC, constant-time compare).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

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

// Signs claims (a JSON object text) with HS256. For tests and tools.
std::string sign_hs256(std::string_view claims_json, std::string_view secret);

std::string base64url_encode(std::string_view data);
// Strict: returns false unless `in` is canonical unpadded base64url (no '=', '+', '/',
// whitespace; length not 1 mod 4; zero trailing bits in the last character).
bool base64url_decode(std::string_view in, std::string &out);

// Extracts the token from an "Authorization: Bearer <token>" header value ("" if absent).
std::string bearer_token(std::string_view header_value);

}  // namespace es::jwt
