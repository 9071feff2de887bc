// The read path's tokens (jwt::KeySet, verify_token: HS256, RS256, ES256 with PEM or JWKS keys)
// and the read_auth decision (auth::authenticate_reader).
#include <catch2/catch.hpp>

#include "core/auth/reader.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>
#include <string>

using namespace es;

namespace {

struct Pkey {
    EVP_PKEY *k;
    ~Pkey() { EVP_PKEY_free(k); }
};

std::string public_pem(EVP_PKEY *k) {
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, k);
    char *p = nullptr;
    long n = BIO_get_mem_data(b, &p);
    std::string s(p, size_t(n));
    BIO_free(b);
    return s;
}

std::string bn_param(EVP_PKEY *k, const char *name, size_t pad = 0) {
    BIGNUM *bn = nullptr;
    EVP_PKEY_get_bn_param(k, name, &bn);
    std::string out(size_t(BN_num_bytes(bn)), '\0');
    BN_bn2bin(bn, reinterpret_cast<unsigned char *>(out.data()));
    BN_free(bn);
    if (pad > out.size()) out.insert(0, pad - out.size(), '\0');
    return out;
}

// A compact JWS signed with k (alg RS256 or ES256; ES256 signatures as R || S).
std::string sign(EVP_PKEY *k, const std::string &alg, const std::string &claims, const std::string &kid = "") {
    std::string header = "{\"alg\":\"" + alg + "\"" + (kid.empty() ? "" : ",\"kid\":\"" + kid + "\"") + "}";
    std::string signing = jwt::base64url_encode(header) + "." + jwt::base64url_encode(claims);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t len = 0;
    EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, k);
    EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char *>(signing.data()), signing.size());
    std::string sig(len, '\0');
    EVP_DigestSign(ctx, reinterpret_cast<unsigned char *>(sig.data()), &len,
                   reinterpret_cast<const unsigned char *>(signing.data()), signing.size());
    sig.resize(len);
    EVP_MD_CTX_free(ctx);
    if (alg == "ES256") {
        const unsigned char *p = reinterpret_cast<const unsigned char *>(sig.data());
        ECDSA_SIG *es = d2i_ECDSA_SIG(nullptr, &p, long(sig.size()));
        std::string raw(64, '\0');
        BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char *>(raw.data()), 32);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char *>(raw.data()) + 32, 32);
        ECDSA_SIG_free(es);
        sig = raw;
    }
    return signing + "." + jwt::base64url_encode(sig);
}

}  // namespace

