// es::electric::parse_order_by: hand-written scanner for subset order_by (§9).
#include <catch2/catch.hpp>

#include "core/electric/order_by.hpp"

#include <vector>

using namespace es::electric;

namespace {
std::string render(std::string_view in) {
    auto r = parse_order_by(in);
    if (!r.ok()) return "ERR " + *r.error;
    return order_by_sql(r.items);
}
}  // namespace

TEST_CASE("order_by: columns, directions, nulls", "[order_by]") {
    auto r = parse_order_by("id");
    REQUIRE(r.ok());
    REQUIRE(r.items.size() == 1);
    CHECK(r.items[0].column == "id");
    CHECK_FALSE(r.items[0].descending);
    CHECK_FALSE(r.items[0].nulls_first.has_value());

    r = parse_order_by("  Created_At DESC NULLS LAST , \"Mixed \"\"Case\"\"\" asc nulls first,name");
    REQUIRE(r.ok());
    REQUIRE(r.items.size() == 3);
    CHECK(r.items[0].column == "created_at");
    CHECK(r.items[0].descending);
    CHECK(r.items[0].nulls_first == false);
    CHECK(r.items[1].column == "Mixed \"Case\"");
    CHECK_FALSE(r.items[1].descending);
    CHECK(r.items[1].nulls_first == true);
    CHECK(r.items[2].column == "name");

    CHECK(render("a") == "\"a\"");
    CHECK(render("A desc") == "\"a\" DESC");
    CHECK(render("a DeSc NuLlS fIrSt") == "\"a\" DESC NULLS FIRST");
    CHECK(render("a nulls last") == "\"a\" NULLS LAST");
    CHECK(render("a,b") == "\"a\", \"b\"");
    CHECK(render("a\t,\nb\r\fdesc\v") == "\"a\", \"b\" DESC");
    CHECK(render("\"a\"desc") == "\"a\" DESC");  // as Postgres' lexer splits it
    CHECK(render("\"A,B\"") == "\"A,B\"");  // comma inside quotes
    CHECK(render("\"x\"\"y\"") == "\"x\"\"y\"");  // re-quoted on output
    CHECK(render("\"; DROP TABLE t; --\"") == "\"; DROP TABLE t; --\"");
    CHECK(render("_a$1") == "\"_a$1\"");
    CHECK(render("caf\xc3\xa9") == "\"caf\xc3\xa9\"");  // non-ASCII kept, not folded
    CHECK(render("\"ASC\" DESC") == "\"ASC\" DESC");
    // The first word of an item is the column, even if it reads like a keyword.
    CHECK(render("asc") == "\"asc\"");
    CHECK(render("desc desc") == "\"desc\" DESC");
    CHECK(render("nulls nulls first") == "\"nulls\" NULLS FIRST");
}

TEST_CASE("order_by: rejected input", "[order_by]") {
    for (std::string bad : std::vector<std::string>{"",
                                                    " ",
                                                    ",",
                                                    "a,",
                                                    ",a",
                                                    "a,,b",
                                                    "a b",
                                                    "a asc desc",
                                                    "a nulls",
                                                    "a nulls middle",
                                                    "a desc nulls",
                                                    "a nulls first last",
                                                    "1",
                                                    "1a",
                                                    "t.a",
                                                    "a.b",
                                                    "a -- c",
                                                    "a/*c*/",
                                                    "a;drop",
                                                    "a collate \"C\"",
                                                    "a using <",
                                                    "lower(a)",
                                                    "\"\"",
                                                    "\"a",
                                                    "a\"",
                                                    "\"a\"\"",
                                                    "a \"DESC\"",
                                                    "a, \"\" desc",
                                                    std::string("\"a\0b\"", 5),
                                                    std::string("a\0", 2),
                                                    "\xff",
                                                    "\"\xc3\x28\"",
                                                    "a\xed\xa0\x80",
                                                    "(a)",
                                                    "a desc,",
                                                    "+a",
                                                    "a+b",
                                                    "a ASC NULLS FIRST x"}) {
        INFO(bad);
        auto r = parse_order_by(bad);
        CHECK_FALSE(r.ok());
        CHECK(r.items.empty());
        CHECK(r.error->rfind("invalid order_by: ", 0) == 0);
    }
    CHECK(*parse_order_by("a b").error == "invalid order_by: expected ',' or end of input at position 3, got a name");
    CHECK(*parse_order_by("").error == "invalid order_by: expected a column name at position 1, got end of input");
    CHECK(*parse_order_by("a nulls").error ==
          "invalid order_by: expected FIRST or LAST after NULLS at position 8, got end of input");
    CHECK(*parse_order_by("\"abc").error == "invalid order_by: unterminated quoted identifier at position 1");
}

TEST_CASE("order_by: bounds", "[order_by]") {
    // 63-byte names are fine, 64 are not (plain and quoted, counted after unquoting).
    CHECK(parse_order_by(std::string(63, 'a')).ok());
    CHECK_FALSE(parse_order_by(std::string(64, 'a')).ok());
    CHECK(parse_order_by("\"" + std::string(63, 'Q') + "\"").ok());
    CHECK_FALSE(parse_order_by("\"" + std::string(64, 'Q') + "\"").ok());
    std::string esc;
    for (int i = 0; i < 31; ++i) esc += "\"\"";  // 31 quotes + 32 'x' = 63 bytes unquoted
    CHECK(parse_order_by("\"" + esc + std::string(32, 'x') + "\"").ok());
    CHECK_FALSE(parse_order_by("\"" + esc + std::string(33, 'x') + "\"").ok());
    CHECK(parse_order_by(std::string(63, 'a') + " desc nulls last").items[0].column == std::string(63, 'a'));

    // 64 items are fine, 65 are not.
    std::string items;
    for (int i = 0; i < 64; ++i) items += (i ? ",c" : "c") + std::to_string(i);
    CHECK(parse_order_by(items).items.size() == 64);
    CHECK(*parse_order_by(items + ",x").error == "invalid order_by: more than 64 columns");

    // Total length: at most 8192 bytes.
    std::string spaced = "a" + std::string(8191, ' ');
    CHECK(parse_order_by(spaced).ok());
    CHECK(*parse_order_by(spaced + " ").error == "invalid order_by: longer than 8192 bytes");

    // The input that crashed the cluster through std::regex: a 15,000-character quoted name.
    auto r = parse_order_by("\"" + std::string(15000, 'x') + "\"");
    CHECK_FALSE(r.ok());
    r = parse_order_by("\"" + std::string(8000, 'x') + "\"");
    CHECK(*r.error == "invalid order_by: column name longer than 63 bytes at position 1");
    CHECK_FALSE(parse_order_by(std::string(1000000, '"')).ok());
}
