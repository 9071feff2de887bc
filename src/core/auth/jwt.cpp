#include "core/auth/jwt.hpp"
#include "core/common/json_limits.hpp"
#include "core/oversync/canonical.hpp"

#include <openssl/crypto.h>
#include <nlohmann/json.hpp>

#include <cmath>

namespace es::jwt {

namespace {
const char kB64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int b64val(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

Claims reject(const char *why) {
    Claims c;
    c.error = why;
    return c;
}

// A JSON number claim as int64 (Go's jwt libraries accept float seconds).
bool numeric_claim(const nlohmann::json &j, const char *name, int64_t &out) {
    auto it = j.find(name);
    if (it == j.end() || it->is_null()) return false;
    if (it->is_number_unsigned()) {
        uint64_t u = it->get<uint64_t>();
        out = u > uint64_t(INT64_MAX) ? INT64_MAX - 1000000 : int64_t(u);
        return true;
    }
    if (it->is_number_integer()) {
        out = it->get<int64_t>();
        return true;
    }
    if (it->is_number_float()) {
        double d = std::floor(it->get<double>());
        out = d > 9e18 ? INT64_MAX - 1000000 : d < -9e18 ? INT64_MIN + 1000000 : static_cast<int64_t>(d);
        return true;
    }
    throw std::runtime_error("bad numeric claim");
}
}  // namespace

std::string base64url_encode(std::string_view data) {
    std::string out;
    size_t i = 0;
    for (; i + 2 < data.size(); i += 3) {
        uint32_t n = (uint8_t(data[i]) << 16) | (uint8_t(data[i + 1]) << 8) | uint8_t(data[i + 2]);
        out += kB64Url[(n >> 18) & 63];
        out += kB64Url[(n >> 12) & 63];
        out += kB64Url[(n >> 6) & 63];
        out += kB64Url[n & 63];
    }
    if (data.size() - i == 1) {
        uint32_t n = uint8_t(data[i]) << 16;
        out += kB64Url[(n >> 18) & 63];
        out += kB64Url[(n >> 12) & 63];
    } else if (data.size() - i == 2) {
        uint32_t n = (uint8_t(data[i]) << 16) | (uint8_t(data[i + 1]) << 8);
        out += kB64Url[(n >> 18) & 63];
        out += kB64Url[(n >> 12) & 63];
        out += kB64Url[(n >> 6) & 63];
    }
    return out;
}

bool base64url_decode(std::string_view in, std::string &out) {
    // Canonical unpadded base64url only (RFC 7515 §2): the alphabet A-Z a-z 0-9 - _, no '=',
    // no whitespace, a length that is not 1 mod 4, and zero bits left over in the last
    // character, so each byte string has exactly one accepted encoding.
    if (in.size() % 4 == 1) return false;
    out.clear();
    out.reserve(in.size() / 4 * 3 + 2);
    uint32_t acc = 0;
    int bits = 0;
    for (char c : in) {
        int v = b64val(c);
        if (v < 0) return false;
        acc = ((acc << 6) | uint32_t(v)) & 0xFFFFFF;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += char((acc >> bits) & 0xFF);
        }
    }
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return false;  // non-zero trailing bits
    return true;
}

std::string bearer_token(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    if (v.size() < 7) return {};
    std::string scheme(v.substr(0, 6));
    for (auto &c : scheme) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (scheme != "bearer" || (v[6] != ' ' && v[6] != '\t')) return {};
    v.remove_prefix(7);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return std::string(v);
}

std::string sign_hs256(std::string_view claims_json, std::string_view secret) {
    std::string signing = base64url_encode(R"({"alg":"HS256","typ":"JWT"})") + "." + base64url_encode(claims_json);
    return signing + "." + base64url_encode(es::oversync::hmac_sha256(secret, signing));
}

Claims verify_hs256(std::string_view token, std::string_view secret, int64_t now, int64_t leeway) {
    if (secret.empty()) return reject("no JWT secret configured");
    if (token.size() > kMaxTokenBytes) return reject("token too large");
    size_t d1 = token.find('.');
    if (d1 == std::string_view::npos) return reject("malformed token");
    size_t d2 = token.find('.', d1 + 1);
    if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos)
        return reject("malformed token");
    std::string header, payload, sig;
    if (!base64url_decode(token.substr(0, d1), header) ||
        !base64url_decode(token.substr(d1 + 1, d2 - d1 - 1), payload) || !base64url_decode(token.substr(d2 + 1), sig))
        return reject("malformed token encoding");
    // Signature first (constant time), before trusting anything in the token.
    std::string expect = es::oversync::hmac_sha256(secret, token.substr(0, d2));
    if (sig.size() != expect.size() || CRYPTO_memcmp(sig.data(), expect.data(), expect.size()) != 0)
        return reject("invalid token signature");
    try {
        // Bounded parse (64 levels; the token is at most 16 KiB): no deep value is ever built.
        const json_limits::Limits lim{json_limits::kMaxDepth, kMaxTokenBytes};
        auto hr = json_limits::parse_bounded(header, lim);
        if (!hr.ok()) return reject("malformed token claims");
        const nlohmann::json &h = hr.value;
        if (!h.is_object() || !h.contains("alg") || !h["alg"].is_string() || h["alg"] != "HS256")
            return reject("unsupported token algorithm");
        auto pr = json_limits::parse_bounded(payload, lim);
        if (!pr.ok()) return reject("malformed token claims");
        const nlohmann::json &p = pr.value;
        if (!p.is_object()) return reject("malformed token claims");
        Claims c;
        int64_t exp = 0, nbf = 0;
        if (numeric_claim(p, "exp", exp)) {
            if (now >= exp + leeway) return reject("token is expired");
            c.exp = exp;
        }
        if (numeric_claim(p, "nbf", nbf) && now + leeway < nbf) return reject("token is not valid yet");
        auto sub = p.find("sub");
        if (sub == p.end() || !sub->is_string() || sub->get<std::string>().empty())
            return reject("token has no subject");
        c.subject = sub->get<std::string>();
        c.ok = true;
        return c;
    } catch (const std::exception &) {
        return reject("malformed token claims");
    }
}

}  // namespace es::jwt
