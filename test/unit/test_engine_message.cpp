// es::engine_message: the messages the SQL API and the snapshot jobs send the engine.
#include <catch2/catch.hpp>

#include "core/common/engine_message.hpp"

using namespace es::engine_message;

TEST_CASE("engine messages: encode and parse every kind", "[engine_message]") {
    for (Kind k : {Kind::ShapeCreated, Kind::ShapeSnapshot, Kind::ShapeDeleted, Kind::ShapeInvalidated}) {
        auto m = parse(encode(k, 42));
        REQUIRE(m);
        CHECK(m->kind == k);
        CHECK(m->shape_id == 42);
        CHECK(kind_named(name(k)) == k);
    }
    CHECK(encode(Kind::ShapeInvalidated, 7, "column dropped") == "shape_invalidated 7 column dropped");
    auto m = parse("shape_invalidated 7 column dropped");
    REQUIRE(m);
    CHECK(m->shape_id == 7);
}

TEST_CASE("engine messages: what is not ours is ignored", "[engine_message]") {
    CHECK_FALSE(parse(""));
    CHECK_FALSE(parse("shape_created"));
    CHECK_FALSE(parse("shape_created x"));
    CHECK_FALSE(parse("shape_created 12x"));
    CHECK_FALSE(parse("shape_created "));
    CHECK_FALSE(parse("other_thing 12"));
    CHECK_FALSE(parse("shape_created 99999999999999999999999"));
    CHECK_FALSE(kind_named("shape_"));
}
