// Go-compatible canonical JSON (oversync bundle_hash). Pure C++, no Postgres.
//
// Reproduces what go-oversync does: decode with Go's encoding/json into generic values (every
// number becomes a float64, invalid UTF-8 becomes U+FFFD, duplicate keys: last wins), then
// re-encode with json.Marshal: object keys sorted bytewise, no whitespace, HTML-safe string
// escaping (<, >, & as \u003c \u003e \u0026; U+2028/U+2029 escaped; \b \f \n \r \t; other
// control characters as \u00xx) and float64 formatting (shortest round-trip; exponent form only
// when |x| < 1e-6 or |x| >= 1e21, written 1e+21 / 1e-7).
#pragma once
#include <stdexcept>
#include <string>
#include <string_view>

namespace es::oversync {

struct JsonSyntaxError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Canonical form of a JSON text. Throws JsonSyntaxError if the input is not valid JSON.
// A number outside float64 range (Go fails to decode it) is kept as written.
std::string canonical_json(std::string_view json);

// Go's encoding of one float64 (strconv 'f'/'e' shortest, as encoding/json writes it).
std::string go_format_float(double v);

// Appends Go's json.Marshal encoding of a string (with quotes, HTML escaping) to out. Invalid
// UTF-8 bytes are written as \ufffd, like Go's encoder.
void go_quote(std::string &out, std::string_view s);

// Lowercase hex SHA-256 of data.
std::string sha256_hex(std::string_view data);

// Lowercase hex HMAC-SHA256 / raw HMAC-SHA256.
std::string hmac_sha256(std::string_view key, std::string_view data);

}  // namespace es::oversync