TEST_CASE("reader tokens: HS256, RS256 (PEM) and ES256 (JWKS), exp and nbf, no alg none", "[jwt][reader]") {
    Pkey rsa{EVP_RSA_gen(2048)}, ec{EVP_EC_gen("P-256")}, other{EVP_RSA_gen(2048)};
    jwt::KeySet pem("hs", public_pem(rsa.k));
    REQUIRE(pem.error().empty());
    REQUIRE(pem.public_key_count() == 1);
    auto t = jwt::verify_token(sign(rsa.k, "RS256", R"({"sub":"a","role":"r","exp":2000})"), pem, 1000);
    REQUIRE(t.ok);
    CHECK(t.payload == R"({"sub":"a","role":"r","exp":2000})");
    CHECK(t.exp == 2000);
    CHECK(jwt::verify_token(sign(rsa.k, "RS256", R"({"exp":2000})"), pem, 2000).error == "token is expired");
    CHECK(jwt::verify_token(sign(rsa.k, "RS256", R"({"nbf":2000})"), pem, 1000).error == "token is not valid yet");
    CHECK(jwt::verify_token(sign(rsa.k, "RS256", R"({"nbf":2000})"), pem, 1990, 30).ok);
    CHECK(jwt::verify_token(sign(other.k, "RS256", "{}"), pem, 1000).error == "invalid token signature");
    CHECK(jwt::verify_token(jwt::sign_hs256("{}", "hs"), pem, 1000).ok);
    CHECK_FALSE(jwt::verify_token(jwt::sign_hs256("{}", "other"), pem, 1000).ok);
    // alg none, an unknown alg, an RS256 token claiming to be HS256 signed with the public key
    std::string none = jwt::base64url_encode(R"({"alg":"none"})") + "." + jwt::base64url_encode("{}") + ".";
    CHECK(jwt::verify_token(none, pem, 1000).error == "unsupported token algorithm");
    CHECK(jwt::verify_token(jwt::sign_hs256("{}", public_pem(rsa.k)), pem, 1000).error == "invalid token signature");
    CHECK_FALSE(jwt::verify_token(jwt::sign_hs256("{}", ""), jwt::KeySet("", ""), 1000).ok);
    CHECK(jwt::verify_token(sign(rsa.k, "RS256", "[1]"), pem, 1000).error == "malformed token claims");

    std::string x = bn_param(ec.k, OSSL_PKEY_PARAM_EC_PUB_X, 32), y = bn_param(ec.k, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
    std::string jwks = R"({"keys":[{"kty":"EC","crv":"P-256","kid":"k1","x":")" + jwt::base64url_encode(x) +
        R"(","y":")" + jwt::base64url_encode(y) + R"("},{"kty":"RSA","kid":"k2","n":")" +
        jwt::base64url_encode(bn_param(rsa.k, OSSL_PKEY_PARAM_RSA_N)) + R"(","e":")" +
        jwt::base64url_encode(bn_param(rsa.k, OSSL_PKEY_PARAM_RSA_E)) + R"("},{"kty":"oct","k":"eA"}]})";
    jwt::KeySet set("", jwks);
    REQUIRE(set.error().empty());
    CHECK(set.public_key_count() == 2);
    CHECK(jwt::verify_token(sign(ec.k, "ES256", R"({"sub":"e"})", "k1"), set, 1000).ok);
    CHECK(jwt::verify_token(sign(ec.k, "ES256", R"({"sub":"e"})"), set, 1000).ok);  // no kid: each key
    CHECK_FALSE(jwt::verify_token(sign(ec.k, "ES256", R"({"sub":"e"})", "k2"), set, 1000).ok);
    CHECK(jwt::verify_token(sign(rsa.k, "RS256", R"({"sub":"r"})", "k2"), set, 1000).ok);
    CHECK_FALSE(jwt::verify_token(jwt::sign_hs256("{}", ""), set, 1000).ok);  // no secret: HS256 refused

    CHECK_FALSE(jwt::KeySet("", "not a key").error().empty());
    CHECK_FALSE(jwt::KeySet("", R"({"keys":[]})").error().empty());
    CHECK_FALSE(jwt::KeySet("", R"({"nokeys":1})").error().empty());
}

