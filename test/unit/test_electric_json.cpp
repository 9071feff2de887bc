// es::electric JSON encoding: escaper, keys, change/control messages, electric-schema (§7, §12).
#include <catch2/catch.hpp>

#include "core/electric/electric.hpp"

#include <nlohmann/json.hpp>

#include <random>

using namespace es::electric;

namespace {

std::string js(std::string_view s) {
    std::string out;
    append_json_string(out, s);
    return out;
}

}  // namespace

TEST_CASE("electric: append_json_string escapes", "[electric][json]") {
    CHECK(js("") == "\"\"");
    CHECK(js("plain text 123") == "\"plain text 123\"");
    CHECK(js("a\"b\\c") == "\"a\\\"b\\\\c\"");
    CHECK(js("{\"a\": 1}") == "\"{\\\"a\\\": 1}\"");
    CHECK(js("\n\r\t\b\f") == "\"\\n\\r\\t\\b\\f\"");
    CHECK(js(std::string("\x01\x1f\x00z", 4)) == "\"\\u0001\\u001f\\u0000z\"");
    CHECK(js("\x7f/") == "\"\x7f/\"");  // DEL and '/' need no escape
    CHECK(js("\\x") == "\"\\\\x\"");
    std::string out = "prefix:";
    append_json_string(out, "v");
    CHECK(out == "prefix:\"v\"");
}

TEST_CASE("electric: append_json_string passes valid UTF-8 and replaces invalid bytes", "[electric][json]") {
    CHECK(js("h\xC3\xA9llo \xE2\x9C\x93 \xF0\x9F\x98\x80") == "\"h\xC3\xA9llo \xE2\x9C\x93 \xF0\x9F\x98\x80\"");
    CHECK(js("\xEF\xBF\xBF") == "\"\xEF\xBF\xBF\"");  // U+FFFF
    CHECK(js("\xF4\x8F\xBF\xBF") == "\"\xF4\x8F\xBF\xBF\"");  // U+10FFFF
    CHECK(js("a\xFF"
             "b") == "\"a\\ufffdb\"");
    CHECK(js("\xE2\x82") == "\"\\ufffd\\ufffd\"");  // truncated
    CHECK(js("\xC0\xAF") == "\"\\ufffd\\ufffd\"");  // overlong '/'
    CHECK(js("\xED\xA0\x80") == "\"\\ufffd\\ufffd\\ufffd\"");  // surrogate
    CHECK(js("\xF4\x90\x80\x80") == "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");  // > U+10FFFF
    CHECK(js("\x80\"") == "\"\\ufffd\\\"\"");
}

TEST_CASE("electric: append_json_string output always parses back", "[electric][json]") {
    std::mt19937 rng(12345);
    for (int iter = 0; iter < 2000; ++iter) {
        std::string s(rng() % 24, '\0');
        for (auto &c : s) c = char(rng() % 256);
        std::string enc = js(s);
        auto parsed = nlohmann::json::parse(enc, nullptr, false);
        REQUIRE_FALSE(parsed.is_discarded());
        REQUIRE(parsed.is_string());
    }
    // valid strings round-trip exactly
    for (std::string s : std::vector<std::string>{"x", "\"q\"", "tab\there", "\xE2\x9C\x93", std::string("\0nul", 4)}) {
        CHECK(nlohmann::json::parse(js(s)).get<std::string>() == s);
    }
}

TEST_CASE("electric: integers", "[electric][json]") {
    std::string s;
    append_uint(s, 0);
    s += ',';
    append_uint(s, UINT64_MAX);
    s += ',';
    append_int(s, INT64_MIN);
    s += ',';
    append_int(s, -5);
    CHECK(s == "0,18446744073709551615,-9223372036854775808,-5");
}

TEST_CASE("electric: keys (§7.4)", "[electric][json][key]") {
    CHECK(make_key("public", "users", {std::string("1")}) == "\"public\".\"users\"/\"1\"");
    CHECK(make_key("public", "items", {std::string("7"), std::string("en")}) == "\"public\".\"items\"/\"7\"/\"en\"");
    CHECK(make_key("public", "x", {std::string("a/b")}) == "\"public\".\"x\"/\"a//b\"");
    CHECK(make_key("public", "x", {std::string("1"), std::nullopt}) == "\"public\".\"x\"/\"1\"/_");
    CHECK(make_key("my.schema", "a/b", {std::string("say \"hi\"")}) == "\"my..schema\".\"a//b\"/\"say \"hi\"\"");
    std::string k = "K=";
    append_key_prefix(k, "s", "t");
    append_key_part(k, std::string_view("v"));
    append_key_part(k, std::nullopt);
    CHECK(k == "K=\"s\".\"t\"/\"v\"/_");
}

