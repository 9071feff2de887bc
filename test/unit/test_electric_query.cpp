// es::electric query-string parsing and ShapeRequest validation (§2, §6.3, §9).
#include <catch2/catch.hpp>

#include "core/electric/electric.hpp"

using namespace es::electric;

namespace {

// Parses a raw query and returns the 400 body ("" when valid).
std::string errors_for(std::string_view query, ShapeRequest *out = nullptr) {
    ShapeRequest r;
    auto errs = parse_shape_request(parse_query(query), r);
    if (out) *out = r;
    return errs.empty() ? std::string() : errs.to_body();
}

std::string one_error(const char *field, const char *msg) {
    return std::string("{\"message\":\"Invalid request\",\"errors\":{\"") + field + "\":[\"" + msg + "\"]}}";
}

}  // namespace

TEST_CASE("electric: parse_query decodes and keeps repeated keys in order", "[electric][query]") {
    auto q = parse_query("table=foo&offset=-1&a=1&a=2&flag&&=v&x=a+b%20c&");
    REQUIRE(q.size() == 7);
    CHECK(q[0] == std::make_pair(std::string("table"), std::string("foo")));
    CHECK(q[1] == std::make_pair(std::string("offset"), std::string("-1")));
    CHECK(q[2] == std::make_pair(std::string("a"), std::string("1")));
    CHECK(q[3] == std::make_pair(std::string("a"), std::string("2")));
    CHECK(q[4] == std::make_pair(std::string("flag"), std::string("")));
    CHECK(q[5] == std::make_pair(std::string(""), std::string("v")));
    CHECK(q[6] == std::make_pair(std::string("x"), std::string("a b c")));
    REQUIRE(find_param(q, "a"));
    CHECK(*find_param(q, "a") == "2");  // last wins (Plug)
    CHECK(find_param(q, "missing") == nullptr);
}

TEST_CASE("electric: percent_decode", "[electric][query]") {
    CHECK(percent_decode("params%5B1%5d") == "params[1]");
    CHECK(percent_decode("%22id%22%2C%22Mixed+Case%22") == "\"id\",\"Mixed Case\"");
    CHECK(percent_decode("a+b", false) == "a+b");
    CHECK(percent_decode("%zz%4") == "%zz%4");  // malformed escapes kept literally
    CHECK(percent_decode("%") == "%");
    CHECK(percent_decode("%41%") == "A%");
    CHECK(percent_decode("%00x") == std::string("\0x", 2));
    CHECK(percent_decode("%C3%A9") == "\xC3\xA9");
}

TEST_CASE("electric: minimal initial request", "[electric][query]") {
    ShapeRequest r;
    REQUIRE(errors_for("table=items&offset=-1", &r) == "");
    CHECK(r.table_schema == "public");
    CHECK(r.table_name == "items");
    CHECK(r.offset.is_before_all());
    CHECK(r.replica == Replica::Default);
    CHECK(r.log == LogMode::Full);
    CHECK_FALSE(r.live);
    CHECK_FALSE(r.live_sse);
    CHECK_FALSE(r.handle);
    CHECK_FALSE(r.cursor);
    CHECK(r.columns.empty());
    CHECK(r.params.empty());
    CHECK_FALSE(r.subset.present);
}

TEST_CASE("electric: a live request as the TS client sends it", "[electric][query]") {
    ShapeRequest r;
    std::string q =
        "cache-buster=123-abc&columns=%22id%22%2C%22title%22%2C%22Mixed+Case%22&cursor=&expired_handle=9-9"
        "&handle=3833821-1721812114261&live=true&log=changes_only&offset=26800584_4"
        "&params%5B1%5D=a%20b&params%5B2%5D=c&replica=full&source_id=x&table=%22My+Schema%22.%22T%22"
        "&where=%22Mixed+Case%22+%3D+%241";
    REQUIRE(errors_for(q, &r) == "");
    CHECK(r.table_schema == "My Schema");
    CHECK(r.table_name == "T");
    CHECK(r.columns == std::vector<std::string>{"id", "title", "Mixed Case"});
    CHECK(*r.columns_raw == "\"id\",\"title\",\"Mixed Case\"");
    REQUIRE(r.cursor);
    CHECK(*r.cursor == "");
    CHECK(*r.handle == "3833821-1721812114261");
    CHECK(r.live);
    CHECK(r.log == LogMode::ChangesOnly);
    CHECK(r.replica == Replica::Full);
    CHECK(r.offset.kind == RequestOffset::At);
    CHECK(r.offset.offset == LogOffset::at(26800584, 4));
    CHECK(r.params == std::map<int, std::string>{{1, "a b"}, {2, "c"}});
    CHECK(*r.where == "\"Mixed Case\" = $1");
}

