#include "core/auth/jwt.hpp"
#include "core/common/json_limits.hpp"
#include "core/oversync/canonical.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <memory>

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

// The three segments of a compact JWS, decoded (signing: the first two, as signed).
struct Parts {
    std::string header, payload, sig;
    std::string_view signing;
};

// nullptr when the token splits into three canonical base64url segments; else why not.
const char *split_token(std::string_view token, Parts &p) {
    if (token.size() > kMaxTokenBytes) return "token too large";
    size_t d1 = token.find('.');
    if (d1 == std::string_view::npos) return "malformed token";
    size_t d2 = token.find('.', d1 + 1);
    if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos) return "malformed token";
    if (!base64url_decode(token.substr(0, d1), p.header) ||
        !base64url_decode(token.substr(d1 + 1, d2 - d1 - 1), p.payload) || !base64url_decode(token.substr(d2 + 1), p.sig))
        return "malformed token encoding";
    p.signing = token.substr(0, d2);
    return nullptr;
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

std::string sign_hs256(std::string_view claims_json, std::string_view secret, std::string_view kid) {
    nlohmann::json h = {{"alg", "HS256"}, {"typ", "JWT"}};
    if (!kid.empty()) h["kid"] = std::string(kid);
    std::string signing = base64url_encode(h.dump()) + "." + base64url_encode(claims_json);
    return signing + "." + base64url_encode(es::oversync::hmac_sha256(secret, signing));
}

std::string token_kid(std::string_view token) {
    size_t d1 = token.find('.');
    std::string header;
    if (token.size() > kMaxTokenBytes || d1 == std::string_view::npos ||
        !base64url_decode(token.substr(0, d1), header))
        return "";
    try {
        auto hr = json_limits::parse_bounded(header, json_limits::Limits{json_limits::kMaxDepth, kMaxTokenBytes});
        if (!hr.ok() || !hr.value.is_object()) return "";
        auto k = hr.value.find("kid");
        return k != hr.value.end() && k->is_string() ? k->get<std::string>() : "";
    } catch (const std::exception &) {
        return "";
    }
}

Claims verify_hs256(std::string_view token, std::string_view secret, int64_t now, int64_t leeway) {
    if (secret.empty()) return reject("no JWT secret configured");
    Parts parts;
    if (const char *why = split_token(token, parts)) return reject(why);
    const std::string &header = parts.header, &payload = parts.payload, &sig = parts.sig;
    // Signature first (constant time), before trusting anything in the token.
    std::string expect = es::oversync::hmac_sha256(secret, parts.signing);
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

// ---- read-path tokens: HS256, RS256, ES256 -------------------------------------------------

struct KeySet::Key {
    EVP_PKEY *pkey = nullptr;
    std::string alg;  // "RS256" or "ES256"
    std::string kid;  // "" = none
    ~Key() { EVP_PKEY_free(pkey); }
};

namespace {

using Bn = std::unique_ptr<BIGNUM, decltype(&BN_free)>;

std::string alg_of(EVP_PKEY *k) {
    if (EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA) return EVP_PKEY_get_bits(k) >= 2048 ? "RS256" : "";
    if (EVP_PKEY_get_base_id(k) == EVP_PKEY_EC) {
        char group[64] = {0};
        size_t len = 0;
        if (EVP_PKEY_get_group_name(k, group, sizeof group, &len) != 1) return "";
        return std::string(group) == "prime256v1" ? "ES256" : "";
    }
    return "";
}

EVP_PKEY *pkey_from_params(const char *type, OSSL_PARAM_BLD *bld) {
    EVP_PKEY *pkey = nullptr;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
    if (params && ctx && EVP_PKEY_fromdata_init(ctx) == 1) EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}

// One JWKS entry as an OpenSSL key (nullptr when it is not an RSA or P-256 signing key).
EVP_PKEY *jwk_key(const nlohmann::json &k) {
    auto field = [&](const char *n, std::string &out) {
        auto it = k.find(n);
        return it != k.end() && it->is_string() && base64url_decode(it->get<std::string>(), out) && !out.empty();
    };
    std::string kty = k.value("kty", "");
    std::unique_ptr<OSSL_PARAM_BLD, decltype(&OSSL_PARAM_BLD_free)> bld(OSSL_PARAM_BLD_new(), OSSL_PARAM_BLD_free);
    if (!bld) return nullptr;
    if (kty == "RSA") {
        std::string n, e;
        if (!field("n", n) || !field("e", e)) return nullptr;
        Bn bn(BN_bin2bn(reinterpret_cast<const unsigned char *>(n.data()), int(n.size()), nullptr), BN_free);
        Bn be(BN_bin2bn(reinterpret_cast<const unsigned char *>(e.data()), int(e.size()), nullptr), BN_free);
        if (!bn || !be || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn.get()) != 1 ||
            OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, be.get()) != 1)
            return nullptr;
        return pkey_from_params("RSA", bld.get());
    }
    if (kty == "EC" && k.value("crv", "") == "P-256") {
        std::string x, y;
        if (!field("x", x) || !field("y", y) || x.size() != 32 || y.size() != 32) return nullptr;
        std::string point = std::string(1, '\x04') + x + y;
        if (OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
            OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1)
            return nullptr;
        return pkey_from_params("EC", bld.get());
    }
    return nullptr;
}

