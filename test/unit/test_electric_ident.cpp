// es::electric identifier parsing (table, columns) and quoting.
#include <catch2/catch.hpp>

#include "core/electric/electric.hpp"

using namespace es::electric;

namespace {

std::string ident_ok(std::string_view in) {
    std::string out;
    auto err = parse_identifier(in, out);
    REQUIRE_FALSE(err);
    return out;
}

std::string ident_err(std::string_view in) {
    std::string out;
    auto err = parse_identifier(in, out);
    REQUIRE(err);
    return *err;
}

}  // namespace

TEST_CASE("electric: parse_identifier (Electric's doctests)", "[electric][ident]") {
    CHECK(ident_ok("FooBar") == "foobar");
    CHECK(ident_ok("\"FooBar\"") == "FooBar");
    CHECK(ident_ok("\" \"") == " ");
    CHECK(ident_ok("\"Foo\"\"Bar\"") == "Foo\"Bar");
    CHECK(ident_ok("_x9$") == "_x9$");
    CHECK(ident_ok("caf\xC3\xA9") == "caf\xC3\xA9");
    CHECK(ident_err("Foo\"Bar\"") == "Invalid unquoted identifier contains special characters: Foo\"Bar\"");
    CHECK(ident_err(" ") == "Invalid unquoted identifier contains special characters:  ");
    CHECK(ident_err("foob@r") == "Invalid unquoted identifier contains special characters: foob@r");
    CHECK(ident_err("9lives") == "Invalid unquoted identifier contains special characters: 9lives");
    CHECK(ident_err("\"Foo\"Bar\"") == "Invalid identifier with unescaped quote: Foo\"Bar");
    CHECK(ident_err("\"\"") == "Invalid zero-length delimited identifier");
    CHECK(ident_err("\"") == "Invalid zero-length delimited identifier");
    CHECK(ident_err("") == "Invalid zero-length delimited identifier");
}

TEST_CASE("electric: parse_table", "[electric][ident]") {
    QualifiedName q;
    REQUIRE_FALSE(parse_table("foo", q));
    CHECK((q.schema == "public" && q.name == "foo"));
    REQUIRE_FALSE(parse_table("Foo", q));
    CHECK(q.name == "foo");
    REQUIRE_FALSE(parse_table("app.Items", q));
    CHECK((q.schema == "app" && q.name == "items"));
    REQUIRE_FALSE(parse_table("\"Quoted Name\"", q));
    CHECK((q.schema == "public" && q.name == "Quoted Name"));
    REQUIRE_FALSE(parse_table("\"s\".\"T\"", q));
    CHECK((q.schema == "s" && q.name == "T"));
    REQUIRE_FALSE(parse_table("\"a.b\"", q));
    CHECK((q.schema == "public" && q.name == "a.b"));
    REQUIRE_FALSE(parse_table("\"my.schema\".\"fo\"\"o\"", q));
    CHECK((q.schema == "my.schema" && q.name == "fo\"o"));
    REQUIRE_FALSE(parse_table("S.\"Mixed\"", q));
    CHECK((q.schema == "s" && q.name == "Mixed"));

    CHECK(*parse_table("", q) == "Invalid zero-length delimited identifier");
    CHECK(*parse_table("\"\"", q) == "Invalid zero-length delimited identifier");
    CHECK(*parse_table(".foo", q) == "Invalid zero-length delimited identifier");
    CHECK(*parse_table("foo.", q) == "Invalid zero-length delimited identifier");
    CHECK(*parse_table("a.b.c", q) == "Invalid table name, too many parts: a.b.c");
    CHECK(*parse_table("foo bar", q) == "Invalid unquoted identifier contains special characters: foo bar");
    CHECK(*parse_table("\"unterminated", q) ==
          "Invalid unquoted identifier contains special characters: \"unterminated");
}

TEST_CASE("electric: parse_columns (Electric's doctests)", "[electric][ident]") {
    std::vector<std::string> c;
    REQUIRE_FALSE(parse_columns("id", c));
    CHECK(c == std::vector<std::string>{"id"});
    REQUIRE_FALSE(parse_columns("id,name", c));
    CHECK(c == std::vector<std::string>{"id", "name"});
    REQUIRE_FALSE(parse_columns("\"PoT@To\",PoTaTo", c));
    CHECK(c == std::vector<std::string>{"PoT@To", "potato"});
    REQUIRE_FALSE(parse_columns("\"PoTaTo,sunday\",foo", c));
    CHECK(c == std::vector<std::string>{"PoTaTo,sunday", "foo"});
    REQUIRE_FALSE(parse_columns("\"fo\"\"o\",bar", c));
    CHECK(c == std::vector<std::string>{"fo\"o", "bar"});
    REQUIRE_FALSE(parse_columns("\"id\",\"title\",\"Mixed Case\"", c));
    CHECK(c == std::vector<std::string>{"id", "title", "Mixed Case"});

    CHECK(*parse_columns("", c) == "Invalid zero-length delimited identifier");
    CHECK(*parse_columns("foo,", c) == "Invalid zero-length delimited identifier");
    CHECK(*parse_columns(",foo", c) == "Invalid zero-length delimited identifier");
    CHECK(*parse_columns("\"id,\"name\"", c) == "Invalid unquoted identifier contains special characters: \"id");
    CHECK(*parse_columns("id, name", c) == "Invalid unquoted identifier contains special characters:  name");
    // c is untouched by a failed parse
    CHECK(c == std::vector<std::string>{"id", "title", "Mixed Case"});
}

TEST_CASE("electric: quote_ident always quotes and doubles quotes", "[electric][ident]") {
    CHECK(quote_ident("id") == "\"id\"");
    CHECK(quote_ident("Mixed Case") == "\"Mixed Case\"");
    CHECK(quote_ident("a\"b") == "\"a\"\"b\"");
    CHECK(quote_ident("") == "\"\"");
    CHECK(quote_qualified("public", "users") == "\"public\".\"users\"");
    // round trip through the parser
    for (std::string s : {"x", "Fo\"o", "a.b", "with space", "\"\""}) {
        std::string back;
        REQUIRE_FALSE(parse_identifier(quote_ident(s), back));
        CHECK(back == s);
    }
}