TEST_CASE("electric: offset validation", "[electric][query]") {
    CHECK(errors_for("table=t&offset=abc") ==
          "{\"message\":\"Invalid request\",\"errors\":{\"offset\":[\"has invalid format\"]}}");
    CHECK(errors_for("table=t&offset=1_") == one_error("offset", "has invalid format"));
    CHECK(errors_for("table=t") == one_error("offset", "can't be blank"));
    CHECK(errors_for("table=t&offset=") == one_error("offset", "can't be blank"));
    ShapeRequest r;
    REQUIRE(errors_for("table=t&offset=now", &r) == "");
    CHECK(r.offset.is_now());
    REQUIRE(errors_for("table=t&offset=0_inf&handle=h", &r) == "");
    CHECK(r.offset.offset == LogOffset::snapshot_end());
}

TEST_CASE("electric: handle rules", "[electric][query]") {
    CHECK(errors_for("table=t&offset=0_0") == one_error("handle", "can't be blank when offset != -1"));
    CHECK(errors_for("table=t&offset=0_0&handle=") == one_error("handle", "can't be blank when offset != -1"));
    ShapeRequest r;
    REQUIRE(errors_for("table=t&offset=-1&handle=old-1", &r) == "");
    CHECK_FALSE(r.handle);  // dropped for -1
    REQUIRE(errors_for("table=t&offset=now&handle=old-1", &r) == "");
    CHECK_FALSE(r.handle);
    REQUIRE(errors_for("table=t&offset=5_0&handle=h-1", &r) == "");
    CHECK(*r.handle == "h-1");
}

TEST_CASE("electric: live and live_sse rules", "[electric][query]") {
    CHECK(errors_for("table=t&offset=-1&live=true") == one_error("live", "can't be true when offset == -1"));
    CHECK(errors_for("table=t&offset=now&live=true") == one_error("live", "can't be true when offset is 'now'"));
    CHECK(errors_for("table=t&offset=-1&live=false") == "");
    CHECK(errors_for("table=t&offset=-1&live=") == one_error("live", "can't be true when offset == -1"));
    CHECK(errors_for("table=t&offset=1_0&handle=h&live_sse=true") ==
          one_error("live_sse", "can't be true unless live is also true"));
    CHECK(errors_for("table=t&offset=1_0&handle=h&experimental_live_sse=true") ==
          one_error("live_sse", "can't be true unless live is also true"));
    CHECK(errors_for("table=t&offset=1_0&handle=h&live_sse=false") == "");
    ShapeRequest r;
    REQUIRE(errors_for("table=t&offset=1_0&handle=h&live=1&experimental_live_sse=true&live_sse=true", &r) == "");
    CHECK(r.live);
    CHECK(r.live_sse);
    REQUIRE(errors_for("table=t&offset=1_0&handle=h&live=yes&experimental_live_sse=true", &r) == "");
    CHECK(r.live_sse);
}

TEST_CASE("electric: replica / log casts are reported together, before later stages", "[electric][query]") {
    CHECK(errors_for("table=t&offset=-1&replica=partial&log=everything") ==
          "{\"message\":\"Invalid request\",\"errors\":{\"log\":[\"is invalid\"],\"replica\":[\"is invalid\"]}}");
    // A cast error stops validation: the bad offset is not reported.
    CHECK(errors_for("table=t&offset=zzz&replica=x") == one_error("replica", "is invalid"));
    ShapeRequest r;
    REQUIRE(errors_for("table=t&offset=-1&replica=default&log=full", &r) == "");
    CHECK(r.replica == Replica::Default);
}

