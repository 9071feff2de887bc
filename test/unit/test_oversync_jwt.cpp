#include <catch2/catch.hpp>

#include "core/auth/jwt.hpp"

using namespace es::jwt;

// Another base64url character with the same top 4 bits (differs only in the 2 trailing bits).
static char jwt_alt_last_char(char c) {
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    int v = int(std::string(a).find(c));
    return a[(v & ~3) | ((v & 3) ^ 1)];
}

TEST_CASE("JWT HS256 round trip and rejections", "[jwt]") {
    const std::string secret = "s3cret";
    std::string tok = sign_hs256(R"({"sub":"user-1","exp":2000})", secret);
    auto c = verify_hs256(tok, secret, 1000);
    REQUIRE(c.ok);
    CHECK(c.subject == "user-1");
    CHECK(c.exp == 2000);

    CHECK_FALSE(verify_hs256(tok, "other", 1000).ok);
    CHECK(verify_hs256(tok, secret, 2000).error == "token is expired");
    CHECK(verify_hs256(tok, secret, 1999).ok);
    CHECK_FALSE(verify_hs256(tok, "", 1000).ok);
    CHECK_FALSE(verify_hs256("abc", secret, 1000).ok);
    CHECK_FALSE(verify_hs256("a.b.c.d", secret, 1000).ok);
    CHECK_FALSE(verify_hs256("", secret, 1000).ok);

    // Tampered payload keeps the old signature.
    auto d1 = tok.find('.'), d2 = tok.rfind('.');
    std::string forged = tok.substr(0, d1 + 1) + base64url_encode(R"({"sub":"admin","exp":2000})") + tok.substr(d2);
    CHECK(verify_hs256(forged, secret, 1000).error == "invalid token signature");

    // alg=none or another algorithm is refused even with a matching HMAC over the text.
    std::string none_hdr = base64url_encode(R"({"alg":"none"})") + "." + base64url_encode(R"({"sub":"u"})");
    CHECK_FALSE(verify_hs256(none_hdr + ".", secret, 1000).ok);

    CHECK_FALSE(verify_hs256(sign_hs256(R"({"exp":2000})", secret), secret, 1000).ok);
    CHECK_FALSE(verify_hs256(sign_hs256(R"({"sub":""})", secret), secret, 1000).ok);
    CHECK_FALSE(verify_hs256(sign_hs256(R"({"sub":7})", secret), secret, 1000).ok);
    CHECK_FALSE(verify_hs256(sign_hs256(R"({"sub":"u","nbf":5000})", secret), secret, 1000).ok);
    CHECK(verify_hs256(sign_hs256(R"({"sub":"u","exp":1500.5})", secret), secret, 1000).ok);
    CHECK_FALSE(verify_hs256(sign_hs256(R"({"sub":"u","exp":"soon"})", secret), secret, 1000).ok);
    CHECK(verify_hs256(sign_hs256(R"({"sub":"u"})", secret), secret, 1000).ok);
}

TEST_CASE("bearer token and base64url helpers", "[jwt]") {
    CHECK(bearer_token("Bearer abc.def") == "abc.def");
    CHECK(bearer_token("bearer   abc ") == "abc");
    CHECK(bearer_token("Basic abc").empty());
    CHECK(bearer_token("Bearer").empty());
    std::string out;
    CHECK(base64url_decode(base64url_encode("hello?>"), out));
    CHECK(out == "hello?>");
    CHECK_FALSE(base64url_decode("a", out));
    CHECK_FALSE(base64url_decode("ab+c", out));
}

TEST_CASE("base64url: only the canonical unpadded encoding is accepted", "[jwt]") {
    std::string out;
    CHECK(base64url_decode("", out));
    CHECK(base64url_decode("YQ", out));
    CHECK(out == "a");
    CHECK(base64url_decode("YWI", out));
    CHECK(out == "ab");
    CHECK(base64url_decode("-_8", out));  // url alphabet
    for (std::string bad : {"YQ==", "YQ=", "YWI=", "=", "YQ=x", "Y Q", "YQ\n", " YQ", "YQ ", "Yw+/", "+/8", "YR", "YWJ",
                            "YQB", "Y\x00", "YQ\t", "Y"}) {
        INFO(bad);
        CHECK_FALSE(base64url_decode(bad, out));
    }
}

TEST_CASE("JWT: a segment in non-canonical base64url is rejected", "[jwt]") {
    const std::string secret = "s3cret";
    std::string tok = sign_hs256(R"({"sub":"user-1"})", secret);
    REQUIRE(verify_hs256(tok, secret, 1000).ok);
    auto d1 = tok.find('.'), d2 = tok.rfind('.');
    std::string h = tok.substr(0, d1), p = tok.substr(d1 + 1, d2 - d1 - 1), s = tok.substr(d2 + 1);
    REQUIRE(s.size() == 43);  // 32 bytes: 43 characters, 2 trailing bits

    // Padding on the signature (the reported bypass of canonical form).
    CHECK(verify_hs256(h + "." + p + "." + s + "=", secret, 1000).error == "malformed token encoding");
    // Flipped trailing bits: the same 32 bytes, another spelling.
    std::string s2 = s;
    s2.back() = jwt_alt_last_char(s2.back());
    CHECK(verify_hs256(h + "." + p + "." + s2, secret, 1000).error == "malformed token encoding");
    // '+' '/' instead of '-' '_' and whitespace, in every segment.
    auto std_alpha = [](std::string x) {
        for (auto &c : x) c = c == '-' ? '+' : c == '_' ? '/' : c;
        return x;
    };
    std::string hs = std_alpha(h), ps = std_alpha(p), ss = std_alpha(s);
    if (hs != h) CHECK_FALSE(verify_hs256(hs + "." + p + "." + s, secret, 1000).ok);
    if (ss != s) CHECK_FALSE(verify_hs256(h + "." + p + "." + ss, secret, 1000).ok);
    CHECK_FALSE(verify_hs256(h + "=." + p + "." + s, secret, 1000).ok);
    CHECK_FALSE(verify_hs256(h + "." + p + "==." + s, secret, 1000).ok);
    CHECK_FALSE(verify_hs256(h + " ." + p + "." + s, secret, 1000).ok);
    CHECK_FALSE(verify_hs256(h + "." + p + "." + s.substr(0, 10) + " " + s.substr(10), secret, 1000).ok);
    CHECK_FALSE(verify_hs256(h + "." + p + "." + s.substr(0, 10) + "/" + s.substr(11), secret, 1000).ok);
}
