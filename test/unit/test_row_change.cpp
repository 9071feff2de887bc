// es::electric::row_change_messages: what one shape's clients are told about one decoded change.
#include <catch2/catch.hpp>

#include "core/electric/row_change.hpp"

#include <nlohmann/json.hpp>

using namespace es::electric;
using nlohmann::json;

namespace {

// Table public.items (id, title, done) decoded in that column order; the shape selects all three
// with key (id).
struct Fixture {
    std::vector<std::string> columns{"id", "title", "done"};
    std::vector<int> column_index{0, 1, 2};
    std::vector<std::string> pk{"id"};
    std::vector<int> pk_index{0};
    ShapeColumns shape(bool full = false) const {
        ShapeColumns s;
        s.schema = "public";
        s.table = "items";
        s.columns = &columns;
        s.column_index = &column_index;
        s.pk_columns = &pk;
        s.pk_index = &pk_index;
        s.full = full;
        return s;
    }
};

RowChange change(RowOp op, const RowValues *nw, const RowValues *old, bool new_m, bool old_m, bool old_full = false) {
    RowChange c;
    c.op = op;
    c.new_row = nw;
    c.old_row = old;
    c.new_matches = new_m;
    c.old_matches = old_m;
    c.old_full = old_full;
    c.commit_lsn = 1000;
    c.op_base = 4;
    c.xid = 77;
    return c;
}

std::vector<json> run(const ShapeColumns &s, const RowChange &c, std::vector<OffsetMessage> *raw = nullptr) {
    std::vector<OffsetMessage> out;
    row_change_messages(s, c, out);
    std::vector<json> js;
    for (auto &m : out) js.push_back(json::parse(m.second));
    if (raw) *raw = out;
    return js;
}

}  // namespace

TEST_CASE("row change: insert carries every selected column, offset and headers", "[electric][row_change]") {
    Fixture f;
    RowValues row{"1", "milk", std::nullopt};
    std::vector<OffsetMessage> raw;
    auto m = run(f.shape(), change(RowOp::Insert, &row, nullptr, true, false), &raw);
    REQUIRE(m.size() == 1);
    CHECK(raw[0].first.tx == 1000);
    CHECK(raw[0].first.op == 4);
    CHECK(m[0]["key"] == "\"public\".\"items\"/\"1\"");
    CHECK(m[0]["value"] == json({{"id", "1"}, {"title", "milk"}, {"done", nullptr}}));
    CHECK(m[0]["headers"]["operation"] == "insert");
    CHECK(m[0]["headers"]["lsn"] == "1000");
    CHECK(m[0]["headers"]["op_position"] == 4);
    CHECK(m[0]["headers"]["txids"] == json::array({77}));
}

TEST_CASE("row change: nothing when neither row matches", "[electric][row_change]") {
    Fixture f;
    RowValues nw{"1", "a", "t"}, old{"1", "b", "t"};
    CHECK(run(f.shape(), change(RowOp::Update, &nw, &old, false, false, true)).empty());
    CHECK(run(f.shape(), change(RowOp::Insert, &nw, nullptr, false, false)).empty());
}

TEST_CASE("row change: update moving into / out of the shape", "[electric][row_change]") {
    Fixture f;
    RowValues nw{"1", "a", "t"}, old{"1", "b", "f"};
    auto in = run(f.shape(), change(RowOp::Update, &nw, &old, true, false, true));
    REQUIRE(in.size() == 1);
    CHECK(in[0]["headers"]["operation"] == "insert");
    CHECK(in[0]["value"] == json({{"id", "1"}, {"title", "a"}, {"done", "t"}}));
    auto out = run(f.shape(), change(RowOp::Update, &nw, &old, false, true, true));
    REQUIRE(out.size() == 1);
    CHECK(out[0]["headers"]["operation"] == "delete");
    CHECK(out[0]["value"] == json({{"id", "1"}}));  // key columns only (replica=default)
    auto out_full = run(f.shape(true), change(RowOp::Update, &nw, &old, false, true, true));
    CHECK(out_full[0]["value"] == json({{"id", "1"}, {"title", "b"}, {"done", "f"}}));  // the old row
}