TEST_CASE("electric: params[N]", "[electric][query]") {
    CHECK(errors_for("table=t&offset=-1&params%5B1%5D=a&params%5B3%5D=b") ==
          one_error("params", "Parameters must be numbered sequentially, starting from 1"));
    CHECK(errors_for("table=t&offset=-1&params%5B0%5D=a") ==
          one_error("params", "Parameters must be numbered sequentially, starting from 1"));
    CHECK(errors_for("table=t&offset=-1&params%5Bx%5D=a") ==
          one_error("params", "Parameter keys must be positive integers"));
    CHECK(errors_for("table=t&offset=-1&params%5B-1%5D=a") ==
          one_error("params", "Parameter keys must be positive integers"));
    CHECK(errors_for("table=t&offset=-1&params=%7B%221%22%3A%22a%22%7D") == one_error("params", "is invalid"));
    CHECK(errors_for("table=t&offset=-1&params[]=a") == one_error("params", "is invalid"));
    ShapeRequest r;
    REQUIRE(errors_for("table=t&offset=-1&params[2]=b&params[1]=a&params[1]=A", &r) == "");
    CHECK(r.params == std::map<int, std::string>{{1, "A"}, {2, "b"}});
}

TEST_CASE("electric: table and columns errors", "[electric][query]") {
    CHECK(errors_for("offset=-1") == one_error("table", "can't be blank"));
    CHECK(errors_for("table=&offset=-1") == one_error("table", "can't be blank"));
    CHECK(errors_for("table=%22%22&offset=-1") == one_error("table", "Invalid zero-length delimited identifier"));
    CHECK(errors_for("table=foo%40bar&offset=-1") ==
          one_error("table", "Invalid unquoted identifier contains special characters: foo@bar"));
    CHECK(errors_for("table=t&offset=-1&columns=") == one_error("columns", "Invalid zero-length delimited identifier"));
    CHECK(errors_for("table=t&offset=-1&columns=%22id%2C%22name%22") ==
          "{\"message\":\"Invalid request\",\"errors\":{\"columns\":[\"Invalid unquoted identifier contains special "
          "characters: \\\"id\"]}}");
    ShapeRequest r;
    REQUIRE(errors_for("table=Public.Items&offset=-1&columns=id,Name", &r) == "");
    CHECK(r.table_schema == "public");
    CHECK(r.table_name == "items");
    CHECK(r.columns == std::vector<std::string>{"id", "name"});
}

TEST_CASE("electric: secret and api_secret", "[electric][query]") {
    ShapeRequest r;
    REQUIRE(errors_for("table=t&offset=-1&api_secret=b", &r) == "");
    CHECK(*r.secret == "b");
    REQUIRE(errors_for("table=t&offset=-1&api_secret=b&secret=a", &r) == "");
    CHECK(*r.secret == "a");
    REQUIRE(errors_for("table=t&offset=-1", &r) == "");
    CHECK_FALSE(r.secret);
}

