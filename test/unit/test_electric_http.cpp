// es::electric HTTP helpers: cursor, etag, cache-control, CORS, bodies, handles (§4.4, §5, §6).
#include <catch2/catch.hpp>

#include "core/electric/electric.hpp"

using namespace es::electric;

TEST_CASE("electric: live cursor (§4.4)", "[electric][http][cursor]") {
    const int64_t e = kCursorEpoch;
    CHECK(e == 1728432000);  // 2024-10-09T00:00:00Z
    CHECK(next_cursor(e + 100, 20, "", 0) == 100);
    CHECK(next_cursor(e + 101, 20, "", 0) == 120);
    CHECK(next_cursor(e + 119, 20, "", 0) == 120);
    CHECK(next_cursor(e, 20, "", 0) == 0);
    CHECK(next_cursor(e - 5, 20, "", 0) == 0);
    CHECK(next_cursor(e - 25, 20, "", 0) == -20);
    CHECK(next_cursor(e + 101, 0, "", 0) == 0);
    CHECK(next_cursor(e + 101, 20, "100", 7) == 120);  // older cursor: plain next
    CHECK(next_cursor(e + 101, 20, "abc", 7) == 120);
    CHECK(next_cursor(e + 101, 20, "120", 0) == 121);  // echoed cursor: strictly increases
    CHECK(next_cursor(e + 101, 20, "120", 3599) == 3720);
    CHECK(next_cursor(e + 101, 20, "120", 3600) == 121);  // random reduced mod 3600
    CHECK(next_cursor(e + 101, 20, "5000", 10) == 5011);
    CHECK(next_cursor(e + 101, 20, "99999999999999999999", 10) == 120);  // overflow: not an integer
    for (uint64_t r = 0; r < 5000; r += 37) {
        int64_t c = next_cursor(e + 1000, 20, "1000", r);
        CHECK(c > 1000);
        CHECK(c <= 1000 + 3600);
    }
}

TEST_CASE("electric: etag and If-None-Match (§5, §5.2)", "[electric][http][etag]") {
    std::string etag = make_etag("3833821-1721812114261", "-1", "0_0");
    CHECK(etag == "\"3833821-1721812114261:-1:0_0\"");
    CHECK(make_etag("h", "5_0", "5_0", "123456") == "\"h:5_0:5_0:123456\"");
    CHECK(if_none_match_matches("\"3833821-1721812114261:-1:0_0\"", etag));
    CHECK(if_none_match_matches("W/\"3833821-1721812114261:-1:0_0\"", etag));
    CHECK(if_none_match_matches("\"other\", \"3833821-1721812114261:-1:0_0\"", etag));
    CHECK(if_none_match_matches("\"a\",W/\"3833821-1721812114261:-1:0_0\" ", etag));
    CHECK(if_none_match_matches("3833821-1721812114261:-1:0_0", etag));
    CHECK_FALSE(if_none_match_matches("\"3833821-1721812114261:-1:0_1\"", etag));
    CHECK_FALSE(if_none_match_matches("", etag));
    CHECK_FALSE(if_none_match_matches(",,", "\"\""));
}

TEST_CASE("electric: cache-control selection (§5.1)", "[electric][http][cache]") {
    CacheConfig cfg;  // 60 / 300 / 60
    auto cc = [&](CacheInput in) { return select_cache_control(in, cfg).cache_control; };
    CacheInput in;

    in = {};
    in.method = "POST";
    CHECK(cc(in) == "no-cache");
    in.status = 409;
    CHECK(cc(in) == "no-cache");  // rule 1 wins over 409
    in = {};
    in.method = "DELETE";
    CHECK(cc(in) == "no-cache");
    in = {};
    in.subset = true;
    CHECK(cc(in) == "no-cache");

    in = {};
    in.status = 409;
    CHECK(cc(in) == "public, max-age=60, must-revalidate");
    in.has_handle = false;
    CHECK(cc(in) == "public, max-age=1, must-revalidate");

    in = {};
    in.status = 400;
    in.offset_before_all = true;
    auto h = select_cache_control(in, cfg);
    CHECK(h.cache_control == "no-store");
    CHECK(h.surrogate_no_store);
    in.status = 503;
    CHECK(cc(in) == "no-store");

    in = {};
    in.offset_before_all = true;
    h = select_cache_control(in, cfg);
    CHECK(h.cache_control == "public, max-age=604800, s-maxage=3600, stale-while-revalidate=2629746");
    CHECK_FALSE(h.surrogate_no_store);
    in.method = "HEAD";
    CHECK(cc(in) == "public, max-age=604800, s-maxage=3600, stale-while-revalidate=2629746");

    in = {};
    in.live = true;
    in.sse = true;
    CHECK(cc(in) == "public, max-age=59");
    in.sse = false;
    CHECK(cc(in) == "public, max-age=5, stale-while-revalidate=5");

    in = {};
    CHECK(cc(in) == "public, max-age=60, stale-while-revalidate=300");
    in.status = 304;
    CHECK(cc(in) == "public, max-age=60, stale-while-revalidate=300");
    CacheConfig dev{1, 3, 10};
    CHECK(select_cache_control(CacheInput{}, dev).cache_control == "public, max-age=1, stale-while-revalidate=3");
    in = {};
    in.live = in.sse = true;
    CHECK(select_cache_control(in, dev).cache_control == "public, max-age=9");
}

