// Vectors produced with Go 1.26 encoding/json (json.Unmarshal into interface{} + json.Marshal),
// which is what go-oversync's canonical JSON does.
#include <catch2/catch.hpp>

#include "core/oversync/canonical.hpp"

using es::oversync::canonical_json;
using es::oversync::go_format_float;

TEST_CASE("canonical JSON sorts keys bytewise and drops whitespace", "[oversync][canonical]") {
    CHECK(canonical_json(R"({"b":1,"a":2})") == R"({"a":2,"b":1})");
    CHECK(canonical_json("  [ true , false , null , {} , [] ]  ") == "[true,false,null,{},[]]");
    CHECK(canonical_json(R"({"a":1,"a":2})") == R"({"a":2})");
    CHECK(canonical_json(R"({"z":"<a&b>","\u00e9":"x","A":null,"é2":[1,2.5,-0.0]})") ==
          R"({"A":null,"z":"\u003ca\u0026b\u003e","é":"x","é2":[1,2.5,-0]})");
    CHECK(
        canonical_json(
            R"({"payload":{"id":"550e8400-e29b-41d4-a716-446655440000","name":"Jane <Doe>","n":42,"f":3.14,"b":true,"z":null,"arr":[1,"two"]},"op":"INSERT"})") ==
        R"({"op":"INSERT","payload":{"arr":[1,"two"],"b":true,"f":3.14,"id":"550e8400-e29b-41d4-a716-446655440000","n":42,"name":"Jane \u003cDoe\u003e","z":null}})");
}

TEST_CASE("canonical JSON formats numbers as Go float64", "[oversync][canonical]") {
    CHECK(canonical_json("[1e21,1e20,1e-6,1e-7,123456789012345678901234,0.1,1.5e-10,-2.5e+25,"
                         "12345678901234567890,100,3.0,1E2,0.000001234]") ==
          "[1e+21,100000000000000000000,0.000001,1e-7,1.2345678901234569e+23,0.1,1.5e-10,"
          "-2.5e+25,12345678901234567000,100,3,100,0.000001234]");
    CHECK(canonical_json("[9007199254740993, 1.7976931348623157e308, 5e-324, 4.9e-324, "
                         "2.2250738585072014e-308, 0.3, 1e15, 123.456, -0.0000001, "
                         "999999999999999999999, 1e+300]") ==
          "[9007199254740992,1.7976931348623157e+308,5e-324,5e-324,2.2250738585072014e-308,0.3,"
          "1000000000000000,123.456,-1e-7,1e+21,1e+300]");
    CHECK(go_format_float(0.0) == "0");
    CHECK(go_format_float(-1.0) == "-1");
    CHECK(go_format_float(1e-6) == "0.000001");
    CHECK(go_format_float(9.99e-7) == "9.99e-7");
    CHECK(go_format_float(1.5e300) == "1.5e+300");
}

TEST_CASE("canonical JSON escapes strings like Go", "[oversync][canonical]") {
    CHECK(canonical_json(R"("\u2028\u2029\b\f\n\r\t\u0001\u001f\u007f/\\\"")") ==
          "\"\\u2028\\u2029\\b\\f\\n\\r\\t\\u0001\\u001f\x7f/\\\\\\\"\"");
    CHECK(canonical_json(R"({"k":"\ud83d\ude00 \ud800 x"})") == "{\"k\":\"😀 \xEF\xBF\xBD x\"}");
    // Invalid UTF-8 in the input becomes U+FFFD when decoded.
    CHECK(canonical_json("{\"s\":\"a\xff"
                         "b\xc3\"}") ==
          "{\"s\":\"a\xEF\xBF\xBD"
          "b\xEF\xBF\xBD\"}");
    std::string q;
    es::oversync::go_quote(q,
                           "a\xff"
                           "b");
    CHECK(q == "\"a\\ufffdb\"");
}

TEST_CASE("canonical JSON rejects invalid input", "[oversync][canonical]") {
    for (const char *bad : {"", "{", "[1,]", "{\"a\" 1}", "01", "1.", "-", "\"a", "[1] x", "tru", "\"\x01\"",
                            "{\"a\":1,}", "\"\\x\"", "1e"}) {
        INFO(bad);
        CHECK_THROWS_AS(canonical_json(bad), es::oversync::JsonSyntaxError);
    }
    std::string deep(20000, '[');
    CHECK_THROWS_AS(canonical_json(deep), es::oversync::JsonSyntaxError);
}

TEST_CASE("bundle_hash matches Go for a two-row bundle", "[oversync][hash]") {
    std::string arr =
        R"([{"key":{"id":"550e8400-e29b-41d4-a716-446655440000"},"op":"INSERT","payload":{"email":"a&b@x.io","id":"550e8400-e29b-41d4-a716-446655440000","n":1.5},"row_ordinal":0,"row_version":3,"schema":"business","table":"users"},{"key":{"id":"k2"},"op":"DELETE","payload":null,"row_ordinal":1,"row_version":3,"schema":"business","table":"notes"}])";
    std::string c = canonical_json(arr);
    CHECK(c.size() == 342);
    CHECK(es::oversync::sha256_hex(c) == "f061b70affb6b4ad732d8faccbf75cb5617678ceaaf187402723768b60002657");
}