TEST_CASE("electric: live change message matches §7.1 byte for byte", "[electric][json][message]") {
    ColumnValues value = {{"id", "1"}, {"name", "Ann"}, {"bio", std::nullopt}};
    LiveHeaders live;
    live.lsn = 24817392;
    live.op_position = 0;
    live.txids = {771};
    live.last = true;
    std::string key = make_key("public", "users", {std::string("1")});
    ChangeMessage m;
    m.schema = "public";
    m.table = "users";
    m.op = Operation::Insert;
    m.key = key;
    m.value = &value;
    m.live = &live;
    CHECK(change_message(m) ==
          R"({"key":"\"public\".\"users\"/\"1\"","value":{"id":"1","name":"Ann","bio":null},)"
          R"("headers":{"operation":"insert","relation":["public","users"],"lsn":"24817392","op_position":0,)"
          R"("txids":[771],"last":true}})");
    // valid JSON with the expected structure
    auto j = nlohmann::json::parse(change_message(m));
    CHECK(j["key"] == "\"public\".\"users\"/\"1\"");
    CHECK(j["value"]["bio"].is_null());
    CHECK(j["headers"]["txids"][0] == 771);
}

TEST_CASE("electric: snapshot rows, updates with old_value, deletes", "[electric][json][message]") {
    ColumnValues row = {{"id", "2"}, {"t", "x\ny"}};
    ChangeMessage snap;
    snap.schema = "public";
    snap.table = "t";
    snap.key = "\"public\".\"t\"/\"2\"";
    snap.value = &row;
    CHECK(
        change_message(snap) ==
        R"({"key":"\"public\".\"t\"/\"2\"","value":{"id":"2","t":"x\ny"},"headers":{"operation":"insert","relation":["public","t"]}})");

    snap.snapshot_mark = 42;
    CHECK(
        change_message(snap) ==
        R"({"key":"\"public\".\"t\"/\"2\"","value":{"id":"2","t":"x\ny"},"headers":{"operation":"insert","relation":["public","t"],"snapshot_mark":42}})");

    ColumnValues newv = {{"id", "2"}, {"t", "new"}};
    ColumnValues oldv = {{"t", "old"}};
    LiveHeaders live;
    live.lsn = 18446744073709551615ULL;
    live.op_position = 4;
    live.txids = {4294967295U, 5};
    ChangeMessage up;
    up.schema = "s";
    up.table = "t";
    up.op = Operation::Update;
    up.key = "k";
    up.value = &newv;
    up.old_value = &oldv;
    up.live = &live;
    CHECK(change_message(up) ==
          R"({"key":"k","value":{"id":"2","t":"new"},"old_value":{"t":"old"},"headers":{"operation":"update",)"
          R"("relation":["s","t"],"lsn":"18446744073709551615","op_position":4,"txids":[4294967295,5]}})");

    ColumnValues pk = {{"id", "2"}};
    ChangeMessage del;
    del.schema = "s";
    del.table = "t";
    del.op = Operation::Delete;
    del.key = "old";
    del.value = &pk;
    del.key_change_to = std::string_view("new");
    std::string out = "[";
    append_change_message(out, del);
    CHECK(
        out ==
        R"([{"key":"old","value":{"id":"2"},"headers":{"operation":"delete","relation":["s","t"],"key_change_to":"new"}})");
    ChangeMessage empty;
    empty.schema = "s";
    empty.table = "t";
    empty.key = "k";
    CHECK(change_message(empty) == R"({"key":"k","value":{},"headers":{"operation":"insert","relation":["s","t"]}})");
}

TEST_CASE("electric: control messages and arrays (§7.5, §6.4)", "[electric][json][control]") {
    std::string s;
    append_up_to_date(s, 1234567);
    CHECK(s == R"({"headers":{"control":"up-to-date","global_last_seen_lsn":"1234567"}})");
    s.clear();
    append_must_refetch(s);
    CHECK(s == R"({"headers":{"control":"must-refetch"}})");
    s.clear();
    append_snapshot_end(s, 100, 105, {101, 103});
    CHECK(s == R"({"headers":{"control":"snapshot-end","xmin":"100","xmax":"105","xip_list":["101","103"]}})");
    s.clear();
    append_snapshot_end(s, 7, 7, {});
    CHECK(s == R"({"headers":{"control":"snapshot-end","xmin":"7","xmax":"7","xip_list":[]}})");

    CHECK(join_json_array({}) == "[]");
    std::string utd;
    append_up_to_date(utd, 0);
    CHECK(join_json_array({utd}) == R"([{"headers":{"control":"up-to-date","global_last_seen_lsn":"0"}}])");
    CHECK(join_json_array({"{\"a\":1}", "{\"b\":2}"}) == R"([{"a":1},{"b":2}])");

    std::string sse;
    append_sse_event(sse, utd);
    CHECK(sse == "data: {\"headers\":{\"control\":\"up-to-date\",\"global_last_seen_lsn\":\"0\"}}\n\n");
    CHECK(kSseKeepAlive == ": keep-alive\n\n");
}

