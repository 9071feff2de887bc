// es::electric LogOffset parsing, formatting and ordering (§4.1).
#include <catch2/catch.hpp>

#include "core/electric/electric.hpp"

#include <algorithm>

using namespace es::electric;

TEST_CASE("electric: offsets parse and format round trip", "[electric][offset]") {
    for (std::string s : {"-1", "0_0", "0_7", "0_inf", "26800584_4", "9223372036854775807_9223372036854775807",
                          "9223372036854775807_inf"}) {
        auto o = parse_log_offset(s);
        REQUIRE(o);
        CHECK(o->to_string() == s);
    }
    CHECK(parse_log_offset("-1")->before_all);
    CHECK(*parse_log_offset("0_inf") == LogOffset::snapshot_end());
    CHECK(*parse_log_offset("0_3") == LogOffset::snapshot_chunk(3));
    CHECK(*parse_log_offset("12_4") == LogOffset::at(12, 4));
    CHECK(LogOffset::make_before_all().to_string() == "-1");
    CHECK(LogOffset::snapshot_end().to_string() == "0_inf");
    std::string appended = "x=";
    LogOffset::at(5, 2).append_to(appended);
    CHECK(appended == "x=5_2");
}

TEST_CASE("electric: invalid offsets are rejected", "[electric][offset]") {
    for (std::string s :
         {"", "now", "1", "1_", "_1", "a_1", "1_a", "-2", "-1_0", "1_-1", "+1_0", "1_+0", "1_2_3", "0_INF", "inf_0",
          " 1_0", "1_0 ", "18446744073709551616_0", "0_18446744073709551616", "99999999999999999999_0",
          // parts above INT64_MAX (bigint LSNs / op positions; chunk n+1 would wrap)
          "0_18446744073709551615", "18446744073709551615_0", "18446744073709551615_inf", "9223372036854775808_0",
          "0_9223372036854775808", "00000000000000000001_0"}) {
        INFO(s);
        CHECK_FALSE(parse_log_offset(s));
    }
}

TEST_CASE("electric: request offsets", "[electric][offset]") {
    auto now = parse_request_offset("now");
    REQUIRE(now);
    CHECK(now->is_now());
    CHECK(now->to_string() == "now");
    auto ba = parse_request_offset("-1");
    REQUIRE(ba);
    CHECK(ba->is_before_all());
    CHECK(ba->to_string() == "-1");
    auto at = parse_request_offset("7_2");
    REQUIRE(at);
    CHECK(at->kind == RequestOffset::At);
    CHECK(at->to_string() == "7_2");
    CHECK_FALSE(parse_request_offset("NOW"));
}

TEST_CASE("electric: offset ordering", "[electric][offset]") {
    LogOffset ba = LogOffset::make_before_all();
    CHECK(ba < LogOffset::at(0, 0));
    CHECK(ba == LogOffset::make_before_all());
    CHECK(LogOffset::at(0, 0) < LogOffset::at(0, 1));
    CHECK(LogOffset::at(0, 1000000) < LogOffset::snapshot_end());  // inf > any number
    CHECK(LogOffset::snapshot_end() < LogOffset::at(1, 0));
    CHECK(LogOffset::at(5, 9) < LogOffset::at(6, 0));
    CHECK(LogOffset::at(5, 9) >= LogOffset::at(5, 9));
    CHECK(LogOffset::at(5, 9) <= LogOffset::at(5, 9));
    CHECK(LogOffset::at(5, 10) > LogOffset::at(5, 9));
    CHECK(LogOffset::at(5, 10) != LogOffset::at(5, 9));
    CHECK(compare(LogOffset::at(7, 0), LogOffset::at(7, 0)) == 0);
    CHECK(compare(LogOffset::at(7, 0), LogOffset::at(3, 99)) == 1);

    std::vector<std::string> in = {"3_0", "0_inf", "-1", "0_10", "0_2", "3_inf", "2_4", "2_10"};
    std::vector<LogOffset> v;
    for (auto &s : in) v.push_back(*parse_log_offset(s));
    std::sort(v.begin(), v.end());
    std::vector<std::string> out;
    for (auto &o : v) out.push_back(o.to_string());
    CHECK(out == std::vector<std::string>{"-1", "0_2", "0_10", "0_inf", "2_4", "2_10", "3_0", "3_inf"});
}

TEST_CASE("electric: an offset part beyond int64 is an invalid offset (400), not chunk 0", "[electric][offset]") {
    CHECK_FALSE(parse_request_offset("0_18446744073709551615"));
    CHECK(parse_request_offset("0_9223372036854775807")->offset.op == 9223372036854775807ull);
    QueryParams q = parse_query("table=t&offset=0_18446744073709551615&handle=h");
    ShapeRequest r;
    auto errs = parse_shape_request(q, r);
    REQUIRE(errs.fields.count("offset"));
    CHECK(errs.to_body() == R"({"message":"Invalid request","errors":{"offset":["has invalid format"]}})");
}
