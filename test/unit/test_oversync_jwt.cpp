#include <catch2/catch.hpp>

#include "core/jwt.hpp"

using namespace es::jwt;

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
    std::string forged = tok.substr(0, d1 + 1) + base64url_encode(R"({"sub":"admin","exp":2000})") +
                         tok.substr(d2);
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
