#include <catch2/catch.hpp>

#include "core/synckit/server.hpp"

using namespace es::synckit;
using nlohmann::json;

TEST_CASE("synckit permissions: patterns, read implied by write, admin", "[synckit]") {
    CHECK(pattern_matches("*", "anything"));
    CHECK(pattern_matches("team-*", "team-1"));
    CHECK(pattern_matches("team-*", "team-"));
    CHECK_FALSE(pattern_matches("team-*", "team"));
    CHECK(pattern_matches("doc-1", "doc-1"));
    CHECK_FALSE(pattern_matches("doc-1", "doc-10"));
    CHECK_FALSE(pattern_matches("", "x"));

    Permissions p;
    p.can_read = {"pub-*"};
    p.can_write = {"mine"};
    CHECK(can_read(p, "pub-a"));
    CHECK(can_read(p, "mine"));  // a writer may read what it writes
    CHECK_FALSE(can_read(p, "other"));
    CHECK(can_write(p, "mine"));
    CHECK_FALSE(can_write(p, "pub-a"));
    p.admin = true;
    CHECK(can_write(p, "other"));
}

TEST_CASE("synckit identity from claims", "[synckit]") {
    auto id = identity_from_claims(json::parse(
        R"({"userId":"u1","permissions":{"canRead":["*"],"canWrite":["d-*"],"isAdmin":false},"exp":1})"));
    REQUIRE(id.ok);
    CHECK(id.user_id == "u1");
    CHECK(id.permissions.can_read == std::vector<std::string>{"*"});
    CHECK(id.permissions.can_write == std::vector<std::string>{"d-*"});
    CHECK_FALSE(id.permissions.admin);

    // sub when there is no userId; no permissions: nothing allowed
    auto s = identity_from_claims(json::parse(R"({"sub":"s1"})"));
    REQUIRE(s.ok);
    CHECK(s.user_id == "s1");
    CHECK_FALSE(can_read(s.permissions, "x"));

    CHECK_FALSE(identity_from_claims(json::parse(R"({"permissions":{}})")).ok);
    CHECK_FALSE(identity_from_claims(json::parse(R"({"userId":""})")).ok);
    CHECK_FALSE(identity_from_claims(json::parse(R"({"userId":"u","permissions":[]})")).ok);
    CHECK_FALSE(identity_from_claims(json::parse(R"({"userId":"u","permissions":{"canRead":"*"}})")).ok);
    CHECK_FALSE(identity_from_claims(json::parse(R"({"userId":"u","permissions":{"canRead":[1]}})")).ok);
    CHECK_FALSE(identity_from_claims(json::parse(R"({"userId":"u","permissions":{"isAdmin":"yes"}})")).ok);
    json many = {{"userId", "u"}, {"permissions", {{"canRead", std::vector<std::string>(1001, "x")}}}};
    CHECK_FALSE(identity_from_claims(many).ok);
    CHECK_FALSE(identity_from_claims(json::array()).ok);

    auto a = anonymous_identity();
    CHECK(a.ok);
    CHECK(a.anonymous);
    CHECK(can_write(a.permissions, "whatever"));
}

TEST_CASE("synckit clientIds whose UTF-8 and UTF-16 orders agree", "[synckit]") {
    CHECK(client_id_orderable("client-abc"));
    CHECK(client_id_orderable("h\xC3\xA9llo"));  // é
    CHECK(client_id_orderable("\xF0\x9F\x98\x80"));  // U+1F600
    CHECK(client_id_orderable("\xED\x9F\xBF"));  // U+D7FF
    CHECK_FALSE(client_id_orderable("a\xEE\x80\x80"));  // U+E000
    CHECK_FALSE(client_id_orderable("\xEF\xBF\xBD"));  // U+FFFD
    // Where they agree, byte order is JavaScript's order.
    CHECK((std::string("\xED\x9F\xBF") < std::string("\xF0\x9F\x98\x80")) ==
          (compare_js("\xED\x9F\xBF", "\xF0\x9F\x98\x80") < 0));
    CHECK(compare_js("\xEF\xBF\xBD", "\xF0\x9F\x98\x80") > 0);  // the case that is refused
    CHECK(std::string("\xEF\xBF\xBD") < std::string("\xF0\x9F\x98\x80"));
}