TEST_CASE("read_auth: secret, none and jwt decisions", "[reader]") {
    auth::ReaderConfig cfg;
    const std::string good = "s3cret", bad = "nope";
    auth::ReaderRequest none_given;
    auth::ReaderRequest with_secret{&good, nullptr}, wrong_secret{&bad, nullptr};

    // secret mode without a secret: nothing is served
    auto r = auth::authenticate_reader(cfg, none_given, 1000);
    CHECK_FALSE(r.ok);
    CHECK(r.status == 401);
    CHECK(r.body.find("no read authentication is configured") != std::string::npos);
    CHECK_FALSE(auth::authenticate_reader(cfg, with_secret, 1000).ok);
    cfg.secret = good;
    CHECK(auth::authenticate_reader(cfg, with_secret, 1000).ok);
    CHECK_FALSE(auth::authenticate_reader(cfg, wrong_secret, 1000).ok);
    CHECK(auth::authenticate_reader(cfg, none_given, 1000).body == R"({"message":"Unauthorized - Invalid API secret"})");

    cfg.mode = auth::ReadAuth::None;
    cfg.secret.clear();
    r = auth::authenticate_reader(cfg, none_given, 1000);
    CHECK(r.ok);
    CHECK_FALSE(r.restricted);
    CHECK(r.key().empty());

    cfg.mode = auth::ReadAuth::Jwt;
    cfg.secret = good;
    cfg.keys = std::make_shared<const jwt::KeySet>("hs", "");
    CHECK(auth::authenticate_reader(cfg, with_secret, 1000).ok);  // the administrator
    CHECK_FALSE(auth::authenticate_reader(cfg, with_secret, 1000).restricted);
    r = auth::authenticate_reader(cfg, none_given, 1000);
    CHECK_FALSE(r.ok);
    CHECK(r.body.find("bearer token is required") != std::string::npos);

    std::string h1 = "Bearer " + jwt::sign_hs256(R"({"sub":"alice","role":"app","exp":2000,"iat":900,"jti":"x"})", "hs");
    std::string h2 = "bearer " + jwt::sign_hs256(R"({"role":"app","exp":3000,"sub":"alice"})", "hs");
    std::string h3 = "Bearer " + jwt::sign_hs256(R"({"sub":"bob","role":"app"})", "hs");
    auto a = auth::authenticate_reader(cfg, {nullptr, &h1}, 1000);
    REQUIRE(a.ok);
    CHECK(a.restricted);
    CHECK(a.role == "app");
    CHECK(a.claims == R"({"role":"app","sub":"alice"})");
    auto a2 = auth::authenticate_reader(cfg, {nullptr, &h2}, 1000);
    CHECK(a2.key() == a.key());  // per-token claims do not split readers
    CHECK(auth::authenticate_reader(cfg, {nullptr, &h3}, 1000).key() != a.key());
    CHECK(auth::authenticate_reader(cfg, {nullptr, &h1}, 2000).body.find("expired") != std::string::npos);

    std::string no_role = "Bearer " + jwt::sign_hs256(R"({"sub":"alice"})", "hs");
    CHECK_FALSE(auth::authenticate_reader(cfg, {nullptr, &no_role}, 1000).ok);
    std::string num_role = "Bearer " + jwt::sign_hs256(R"({"role":5})", "hs");
    CHECK_FALSE(auth::authenticate_reader(cfg, {nullptr, &num_role}, 1000).ok);
    std::string basic = "Basic abc";
    CHECK_FALSE(auth::authenticate_reader(cfg, {nullptr, &basic}, 1000).ok);
    cfg.anon_role = "anon";
    auto n = auth::authenticate_reader(cfg, none_given, 1000);
    CHECK(n.ok);
    CHECK(n.role == "anon");
    CHECK(n.claims == R"({"role":"anon"})");
    CHECK(auth::authenticate_reader(cfg, {nullptr, &no_role}, 1000).role == "anon");
    CHECK_FALSE(auth::authenticate_reader(cfg, {nullptr, &basic}, 1000).ok);  // a bad header is not anonymous
}

