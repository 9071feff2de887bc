// Bounded JSON parsing (core/json_limits) and its use at every call site that parses request
// input: deep nesting is refused before a deep value exists, sizes are capped.
#include <catch2/catch.hpp>

#include "core/electric/electric.hpp"
#include "core/common/json_limits.hpp"
#include "core/auth/jwt.hpp"
#include "core/oversync/canonical.hpp"
#include "core/oversync/request.hpp"

#include <functional>

using namespace es;
using json_limits::Status;

namespace {

std::string nested_arrays(size_t n, std::string_view inner = "1") {
    std::string s(n, '[');
    s += inner;
    s.append(n, ']');
    return s;
}

std::string nested_objects(size_t n) {
    std::string s;
    for (size_t i = 0; i < n; ++i) s += "{\"a\":";
    s += "1";
    s.append(n, '}');
    return s;
}

std::string api_code(const std::function<void()> &f) {
    try {
        f();
    } catch (const oversync::ApiError &e) {
        return std::to_string(e.status) + " " + e.code;
    }
    return "ok";
}

}  // namespace

TEST_CASE("json_limits: parse_bounded accepts up to the depth limit", "[json_limits]") {
    auto r =
        json_limits::parse_bounded(R"({"a":[1,2,{"b":null}],"c":"x","a2":true,"n":-1.5e3,"u":18446744073709551615})");
    REQUIRE(r.ok());
    CHECK(r.value["a"][2].contains("b"));
    CHECK(r.value["u"].is_number_unsigned());
    CHECK(json_limits::parse_bounded(R"({"k":1,"k":2})").value["k"] == 2);  // last wins, as nlohmann
    CHECK(json_limits::parse_bounded("7").value == 7);
    CHECK(json_limits::parse_bounded("[]").value.is_array());

    auto at = json_limits::parse_bounded(nested_arrays(json_limits::kMaxDepth));
    REQUIRE(at.ok());
    CHECK(json_limits::depth_of(at.value) == json_limits::kMaxDepth);
    CHECK(json_limits::parse_bounded(nested_arrays(json_limits::kMaxDepth + 1)).status == Status::TooDeep);
    CHECK(json_limits::parse_bounded(nested_objects(json_limits::kMaxDepth)).ok());
    CHECK(json_limits::parse_bounded(nested_objects(json_limits::kMaxDepth + 1)).status == Status::TooDeep);
    // Deep but not closed: refused as too deep before the syntax error at the end.
    CHECK(json_limits::parse_bounded(std::string(100000, '[')).status == Status::TooDeep);
    CHECK(json_limits::parse_bounded(nested_arrays(100000)).status == Status::TooDeep);
    CHECK(json_limits::parse_bounded(nested_objects(100000)).status == Status::TooDeep);
}

TEST_CASE("json_limits: syntax errors, trailing data, size", "[json_limits]") {
    for (std::string bad : {"", "{", "[1,]", "{\"a\":1} x", "[1] [2]", "nul", "/*c*/1", "\"\xff\"", "01", "1e999"}) {
        INFO(bad);
        auto r = json_limits::parse_bounded(bad);
        CHECK(r.status == Status::Syntax);
        CHECK_FALSE(r.message.empty());
        CHECK(r.value.is_null());
    }
    CHECK(json_limits::parse_bounded("[1,2]", {64, 4}).status == Status::TooLarge);
    CHECK(json_limits::parse_bounded("[1]", {64, 3}).ok());
    CHECK(json_limits::parse_bounded("[[1]]", {1, 100}).status == Status::TooDeep);
}

TEST_CASE("POST subset body nested 100,000 levels is a 400, not a crash", "[json_limits][subset]") {
    electric::QueryParams q;
    std::string err;
    int status = 0;
    CHECK_FALSE(electric::merge_subset_body("{\"where\":" + nested_arrays(100000) + "}", q, err, status));
    CHECK(status == 400);
    CHECK(err.find("\"error\":\"Invalid JSON in request body\"") != std::string::npos);
    CHECK(err.find("nesting") != std::string::npos);
    CHECK(q.empty());
    // The three-argument form too.
    CHECK_FALSE(electric::merge_subset_body("{\"params\":" + nested_objects(100000) + "}", q, err));
    // At the limit it is accepted and re-serialized (a bounded dump).
    CHECK(electric::merge_subset_body("{\"where\":" + nested_arrays(60) + "}", q, err, status));
    REQUIRE(q.size() == 1);
    CHECK(q[0].second == nested_arrays(60));
}

TEST_CASE("POST subset body over the size limit is a 413", "[json_limits][subset]") {
    electric::QueryParams q;
    std::string err;
    int status = 0;
    std::string body = "{\"where\":\"" + std::string(electric::kMaxSubsetBodyBytes, 'x') + "\"}";
    CHECK_FALSE(electric::merge_subset_body(body, q, err, status));
    CHECK(status == 413);
    CHECK(err.find("\"error\":\"Request body too large\"") != std::string::npos);
}