TEST_CASE("synckit rate window: a sliding minute from two buckets", "[synckit]") {
    RateWindow r(10);
    int64_t t = 60000 * 100;  // start of a bucket
    for (int i = 0; i < 10; i++) CHECK(r.allow(t + i));
    CHECK_FALSE(r.allow(t + 20));  // the 11th in the same minute
    // Half a minute into the next bucket, half of the previous one still counts (5 of 10)...
    int64_t half = t + 60000 + 30000;
    for (int i = 0; i < 5; i++) CHECK(r.allow(half + i));
    CHECK_FALSE(r.allow(half + 10));
    // ...and two minutes later nothing does.
    for (int i = 0; i < 10; i++) CHECK(r.allow(t + 3 * 60000 + i));
    RateWindow off(0);
    for (int i = 0; i < 10000; i++) REQUIRE(off.allow(t));
}

TEST_CASE("synckit outgoing payloads", "[synckit]") {
    FieldState f{"title", "\"h\\u00e9\"", false, 1700000000123, "client-a", 7};
    auto d = json::parse(delta_payload("doc-1", f));
    CHECK(d == json::parse(R"({"type":"set","documentId":"doc-1","field":"title","value":"hé",
        "clock":{"electric_sync":7},"clientId":"client-a","timestamp":1700000000123,"messageId":"srv-7"})"));
    FieldState del{"gone", "", true, 5, "sql", 9};
    auto t = json::parse(delta_payload("doc-1", del));
    CHECK(t["type"] == "delete");
    CHECK(t["value"] == json::parse(R"({"__deleted":true})"));
    CHECK(is_tombstone(t["value"]));
    // a field named with quotes and a null value
    FieldState q{"a\"b", "null", false, 1, "c\\d", 2};
    auto qd = json::parse(delta_payload("d\"", q));
    CHECK(qd["field"] == "a\"b");
    CHECK(qd["documentId"] == "d\"");
    CHECK(qd["clientId"] == "c\\d");
    CHECK(qd["value"].is_null());

    auto s = json::parse(sync_response_payload("doc-1", "req-1", {f, del}, 9));
    CHECK(s == json::parse(R"({"documentId":"doc-1","requestId":"req-1","state":{"title":"hé"},
        "clock":{"electric_sync":9},"deltas":[]})"));
    CHECK_FALSE(json::parse(sync_response_payload("d", "", {}, 0)).contains("requestId"));

    CHECK(json::parse(ack_payload("m1")) == json::parse(R"({"messageId":"m1"})"));
    CHECK(json::parse(ack_payload("m1", 3, "c1")) == json::parse(R"({"messageId":"m1","count":3,"chunkId":"c1"})"));
    CHECK(request_id_of(json::parse(R"({"requestId":"r"})")) == "r");
    CHECK(request_id_of(json::parse(R"({"id":"i"})")) == "i");
    CHECK(request_id_of(json::parse(R"({"id":5})")).empty());
    CHECK(json::parse(auth_success_payload(anonymous_identity()))["permissions"]["canWrite"] == json::array({"*"}));
}