TEST_CASE("electric: subset params", "[electric][query][subset]") {
    ShapeRequest r;
    REQUIRE(errors_for("table=t&offset=-1&subset__where=priority+%3D+%241&subset__params=%7B%221%22%3A%22high%22%7D"
                       "&subset__limit=10&subset__offset=0&subset__order_by=id+desc",
                       &r) == "");
    CHECK(r.subset.present);
    CHECK(*r.subset.where == "priority = $1");
    CHECK(r.subset.params == std::map<int, std::string>{{1, "high"}});
    CHECK(*r.subset.limit == 10);
    CHECK(*r.subset.offset == 0);
    CHECK(*r.subset.order_by == "id desc");

    CHECK(errors_for("table=t&offset=-1&subset__limit=10") ==
          "{\"message\":\"Invalid request\",\"errors\":{\"subset\":{\"order_by\":[\"order_by is required when limit or "
          "offset is present\"]}}}");
    CHECK(errors_for("table=t&offset=-1&subset__offset=5") ==
          "{\"message\":\"Invalid request\",\"errors\":{\"subset\":{\"order_by\":[\"order_by is required when limit or "
          "offset is present\"]}}}");
    CHECK(errors_for("table=t&offset=-1&subset__limit=0&subset__order_by=id") ==
          "{\"message\":\"Invalid request\",\"errors\":{\"subset\":{\"limit\":[\"must be greater than 0\"]}}}");
    CHECK(errors_for("table=t&offset=-1&subset__offset=-1&subset__order_by=id") ==
          "{\"message\":\"Invalid request\",\"errors\":{\"subset\":{\"offset\":[\"must be greater than or equal to "
          "0\"]}}}");
    CHECK(errors_for("table=t&offset=-1&subset__limit=ten") ==
          "{\"message\":\"Invalid request\",\"errors\":{\"subset\":{\"limit\":[\"is invalid\"]}}}");
    CHECK(errors_for("table=t&offset=-1&subset__params=%5B1%5D") ==
          "{\"message\":\"Invalid request\",\"errors\":{\"subset\":{\"params\":[\"params must be a JSON object\"]}}}");
    CHECK(errors_for("table=t&offset=-1&subset__params=%7B") ==
          "{\"message\":\"Invalid request\",\"errors\":{\"subset\":{\"params\":[\"params must be valid JSON\"]}}}");
    // where_expr alone still marks a subset request
    REQUIRE(errors_for("table=t&offset=-1&subset__where_expr=%7B%7D", &r) == "");
    CHECK(r.subset.present);
}

TEST_CASE("electric: parse_params_json and number_params", "[electric][query]") {
    std::map<int, std::string> m;
    CHECK_FALSE(parse_params_json(R"({"2":"b","1":5,"3":true,"4":null})", m));
    CHECK(m == std::map<int, std::string>{{1, "5"}, {2, "b"}, {3, "true"}, {4, ""}});
    CHECK(*parse_params_json(R"({"1":"a","3":"c"})", m) == "Parameters must be numbered sequentially, starting from 1");
    CHECK(*parse_params_json(R"({"a":"x"})", m) == "Parameter keys must be positive integers");
    CHECK(*parse_params_json("\"str\"", m) == "params must be a JSON object");
    CHECK(*parse_params_json("nope", m) == "params must be valid JSON");
    CHECK_FALSE(parse_params_json("{}", m));
    CHECK(m.empty());
}

TEST_CASE("electric: POST subset body merged into query params", "[electric][query][subset]") {
    auto q = parse_query("table=t&offset=-1&subset__where=ignored");
    std::string err;
    REQUIRE(merge_subset_body(R"({"where":"x > $1","params":{"1":"5"},"limit":10,"order_by":"id"})", q, err));
    ShapeRequest r;
    REQUIRE(parse_shape_request(q, r).empty());
    CHECK(*r.subset.where == "x > $1");
    CHECK(r.subset.params == std::map<int, std::string>{{1, "5"}});
    CHECK(*r.subset.limit == 10);
    CHECK(*r.subset.order_by == "id");

    auto q2 = parse_query("table=t&offset=-1");
    REQUIRE(merge_subset_body(R"({"subset":{"where":"a = 1"}})", q2, err));
    CHECK(*find_param(q2, "subset__where") == "a = 1");

    auto q3 = parse_query("table=t&offset=-1");
    REQUIRE(merge_subset_body("", q3, err));
    CHECK(q3.size() == 2);
    CHECK_FALSE(merge_subset_body("[1,2]", q3, err));
    CHECK(err == "{\"error\":\"Request body must be a JSON object\"}");
    CHECK_FALSE(merge_subset_body("{bad", q3, err));
    CHECK(err.rfind("{\"error\":\"Invalid JSON in request body\",\"details\":\"", 0) == 0);
}