TEST_CASE("params JSON form nested deeply is a validation error", "[json_limits][subset]") {
    std::map<int, std::string> out;
    auto e = electric::parse_params_json("{\"1\":" + nested_arrays(100000) + "}", out);
    REQUIRE(e);
    CHECK(e->find("nested") != std::string::npos);
    // Via the query string: a 400 under subset.params.
    electric::QueryParams q = {
        {"table", "t"}, {"offset", "-1"}, {"subset__params", "{\"1\":" + nested_arrays(100000) + "}"}};
    electric::ShapeRequest r;
    auto errs = electric::parse_shape_request(q, r);
    CHECK(errs.subset.count("params"));
    CHECK_FALSE(electric::parse_params_json(R"({"1":[[1]],"2":"b"})", out));
    CHECK(out[1] == "[[1]]");
}

TEST_CASE("JWT with a deeply nested header or payload is rejected", "[json_limits][jwt]") {
    const std::string secret = "s3cret";
    auto deep = jwt::sign_hs256("{\"sub\":\"u\",\"x\":" + nested_arrays(3000) + "}", secret);
    auto c = jwt::verify_hs256(deep, secret, 1000);
    CHECK_FALSE(c.ok);
    CHECK(c.error == "malformed token claims");
    CHECK(
        jwt::verify_hs256(jwt::sign_hs256("{\"sub\":\"u\",\"x\":" + nested_arrays(60) + "}", secret), secret, 1000).ok);
    // Header too deep (signed correctly over the text).
    std::string signing = jwt::base64url_encode("{\"alg\":\"HS256\",\"x\":" + nested_arrays(3000) + "}") + "." +
        jwt::base64url_encode(R"({"sub":"u"})");
    std::string tok = signing + "." + jwt::base64url_encode(oversync::hmac_sha256(secret, signing));
    CHECK_FALSE(jwt::verify_hs256(tok, secret, 1000).ok);
}

TEST_CASE("oversync bodies nested 100,000 levels are 400s, not crashes", "[json_limits][oversync]") {
    std::string deep_payload =
        R"({"start_row_ordinal":0,"rows":[{"table":"t","op":"INSERT","key":{"id":"k"},"payload":{"c":)" +
        nested_arrays(100000) + "}}]}";
    CHECK(api_code([&] { oversync::parse_push_chunk(deep_payload, 10); }) == "400 invalid_request");
    std::string deep_key = R"({"rows":[{"table":"t","op":"DELETE","key":{"id":)" + nested_objects(100000) + "}}]}";
    CHECK(api_code([&] { oversync::parse_push_chunk(deep_key, 10); }) == "400 invalid_request");
    CHECK(api_code([&] { oversync::parse_connect(nested_arrays(100000)); }) == "400 invalid_request");
    CHECK(api_code([&] { oversync::parse_push_create(nested_objects(100000)); }) == "400 invalid_request");
    CHECK(api_code([&] { oversync::parse_snapshot_create(nested_arrays(100000), "src"); }) ==
          "400 snapshot_session_invalid");
    // Within the limit the payload is accepted (and dumped/copied safely).
    std::string ok_payload =
        R"({"rows":[{"table":"t","op":"INSERT","key":{"id":"k"},"payload":{"c":)" + nested_arrays(50) + "}}]}";
    auto r = oversync::parse_push_chunk(ok_payload, 10);
    CHECK(r.rows[0]["payload"]["c"].dump() == nested_arrays(50));
}

TEST_CASE("oversync body over the core size limit is a 413", "[json_limits][oversync]") {
    std::string big(oversync::kMaxBodyBytes + 1, ' ');
    big[0] = '{';
    big.back() = '}';
    CHECK(api_code([&] { oversync::parse_push_chunk(big, 10); }) == "413 invalid_request");
    CHECK(api_code([&] { oversync::parse_snapshot_create(big, "s"); }) == "413 snapshot_session_invalid");
}

TEST_CASE("canonical JSON: its own parser stops at 1000 levels", "[json_limits][canonical]") {
    CHECK(oversync::canonical_json(nested_arrays(1000)) == nested_arrays(1000));
    CHECK_THROWS_AS(oversync::canonical_json(nested_arrays(1002)), oversync::JsonSyntaxError);
    CHECK_THROWS_AS(oversync::canonical_json(nested_arrays(100000)), oversync::JsonSyntaxError);
    CHECK_THROWS_AS(oversync::canonical_json(nested_objects(100000)), oversync::JsonSyntaxError);
    CHECK(oversync::canonical_json(nested_objects(1000)) == nested_objects(1000));
}