TEST_CASE("electric: CORS headers", "[electric][http][cors]") {
    auto h = cors_headers();
    REQUIRE(h.size() == 3);
    CHECK(h[0] == std::make_pair(std::string("access-control-allow-origin"), std::string("*")));
    CHECK(h[1].first == "access-control-expose-headers");
    CHECK(h[1].second ==
          "electric-cursor,electric-handle,electric-has-data,electric-offset,electric-schema,electric-up-to-date,"
          "electric-internal-known-error,retry-after");
    CHECK(h[2] ==
          std::make_pair(std::string("access-control-allow-methods"), std::string("GET, POST, HEAD, DELETE, OPTIONS")));

    CHECK(preflight_allow_headers("Content-Type, If-None-Match,traceparent, X-Other") ==
          "content-type, if-none-match, traceparent");
    CHECK(preflight_allow_headers("") == "");
    CHECK(preflight_allow_headers("x-other") == "");
    // A browser's preflight for the write path and for authorized shapes.
    CHECK(preflight_allow_headers("Authorization, Oversync-Source-ID") == "authorization, oversync-source-id");

    std::string requested = "authorization";
    auto p = preflight_headers(&requested);
    auto get = [&](const char *name) {
        for (auto &kv : p)
            if (kv.first == name) return kv.second;
        return std::string("<none>");
    };
    CHECK(get("access-control-allow-origin") == "*");
    CHECK(get("access-control-allow-headers") == "authorization");
    CHECK(get("access-control-max-age") == "86400");
    CHECK(get("vary") == "Access-Control-Request-Headers");
    CHECK(get("access-control-allow-methods") == "GET, POST, HEAD, DELETE, OPTIONS");
    p = preflight_headers(nullptr);
    CHECK(get("access-control-allow-headers") == "<none>");
}

TEST_CASE("electric: error bodies (§6)", "[electric][http][errors]") {
    CHECK(must_refetch_body() == "[{\"headers\":{\"control\":\"must-refetch\"}}]");
    CHECK(unauthorized_body() == "{\"message\":\"Unauthorized - Invalid API secret\"}");
    CHECK(message_body("No existing shape found") == "{\"message\":\"No existing shape found\"}");
    CHECK(message_body("DELETE not allowed") == "{\"message\":\"DELETE not allowed\"}");
    CHECK(error_body("Internal server error") == "{\"error\":\"Internal server error\"}");
    CHECK(invalid_request_body("offset", "out of bounds for this shape") ==
          "{\"message\":\"Invalid request\",\"errors\":{\"offset\":[\"out of bounds for this shape\"]}}");
    CHECK(table_not_found_message("public", "Foo") ==
          "Table \"public\".\"Foo\" does not exist. If the table name contains capitals or special characters you "
          "must quote it.");
    CHECK(invalid_request_body("table", table_not_found_message("s", "t")) ==
          "{\"message\":\"Invalid request\",\"errors\":{\"table\":[\"Table \\\"s\\\".\\\"t\\\" does not exist. If the "
          "table name contains capitals or special characters you must quote it.\"]}}");
    CHECK(shape_definition_mismatch_body().rfind(
              "{\"message\":\"The specified shape definition and handle do not match.", 0) == 0);
}

TEST_CASE("electric: secrets compare", "[electric][http]") {
    CHECK(secret_equals("s3cret", "s3cret"));
    CHECK_FALSE(secret_equals("s3cret", "s3creT"));
    CHECK_FALSE(secret_equals("s3cret", "s3cret!"));
    CHECK_FALSE(secret_equals("", "x"));
    CHECK(secret_equals("", ""));
}

TEST_CASE("electric: shape handles and hashing (§3)", "[electric][http][handle]") {
    CHECK(make_shape_handle(3833821, 1721812114261) == "3833821-1721812114261");
    CHECK(make_shape_handle(UINT64_MAX, 0) == "18446744073709551615-0");
    CHECK(fnv1a64("") == 0xcbf29ce484222325ULL);
    CHECK(fnv1a64("a") == 0xaf63dc4c8601ec8cULL);
    CHECK(fnv1a64("foobar") == 0x85944171f73967e8ULL);

    auto d1 = normalized_definition("public", "t", "x = $1", {{1, "a"}}, {"id"}, Replica::Default, LogMode::Full);
    CHECK(d1 == normalized_definition("public", "t", "x = $1", {{1, "a"}}, {"id"}, Replica::Default, LogMode::Full));
    CHECK(d1 != normalized_definition("public", "t", "x = $1", {{1, "b"}}, {"id"}, Replica::Default, LogMode::Full));
    CHECK(d1 != normalized_definition("public", "t", "x = $1", {{1, "a"}}, {"id"}, Replica::Full, LogMode::Full));
    CHECK(d1 !=
          normalized_definition("public", "t", "x = $1", {{1, "a"}}, {"id"}, Replica::Default, LogMode::ChangesOnly));
    // no ambiguity between field boundaries
    CHECK(normalized_definition("a", "b|t:1:c", "", {}, {}, Replica::Default, LogMode::Full) !=
          normalized_definition("a", "b", "", {}, {"c"}, Replica::Default, LogMode::Full));
    CHECK(normalized_definition("ab", "c", "", {}, {}, Replica::Default, LogMode::Full) !=
          normalized_definition("a", "bc", "", {}, {}, Replica::Default, LogMode::Full));
    CHECK(fnv1a64(d1) == fnv1a64(std::string(d1)));
}
