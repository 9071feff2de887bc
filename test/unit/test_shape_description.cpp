// es::electric::shape_description_from_row: one stored shape, from SPI's or libpq's text.
#include <catch2/catch.hpp>

#include "core/electric/shape_description.hpp"

#include <string>

using namespace es::electric;

TEST_CASE("shape description: a stored row, as SPI or libpq give it", "[shape_description]") {
    std::vector<std::optional<std::string>> row = {"12",          "12-1700000000",
                                                   "16384",       "public",
                                                   "items",       "{\"id\":{\"type\":\"int4\"}}",
                                                   "active",      "(owner = $1)",
                                                   "[\"alice\"]", "[\"id\",\"owner\"]",
                                                   "[\"id\"]",    "t",
                                                   "f",           "true",
                                                   std::nullopt,  std::nullopt};
    REQUIRE(row.size() == static_cast<size_t>(kShapeDescriptionColumns));
    ShapeDescription d = shape_description_from_row(row);
    CHECK(d.id == 12);
    CHECK(d.handle == "12-1700000000");
    CHECK(d.relid == 16384u);
    CHECK(d.schema == "public");
    CHECK(d.table == "items");
    CHECK(d.status == "active");
    CHECK(d.where == "(owner = $1)");
    CHECK(d.params == std::vector<std::string>{"alice"});
    CHECK(d.columns == std::vector<std::string>{"id", "owner"});
    CHECK(d.pk_columns == std::vector<std::string>{"id"});
    CHECK(d.full);
    CHECK_FALSE(d.changes_only);
    CHECK(d.log_ready);
    CHECK(d.read_role.empty());
    CHECK(d.request_where == d.where);
}

TEST_CASE("shape description: an authorized shape filters by its where and its reader's policy",
          "[shape_description]") {
    std::vector<std::optional<std::string>> row(kShapeDescriptionColumns);
    row[0] = "1";
    row[2] = "5";
    row[7] = "(done = false)";
    row[14] = "app_user";
    row[15] = "(owner = 'alice'::text)";
    ShapeDescription d = shape_description_from_row(row);
    CHECK(d.read_role == "app_user");
    CHECK(d.request_where == "(done = false)");
    CHECK(d.where == "((done = false)) AND ((owner = 'alice'::text))");
    row[7].reset();
    CHECK(shape_description_from_row(row).where == "(owner = 'alice'::text)");
    CHECK(effective_where("", "") == "");
    CHECK(effective_where("a", "") == "a");
}

TEST_CASE("shape description: NULLs and short rows", "[shape_description]") {
    std::vector<std::optional<std::string>> row(kShapeDescriptionColumns);
    row[0] = "1";
    row[2] = "5";
    ShapeDescription d = shape_description_from_row(row);
    CHECK(d.where.empty());
    CHECK(d.params.empty());
    CHECK_FALSE(d.log_ready);
    row.pop_back();
    CHECK_THROWS(shape_description_from_row(row));
    std::vector<std::optional<std::string>> no_id(kShapeDescriptionColumns);
    CHECK_THROWS(shape_description_from_row(no_id));
}