TEST_CASE("electric: subset response body (§9)", "[electric][json]") {
    CHECK(
        subset_response_body(10, 12, {11}, 3, 99887766, {"{\"x\":1}"}) ==
        R"({"metadata":{"xmin":"10","xmax":"12","xip_list":["11"],"snapshot_mark":3,"database_lsn":"99887766"},"data":[{"x":1}]})");
    CHECK(subset_response_body(1, 1, {}, 0, 0, {}) ==
          R"({"metadata":{"xmin":"1","xmax":"1","xip_list":[],"snapshot_mark":0,"database_lsn":"0"},"data":[]})");
}

TEST_CASE("electric: electric-schema header (§12)", "[electric][json][schema]") {
    SchemaColumn id;
    id.name = "id";
    id.type = "int4";
    id.pk_index = 0;
    id.not_null = true;
    SchemaColumn tags;
    tags.name = "tags";
    tags.type = "text";
    tags.dims = 1;
    CHECK(schema_header({id, tags}) ==
          R"({"id":{"type":"int4","pk_index":0,"not_null":true},"tags":{"type":"text","dims":1}})");
    CHECK(schema_header({}) == "{}");

    SchemaColumn all;
    all.name = "Weird \"col\"";
    all.type = "x";
    all.dims = 2;
    all.pk_index = 1;
    all.not_null = true;
    all.max_length = 1;
    all.length = 2;
    all.precision = 3;
    all.scale = -4;
    all.fields = "DAY";
    all.type_mod = 6;
    CHECK(schema_header({all}) ==
          R"({"Weird \"col\"":{"type":"x","dims":2,"pk_index":1,"not_null":true,"max_length":1,"length":2,)"
          R"("precision":3,"scale":-4,"fields":"DAY","type_mod":6}})");
}

TEST_CASE("electric: typmod decoding", "[electric][json][schema]") {
    auto col = [](const char *type, int32_t typmod) {
        SchemaColumn c;
        c.name = "c";
        c.type = type;
        apply_typmod(c, typmod);
        return schema_header({c});
    };
    CHECK(col("varchar", 259) == R"({"c":{"type":"varchar","max_length":255}})");  // varchar(255)
    CHECK(col("bpchar", 9) == R"({"c":{"type":"bpchar","length":5}})");  // char(5)
    CHECK(col("bit", 8) == R"({"c":{"type":"bit","length":8}})");
    CHECK(col("varbit", 16) == R"({"c":{"type":"varbit","length":16}})");
    CHECK(col("timestamptz", 3) == R"({"c":{"type":"timestamptz","precision":3}})");
    CHECK(col("time", 0) == R"({"c":{"type":"time","precision":0}})");
    CHECK(col("numeric", ((10 << 16) | 2) + 4) == R"({"c":{"type":"numeric","precision":10,"scale":2}})");
    CHECK(col("numeric", ((5 << 16) | (-2 & 0x7ff)) + 4) == R"({"c":{"type":"numeric","precision":5,"scale":-2}})");
    CHECK(col("interval", (((1 << 2) | (1 << 1)) << 16) | 0xFFFF) ==
          R"({"c":{"type":"interval","fields":"YEAR TO MONTH"}})");
    CHECK(col("interval", (0x7FFF << 16) | 3) == R"({"c":{"type":"interval","precision":3}})");
    CHECK(col("interval", (((1 << 3) | (1 << 10) | (1 << 11) | (1 << 12)) << 16) | 2) ==
          R"({"c":{"type":"interval","precision":2,"fields":"DAY TO SECOND"}})");
    CHECK(col("vector", 3) == R"({"c":{"type":"vector","type_mod":3}})");
    CHECK(col("varchar", -1) == R"({"c":{"type":"varchar"}})");
    CHECK(col("int4", -1) == R"({"c":{"type":"int4"}})");
}