TEST_CASE("device tokens: issued with the device key, refused once the device is revoked") {
    auth::ReaderConfig cfg;
    cfg.mode = auth::ReadAuth::Jwt;
    cfg.keys = std::make_shared<const jwt::KeySet>("hs", "");
    auto devices = std::make_shared<const auth::DeviceState>("device-key", std::unordered_set<std::string>{});
    cfg.devices = devices;
    std::string tok = auth::issue_device_token(*devices, "d-1", "app", nlohmann::json{{"sub", "alice"}}, 1000, 3600);
    CHECK(jwt::token_kid(tok) == auth::kDeviceKid);
    std::string h = "Bearer " + tok;
    auto r = auth::authenticate_reader(cfg, {nullptr, &h}, 1000);
    REQUIRE(r.ok);
    CHECK(r.restricted);
    CHECK(r.role == "app");
    CHECK(r.device == "d-1");
    CHECK(r.subject == "alice");
    CHECK(r.claims == R"({"es_device":"d-1","iss":"electric_sync","role":"app","sub":"alice"})");
    // A refreshed token (new iat / exp) is the same reader: its shapes are shared.
    std::string h2 = "Bearer " + auth::issue_device_token(*devices, "d-1", "app", {{"sub", "alice"}}, 2000, 3600);
    CHECK(auth::authenticate_reader(cfg, {nullptr, &h2}, 2000).key() == r.key());
    // Expired.
    CHECK(auth::authenticate_reader(cfg, {nullptr, &h}, 1000 + 3600 + 31).body.find("expired") != std::string::npos);
    // Revoked.
    auth::ReaderConfig rv = cfg;
    rv.devices = std::make_shared<const auth::DeviceState>("device-key", std::unordered_set<std::string>{"d-1"});
    auto x = auth::authenticate_reader(rv, {nullptr, &h}, 1000);
    CHECK_FALSE(x.ok);
    CHECK(x.body.find("revoked") != std::string::npos);
    // No device state loaded yet, or another key: refused.
    auth::ReaderConfig none = cfg;
    none.devices = nullptr;
    CHECK(auth::authenticate_reader(none, {nullptr, &h}, 1000).body.find("not available") != std::string::npos);
    auth::ReaderConfig other = cfg;
    other.devices = std::make_shared<const auth::DeviceState>("another-key", std::unordered_set<std::string>{});
    CHECK(auth::authenticate_reader(other, {nullptr, &h}, 1000).body.find("signature") != std::string::npos);
    // The jwt_secret cannot mint device tokens: the device kid selects the device key only ...
    std::string forged = "Bearer " + jwt::sign_hs256(R"({"role":"app","es_device":"d-2"})", "hs", auth::kDeviceKid);
    CHECK_FALSE(auth::authenticate_reader(cfg, {nullptr, &forged}, 1000).ok);
    // ... and other tokens may not carry the device claim.
    std::string claimed = "Bearer " + jwt::sign_hs256(R"({"role":"app","es_device":"d-1"})", "hs");
    CHECK(auth::authenticate_reader(cfg, {nullptr, &claimed}, 1000).body.find("reserved") != std::string::npos);
    // A device token without its device is refused.
    std::string nodev = "Bearer " + jwt::sign_hs256(R"({"role":"app"})", "device-key", auth::kDeviceKid);
    CHECK_FALSE(auth::authenticate_reader(cfg, {nullptr, &nodev}, 1000).ok);
    // An empty device key refuses everything.
    auth::DeviceState empty("", {});
    std::string e = "Bearer " + jwt::sign_hs256(R"({"role":"app","es_device":"d"})", "", auth::kDeviceKid);
    auth::ReaderConfig ec = cfg;
    ec.devices = std::make_shared<const auth::DeviceState>("", std::unordered_set<std::string>{});
    CHECK_FALSE(auth::authenticate_reader(ec, {nullptr, &e}, 1000).ok);
}

TEST_CASE("token_kid reads the header only and never throws") {
    CHECK(jwt::token_kid(jwt::sign_hs256("{}", "k", "abc")) == "abc");
    CHECK(jwt::token_kid(jwt::sign_hs256("{}", "k")) == "");
    CHECK(jwt::token_kid("") == "");
    CHECK(jwt::token_kid("....") == "");
    CHECK(jwt::token_kid(jwt::base64url_encode("[[[[[[[[") + ".e30.x") == "");
    CHECK(jwt::token_kid(jwt::base64url_encode(R"({"kid":5})") + ".e30.x") == "");
    CHECK(jwt::token_kid(std::string(20000, 'a') + ".e30.x") == "");
}

TEST_CASE("cache_identity: equal for equal readers, never the claims themselves", "[reader]") {
    auth::ReaderConfig cfg;
    cfg.mode = auth::ReadAuth::Jwt;
    cfg.secret = "admin";
    cfg.keys = std::make_shared<const jwt::KeySet>("hs", "");
    std::string h1 = "Bearer " + jwt::sign_hs256(R"({"sub":"alice","role":"app","exp":2000,"jti":"1"})", "hs");
    std::string h2 = "Bearer " + jwt::sign_hs256(R"({"role":"app","sub":"alice","iat":5})", "hs");
    std::string h3 = "Bearer " + jwt::sign_hs256(R"({"sub":"alice","role":"other"})", "hs");
    std::string h4 = "Bearer " + jwt::sign_hs256(R"({"sub":"alice","role":"app","team":"x"})", "hs");
    auto id = [&](const std::string &h) { return auth::authenticate_reader(cfg, {nullptr, &h}, 1000).cache_identity(); };
    std::string a = id(h1);
    CHECK(a.rfind("reader-", 0) == 0);
    CHECK(a.size() == 7 + 64);
    CHECK(a.find("alice") == std::string::npos);
    CHECK(id(h2) == a);  // another token of the same reader
    CHECK(id(h3) != a);  // another role
    CHECK(id(h4) != a);  // another claim
    const std::string admin = "admin";
    CHECK(auth::authenticate_reader(cfg, {&admin, &h1}, 1000).cache_identity() == "unrestricted");
}