TEST_CASE("row change: update inside sends changed columns and the key", "[electric][row_change]") {
    Fixture f;
    RowValues nw{"1", "bread", "f"}, old{"1", "milk", "f"};
    auto m = run(f.shape(), change(RowOp::Update, &nw, &old, true, true, true));
    REQUIRE(m.size() == 1);
    CHECK(m[0]["headers"]["operation"] == "update");
    CHECK(m[0]["value"] == json({{"id", "1"}, {"title", "bread"}}));
    CHECK_FALSE(m[0].contains("old_value"));
    // replica=full: every column, and old_value with the changed ones
    auto full = run(f.shape(true), change(RowOp::Update, &nw, &old, true, true, true));
    CHECK(full[0]["value"] == json({{"id", "1"}, {"title", "bread"}, {"done", "f"}}));
    CHECK(full[0]["old_value"] == json({{"title", "milk"}}));
    // without the old row (REPLICA IDENTITY DEFAULT) every column counts as changed
    auto nofull = run(f.shape(), change(RowOp::Update, &nw, &old, true, true, false));
    CHECK(nofull[0]["value"] == json({{"id", "1"}, {"title", "bread"}, {"done", "f"}}));
}

TEST_CASE("row change: an update changing no selected column sends nothing", "[electric][row_change]") {
    Fixture f;
    std::vector<std::string> cols{"id", "title"};
    std::vector<int> idx{0, 1};
    ShapeColumns s = f.shape();
    s.columns = &cols;
    s.column_index = &idx;
    RowValues nw{"1", "milk", "t"}, old{"1", "milk", "f"};  // only `done` changed, not selected
    CHECK(run(s, change(RowOp::Update, &nw, &old, true, true, true)).empty());
}

TEST_CASE("row change: a key change is a delete then an insert, linked", "[electric][row_change]") {
    Fixture f;
    RowValues nw{"2", "milk", "f"}, old{"1", "milk", "f"};
    std::vector<OffsetMessage> raw;
    auto m = run(f.shape(), change(RowOp::Update, &nw, &old, true, true, true), &raw);
    REQUIRE(m.size() == 2);
    CHECK(m[0]["headers"]["operation"] == "delete");
    CHECK(m[0]["key"] == "\"public\".\"items\"/\"1\"");
    CHECK(m[0]["headers"]["key_change_to"] == "\"public\".\"items\"/\"2\"");
    CHECK(m[1]["headers"]["operation"] == "insert");
    CHECK(m[1]["key"] == "\"public\".\"items\"/\"2\"");
    CHECK(m[1]["headers"]["key_change_from"] == "\"public\".\"items\"/\"1\"");
    CHECK(raw[0].first.op == 4);
    CHECK(raw[1].first.op == 5);
}

TEST_CASE("row change: delete sends the key (or the whole old row with replica=full)", "[electric][row_change]") {
    Fixture f;
    RowValues old{"3", std::nullopt, std::nullopt};  // key only (REPLICA IDENTITY DEFAULT)
    auto m = run(f.shape(), change(RowOp::Delete, nullptr, &old, false, true));
    REQUIRE(m.size() == 1);
    CHECK(m[0]["headers"]["operation"] == "delete");
    CHECK(m[0]["value"] == json({{"id", "3"}}));
}

TEST_CASE("row change: columns absent from the decoded relation", "[electric][row_change]") {
    Fixture f;
    std::vector<int> idx{0, 1, -1};  // `done` not in this relation description
    ShapeColumns s = f.shape();
    s.column_index = &idx;
    RowValues row{"1", "milk"};
    auto m = run(s, change(RowOp::Insert, &row, nullptr, true, false));
    CHECK(m[0]["value"] == json({{"id", "1"}, {"title", "milk"}, {"done", nullptr}}));
}

TEST_CASE("row change: mark_last", "[electric][row_change]") {
    std::string m = R"({"key":"k","value":{},"headers":{"operation":"insert","relation":["s","t"]}})";
    mark_last(m);
    CHECK(json::parse(m)["headers"]["last"] == true);
    std::string tiny = "x";
    mark_last(tiny);
    CHECK(tiny == "x");
}
