#include <catch2/catch.hpp>

#include "core/oversync/request.hpp"

using namespace es::oversync;

static std::string code_of(const std::function<void()> &f) {
    try {
        f();
    } catch (const ApiError &e) {
        return std::to_string(e.status) + " " + e.code;
    }
    return "ok";
}

TEST_CASE("push chunk parsing normalizes and validates rows", "[oversync][request]") {
    auto r = parse_push_chunk(
        R"({"start_row_ordinal":3,"rows":[{"schema":"","table":"Users","key":{"id":"k"},"op":"insert","payload":{"name":"x"}},
            {"schema":"app","table":"t","key":{"id":"k"},"op":"DELETE","base_row_version":7,"payload":null}]})",
        10);
    CHECK(r.start_row_ordinal == 3);
    REQUIRE(r.rows.size() == 2);
    CHECK(r.rows[0]["schema"] == "public");
    CHECK(r.rows[0]["table"] == "users");
    CHECK(r.rows[0]["op"] == "INSERT");
    CHECK(r.rows[0]["base_row_version"] == 0);
    CHECK_FALSE(r.rows[1].contains("payload"));

    CHECK(code_of([] { parse_push_chunk("{", 10); }) == "400 invalid_request");
    CHECK(code_of([] { parse_push_chunk("[]", 10); }) == "400 invalid_request");
    CHECK(code_of([] { parse_push_chunk(R"({"start_row_ordinal":"0","rows":[]})", 10); }) == "400 invalid_request");
    CHECK(code_of([] { parse_push_chunk(R"({"start_row_ordinal":1.5,"rows":[]})", 10); }) == "400 invalid_request");
    CHECK(code_of([] { parse_push_chunk(R"({"start_row_ordinal":-1,"rows":[{}]})", 10); }) == "400 push_chunk_invalid");
    CHECK(code_of([] { parse_push_chunk(R"({"start_row_ordinal":0,"rows":[]})", 10); }) == "400 push_chunk_invalid");
    CHECK(code_of([] { parse_push_chunk(R"({"start_row_ordinal":0})", 10); }) == "400 push_chunk_invalid");
    const char *row = R"({"table":"t","key":{"id":"a"},"op":"INSERT","payload":{}})";
    std::string two = std::string(R"({"rows":[)") + row + "," + row + "]}";
    CHECK(code_of([&] { parse_push_chunk(two, 1); }) == "400 push_chunk_invalid");  // too many
    CHECK(code_of([&] { parse_push_chunk(two, 10); }) == "400 push_chunk_invalid");  // duplicate
    for (const char *bad :
         {R"({"rows":[{"table":"t-x","key":{"id":"a"},"op":"INSERT","payload":{}}]})",
          R"({"rows":[{"table":"t","key":{"id":"a"},"op":"UPSERT","payload":{}}]})",
          R"({"rows":[{"table":"t","key":{},"op":"INSERT","payload":{}}]})",
          R"({"rows":[{"table":"t","key":"a","op":"INSERT","payload":{}}]})",
          R"({"rows":[{"table":"t","key":{"id":"a"},"op":"DELETE","payload":{}}]})",
          R"({"rows":[{"table":"t","key":{"id":"a"},"op":"UPDATE"}]})",
          R"({"rows":[{"table":"t","key":{"id":"a"},"op":"UPDATE","payload":[1]}]})",
          R"({"rows":[{"table":"t","key":{"id":"a"},"op":"UPDATE","payload":{"_sync_scope_id":"u"}}]})",
          R"({"rows":[{"table":"t","key":{"id":"a"},"op":"UPDATE","payload":{"Bad Col":1}}]})",
          R"({"rows":[{"table":"t","key":{"id":"a"},"op":"UPDATE","base_row_version":-1,"payload":{}}]})"}) {
        INFO(bad);
        CHECK(code_of([&] { parse_push_chunk(bad, 10); }) == "400 push_chunk_invalid");
    }
    CHECK(code_of([] {
              parse_push_chunk(R"({"rows":[{"table":7,"key":{"id":"a"},"op":"INSERT","payload":{}}]})", 10);
          }) == "400 invalid_request");
}