TEST_CASE("synckit awareness: update, state, expiry, owner leaving", "[synckit]") {
    AwarenessStore s;
    AwarenessUpdate u{"doc", "alice", json::parse(R"({"cursor":3})"), 1};
    auto out = json::parse(s.update(u, 11, 1000, 30000));
    CHECK(out == json::parse(R"({"documentId":"doc","clientId":"alice","state":{"cursor":3},"clock":1})"));
    s.update({"doc", "bob", json::parse(R"({"cursor":5})"), 2}, 12, 20000, 30000);
    auto st = json::parse(s.state_payload("doc"));
    REQUIRE(st["states"].size() == 2);
    CHECK(st["states"][0]["clientId"] == "alice");
    CHECK(json::parse(s.state_payload("none"))["states"].empty());

    auto gone = s.expire(31000);  // alice's entry (set at 1000) has expired, bob's not
    REQUIRE(gone.size() == 1);
    CHECK(json::parse(gone[0].second)["clientId"] == "alice");
    CHECK(json::parse(gone[0].second)["state"].is_null());
    CHECK(s.size() == 1);

    auto left = s.drop_owner(12);
    REQUIRE(left.size() == 1);
    CHECK(left[0].first == "doc");
    CHECK(s.size() == 0);

    // a null state removes the entry and is passed on
    s.update(u, 11, 0, 30000);
    auto n = json::parse(s.update({"doc", "alice", nullptr, 4}, 11, 0, 30000));
    CHECK(n["state"].is_null());
    CHECK(s.size() == 0);

    // bounded per document
    for (size_t i = 0; i < AwarenessStore::kMaxPerDocument + 10; i++)
        s.update({"big", "c" + std::to_string(i), json::object(), 0}, 1, int64_t(i), 30000);
    CHECK(s.size() == AwarenessStore::kMaxPerDocument);
}

TEST_CASE("synckit chunk reassembly", "[synckit]") {
    std::string b64;
    CHECK(base64_decode("aGVsbG8=", b64));
    CHECK(b64 == "hello");
    CHECK(base64_decode("", b64));
    CHECK(b64.empty());
    CHECK_FALSE(base64_decode("aGVsbG8", b64));
    CHECK_FALSE(base64_decode("a=Vs", b64));
    CHECK_FALSE(base64_decode("aG*s", b64));

    ChunkAssembler a(64);
    auto r1 = a.add({"c1", 2, 1, "d29ybGQ="}, 0);  // "world", out of order
    CHECK_FALSE(r1.complete);
    CHECK(r1.error.empty());
    auto r2 = a.add({"c1", 2, 0, "aGVsbG8g"}, 10);  // "hello "
    REQUIRE(r2.complete);
    CHECK(r2.bytes == "hello world");
    CHECK(a.pending_sets() == 0);

    // a total that changes within a set is refused
    a.add({"c2", 3, 0, "YQ=="}, 0);
    CHECK_FALSE(a.add({"c2", 2, 1, "YQ=="}, 0).error.empty());
    // over the byte limit
    std::string big(100, 'Q');
    CHECK_FALSE(a.add({"c3", 2, 0, big}, 0).error.empty());
    // at most kMaxSets in progress; an old one expires
    ChunkAssembler b;
    for (size_t i = 0; i < ChunkAssembler::kMaxSets; i++) CHECK(b.add({"s" + std::to_string(i), 2, 0, "YQ=="}, 0).error.empty());
    CHECK_FALSE(b.add({"s9", 2, 0, "YQ=="}, 0).error.empty());
    CHECK(b.add({"s9", 2, 0, "YQ=="}, ChunkAssembler::kTtlMs + 1).error.empty());
}

TEST_CASE("synckit awareness: a clientId's entry belongs to the connection that set it", "[synckit]") {
    AwarenessStore s;
    CHECK_FALSE(s.update({"doc", "alice", json::parse(R"({"x":1})"), 1}, 1, 0, 30000).empty());
    CHECK(s.update({"doc", "alice", json::parse(R"({"x":2})"), 2}, 2, 10, 30000).empty());  // another connection
    CHECK(s.update({"doc", "alice", nullptr, 3}, 2, 10, 30000).empty());  // nor clear it
    CHECK(s.size() == 1);
    CHECK_FALSE(s.update({"doc", "alice", json::parse(R"({"x":3})"), 3}, 1, 20, 30000).empty());  // its owner can
    CHECK_FALSE(s.update({"doc", "alice", json::parse(R"({"x":4})"), 4}, 2, 40000, 30000).empty());  // once expired
}