// JWS ES256 signatures are R || S (32 bytes each); OpenSSL verifies DER.
bool es256_der(const std::string &raw, std::string &der) {
    if (raw.size() != 64) return false;
    ECDSA_SIG *sig = ECDSA_SIG_new();
    if (!sig) return false;
    BIGNUM *r = BN_bin2bn(reinterpret_cast<const unsigned char *>(raw.data()), 32, nullptr);
    BIGNUM *s = BN_bin2bn(reinterpret_cast<const unsigned char *>(raw.data()) + 32, 32, nullptr);
    if (!r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(sig);
        return false;
    }
    unsigned char *out = nullptr;
    int len = i2d_ECDSA_SIG(sig, &out);
    ECDSA_SIG_free(sig);
    if (len <= 0) return false;
    der.assign(reinterpret_cast<char *>(out), size_t(len));
    OPENSSL_free(out);
    return true;
}

bool verify_with(EVP_PKEY *pkey, const std::string &alg, std::string_view signing, const std::string &sig) {
    std::string der;
    const std::string *s = &sig;
    if (alg == "ES256") {
        if (!es256_der(sig, der)) return false;
        s = &der;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx) return false;
    bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, pkey) == 1 &&
        EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char *>(s->data()), s->size(),
                         reinterpret_cast<const unsigned char *>(signing.data()), signing.size()) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

Token token_reject(const char *why) {
    Token t;
    t.error = why;
    return t;
}

}  // namespace

KeySet::KeySet(std::string hs256_secret, const std::string &public_keys) : secret_(std::move(hs256_secret)) {
    size_t first = public_keys.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) return;
    if (public_keys[first] == '{') {
        auto r = json_limits::parse_bounded(public_keys);
        const nlohmann::json *ks = r.ok() && r.value.is_object() ? &r.value : nullptr;
        auto it = ks ? ks->find("keys") : nlohmann::json::const_iterator{};
        if (!ks || it == ks->end() || !it->is_array()) {
            error_ = "the JWKS document has no \"keys\" array";
            return;
        }
        for (const auto &k : *it) {
            if (!k.is_object() || k.value("use", "sig") != "sig") continue;
            EVP_PKEY *p = jwk_key(k);
            std::string alg = p ? alg_of(p) : "";
            if (alg.empty() || (k.contains("alg") && k.value("alg", "") != alg)) {
                EVP_PKEY_free(p);
                continue;
            }
            keys_.push_back(new Key{p, alg, k.value("kid", "")});
        }
        if (keys_.empty()) error_ = "the JWKS document has no usable RS256 or ES256 (P-256) key";
        return;
    }
    BIO *bio = BIO_new_mem_buf(public_keys.data(), int(public_keys.size()));
    EVP_PKEY *p = bio ? PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr) : nullptr;
    BIO_free(bio);
    std::string alg = p ? alg_of(p) : "";
    if (alg.empty()) {
        EVP_PKEY_free(p);
        error_ = "not a PEM public key of RSA (2048 bits or more) or EC P-256";
        return;
    }
    keys_.push_back(new Key{p, alg, ""});
}

KeySet::~KeySet() {
    for (Key *k : keys_) delete k;
}

struct Verifier {
    static bool check(const KeySet &ks, const std::string &alg, const std::string &kid, std::string_view signing,
                      const std::string &sig) {
        if (alg == "HS256") {
            if (ks.secret_.empty()) return false;
            std::string expect = es::oversync::hmac_sha256(ks.secret_, signing);
            return sig.size() == expect.size() && CRYPTO_memcmp(sig.data(), expect.data(), expect.size()) == 0;
        }
        for (const KeySet::Key *k : ks.keys_) {
            if (k->alg != alg || (!kid.empty() && !k->kid.empty() && k->kid != kid)) continue;
            if (verify_with(k->pkey, alg, signing, sig)) return true;
        }
        return false;
    }
};

Token verify_token(std::string_view token, const KeySet &keys, int64_t now, int64_t leeway) {
    Parts parts;
    if (const char *why = split_token(token, parts)) return token_reject(why);
    const std::string &header = parts.header, &sig = parts.sig;
    try {
        const json_limits::Limits lim{json_limits::kMaxDepth, kMaxTokenBytes};
        auto hr = json_limits::parse_bounded(header, lim);
        if (!hr.ok() || !hr.value.is_object()) return token_reject("malformed token header");
        const nlohmann::json &h = hr.value;
        auto a = h.find("alg");
        if (a == h.end() || !a->is_string()) return token_reject("unsupported token algorithm");
        std::string alg = a->get<std::string>();
        if (alg != "HS256" && alg != "RS256" && alg != "ES256") return token_reject("unsupported token algorithm");
        auto k = h.find("kid");
        std::string kid = k != h.end() && k->is_string() ? k->get<std::string>() : "";
        if (!Verifier::check(keys, alg, kid, parts.signing, sig)) return token_reject("invalid token signature");
        auto pr = json_limits::parse_bounded(parts.payload, lim);
        if (!pr.ok() || !pr.value.is_object()) return token_reject("malformed token claims");
        const nlohmann::json &p = pr.value;
        Token t;
        int64_t exp = 0, nbf = 0;
        if (numeric_claim(p, "exp", exp)) {
            if (now >= exp + leeway) return token_reject("token is expired");
            t.exp = exp;
        }
        if (numeric_claim(p, "nbf", nbf) && now + leeway < nbf) return token_reject("token is not valid yet");
        t.claims = std::move(pr.value);
        t.payload = std::move(parts.payload);
        t.ok = true;
        return t;
    } catch (const std::exception &) {
        return token_reject("malformed token claims");
    }
}

}  // namespace es::jwt