TEST_CASE("push create, connect and snapshot requests", "[oversync][request]") {
    auto c = parse_push_create(R"({"source_bundle_id":7,"planned_row_count":3,"initialization_id":" abc "})");
    CHECK(c.source_bundle_id == 7);
    CHECK(c.planned_row_count == 3);
    CHECK(c.initialization_id == std::optional<std::string>("abc"));
    CHECK_FALSE(
        parse_push_create(R"({"source_bundle_id":1,"planned_row_count":1,"initialization_id":""})").initialization_id);
    CHECK(code_of([] { parse_push_create(R"({"source_bundle_id":0,"planned_row_count":1})"); }) ==
          "400 push_session_invalid");
    CHECK(code_of([] { parse_push_create(R"({"source_bundle_id":1})"); }) == "400 push_session_invalid");
    CHECK(code_of([] { parse_push_create(R"({"source_bundle_id":true,"planned_row_count":1})"); }) ==
          "400 invalid_request");
    CHECK(code_of([] { parse_push_create(R"({"source_bundle_id":18446744073709551615,"planned_row_count":1})"); }) ==
          "400 invalid_request");

    CHECK(parse_connect(R"({"has_local_pending_rows":true,"sourceId":"legacy"})").has_local_pending_rows);
    CHECK_FALSE(parse_connect("{}").has_local_pending_rows);
    CHECK(code_of([] { parse_connect(""); }) == "400 invalid_request");
    CHECK(code_of([] { parse_connect(R"({"has_local_pending_rows":1})"); }) == "400 invalid_request");

    CHECK(parse_snapshot_create("", "s").source_replacement.is_null());
    CHECK(parse_snapshot_create("{}", "s").source_replacement.is_null());
    auto s = parse_snapshot_create(
        R"({"source_replacement":{"previous_source_id":"old","new_source_id":"new","reason":"history_pruned"}})",
        "old");
    CHECK(s.source_replacement["new_source_id"] == "new");
    for (
        const char *bad :
        {R"({"x":1})", R"({} {})", "[1]", "{",
         R"({"source_replacement":{"previous_source_id":"other","new_source_id":"n","reason":"history_pruned"}})",
         R"({"source_replacement":{"previous_source_id":"old","new_source_id":"old","reason":"history_pruned"}})",
         R"({"source_replacement":{"previous_source_id":"old","new_source_id":"n","reason":"boredom"}})",
         R"({"source_replacement":{"previous_source_id":"old","new_source_id":"n","reason":"history_pruned","x":"y"}})"}) {
        INFO(bad);
        CHECK(code_of([&] { parse_snapshot_create(bad, "old"); }) == "400 snapshot_session_invalid");
    }
}

TEST_CASE("query strings, integers, identifiers and error bodies", "[oversync][request]") {
    auto q = parse_query("after_bundle_seq=5&max_bundles=10&x=a%20b+c&after_bundle_seq=9&flag");
    CHECK(q["after_bundle_seq"] == "5");
    CHECK(q["x"] == "a b c");
    CHECK(q.count("flag") == 1);
    CHECK(parse_int64("123") == std::optional<int64_t>(123));
    CHECK(parse_int64("-5") == std::optional<int64_t>(-5));
    CHECK_FALSE(parse_int64(""));
    CHECK_FALSE(parse_int64("1.5"));
    CHECK_FALSE(parse_int64("12a"));
    CHECK_FALSE(parse_int64("99999999999999999999"));
    CHECK(parse_int64("9223372036854775807") == std::optional<int64_t>(INT64_MAX));
    CHECK(valid_identifier("abc_1"));
    CHECK_FALSE(valid_identifier("Abc"));
    CHECK_FALSE(valid_identifier(""));
    CHECK(is_canonical_uuid("550e8400-e29b-41d4-a716-446655440000"));
    CHECK_FALSE(is_canonical_uuid("550E8400-e29b-41d4-a716-446655440000"));
    CHECK(error_body("push_conflict", "m", {{"conflict", {{"op", "UPDATE"}}}}) ==
          "{\"error\":\"push_conflict\",\"message\":\"m\",\"conflict\":{\"op\":\"UPDATE\"}}\n");
    CHECK(error_body("x", "bad \xff utf8") == "{\"error\":\"x\",\"message\":\"bad \xEF\xBF\xBD utf8\"}\n");
}