TEST_CASE("electric: ValidationErrors body keeps fields sorted and messages ordered", "[electric][query]") {
    ValidationErrors e;
    e.add("where", "At location 17: syntax error at or near \"x\"");
    e.add("columns", "b");
    e.add("columns", "a");
    e.add_subset("limit", "must be greater than 0");
    CHECK(e.to_body() ==
          "{\"message\":\"Invalid request\",\"errors\":{\"columns\":[\"b\",\"a\"],\"subset\":{\"limit\":[\"must be "
          "greater than 0\"]},\"where\":[\"At location 17: syntax error at or near \\\"x\\\"\"]}}");
}

TEST_CASE("electric: invalid UTF-8 or NUL in text parameters is a 400 naming the parameter",
          "[electric][query][utf8]") {
    auto errors_for = [](QueryParams q) {
        ShapeRequest r;
        return parse_shape_request(q, r).to_body();
    };
    const std::string bad =
        "a\xff"
        "b";
    CHECK(errors_for({{"table", "t"}, {"offset", "-1"}, {"columns", "id," + bad}}) ==
          R"({"message":"Invalid request","errors":{"columns":["must be valid UTF-8"]}})");
    CHECK(errors_for({{"table", "t"}, {"offset", "-1"}, {"params[1]", bad}}) ==
          R"({"message":"Invalid request","errors":{"params":["must be valid UTF-8"]}})");
    CHECK(errors_for({{"table", "t"}, {"offset", "-1"}, {"where", "x = '" + bad + "'"}}) ==
          R"({"message":"Invalid request","errors":{"where":["must be valid UTF-8"]}})");
    CHECK(errors_for({{"table", bad}, {"offset", "-1"}}) ==
          R"({"message":"Invalid request","errors":{"table":["must be valid UTF-8"]}})");
    CHECK(errors_for({{"table", "t"}, {"offset", "0_0"}, {"handle", bad}}) ==
          R"({"message":"Invalid request","errors":{"handle":["must be valid UTF-8"]}})");
    CHECK(errors_for({{"table", "t"}, {"offset", "-1"}, {"cursor", bad}}) ==
          R"({"message":"Invalid request","errors":{"cursor":["must be valid UTF-8"]}})");
    CHECK(errors_for({{"table", "t"}, {"offset", "-1"}, {"subset__where", bad}}) ==
          R"({"message":"Invalid request","errors":{"subset":{"where":["must be valid UTF-8"]}}})");
    CHECK(errors_for({{"table", "t"}, {"offset", "-1"}, {"subset__order_by", bad}}) ==
          R"({"message":"Invalid request","errors":{"subset":{"order_by":["must be valid UTF-8"]}}})");
    CHECK(errors_for({{"table", "t"}, {"offset", "-1"}, {"subset__params", "{\"1\":\"" + bad + "\"}"}}) ==
          R"({"message":"Invalid request","errors":{"subset":{"params":["must be valid UTF-8"]}}})");
    // Overlong, surrogate and truncated sequences; NUL bytes.
    for (std::string b : {"\xc0\xaf", "\xed\xa0\x80", "\xe2\x82", "\xf4\x90\x80\x80", "\x80"}) {
        INFO(b);
        CHECK(errors_for({{"table", "t"}, {"offset", "-1"}, {"columns", b}}) ==
              R"({"message":"Invalid request","errors":{"columns":["must be valid UTF-8"]}})");
    }
    CHECK(errors_for({{"table", "t"}, {"offset", "-1"}, {"where", std::string("a\0b", 3)}}) ==
          R"({"message":"Invalid request","errors":{"where":["must not contain NUL bytes"]}})");
    // Percent-encoded as a client sends it.
    ShapeRequest r;
    auto errs = parse_shape_request(parse_query("table=t&offset=-1&columns=%FF"), r);
    CHECK(errs.fields.count("columns"));
    // Valid multi-byte text still passes.
    ShapeRequest ok;
    CHECK(parse_shape_request({{"table", "t"},
                               {"offset", "-1"},
                               {"columns", "\"caf\xc3\xa9\",\"\xf0\x9f\x98\x80\""},
                               {"where", "x = '\xe2\x82\xac'"},
                               {"params[1]", "\xc3\xa9"}},
                              ok)
              .empty());
    CHECK(ok.columns.size() == 2);
}
