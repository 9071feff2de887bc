#include <catch2/catch.hpp>

#include "core/synckit/frame.hpp"

#include <functional>

using namespace es::synckit;
using nlohmann::json;

namespace {

std::string unhex(std::string_view h) {
    std::string o;
    auto v = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
    for (size_t i = 0; i + 1 < h.size(); i += 2) o += char(v(h[i]) * 16 + v(h[i + 1]));
    return o;
}

// "code field" of the PayloadError f throws, or "ok".
std::string err_of(const std::function<void()> &f) {
    try {
        f();
    } catch (const PayloadError &e) {
        return std::string(payload_error_name(e.code)) + " " + e.field;
    }
    return "ok";
}

std::string header(uint8_t code, int64_t ts, uint32_t len) {
    return encode_frame_code(code, ts, std::string(len, 'x')).substr(0, kHeaderBytes);
}

std::string nested_arrays(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

}  // namespace

// Produced once by the real SDK (@synckit-js/sdk 0.1.1 from npm, Node 20): its ESM entry with
// globalThis.WebSocket replaced by a recorder, Date.now() fixed at 1700000000123 and
// Math.random() at 0.5; `new SyncKit({serverUrl, clientId: "client-a", storage: "memory"})`,
// `sk.document("doc-1")` (sends SUBSCRIBE), then `doc.set("title", "héllo")` (sends DELTA). The
// bytes are what WebSocketClient.encodeMessage passed to ws.send(), in hex.
static const char *kSdkSubscribe = "100000018bcfe5687b000000167b22646f63756d656e744964223a22646f632d31227d";
static const char *kSdkDelta =
    "200000018bcfe5687b000000a87b2274797065223a22736574222c22646f63756d656e744964223a22646f632d31222c2266"
    "69656c64223a227469746c65222c2276616c7565223a2268c3a96c6c6f222c22636c6f636b223a7b22636c69656e742d61"
    "223a317d2c22636c69656e744964223a22636c69656e742d61222c2274696d657374616d70223a31373030303030303030"
    "3132332c226d6573736167654964223a226d73672d6c6f79773376356e2d69227d";

TEST_CASE("every message type round-trips through a binary frame", "[synckit][frame]") {
    REQUIRE(all_types().size() == 17);
    for (MessageType t : all_types()) {
        for (int64_t ts : {int64_t(0), int64_t(1700000000123), int64_t(-1), INT64_MAX, INT64_MIN}) {
            json payload = {{"documentId", "doc-1"}, {"n", 1}, {"s", "h\xc3\xa9"}};
            std::string bytes = encode_frame_json(t, ts, payload);
            CHECK(uint8_t(bytes[0]) == uint8_t(t));
            auto r = decode_frame(bytes);
            INFO(type_name(t) << " " << r.message);
            REQUIRE(r.ok());
            CHECK(r.frame.type == t);
            CHECK(r.frame.code == uint8_t(t));
            CHECK(r.frame.timestamp == ts);
            CHECK_FALSE(r.frame.text);
            CHECK(r.frame.payload == payload);
            CHECK(r.consumed == bytes.size());
            CHECK(type_from_name(type_name(t)) == t);
            CHECK(type_from_code(uint8_t(t)) == t);
        }
    }
    CHECK(known_to_sdk_0_1_1(MessageType::Delta));
    CHECK(known_to_sdk_0_1_1(MessageType::Error));
    CHECK_FALSE(known_to_sdk_0_1_1(MessageType::DeltaBatch));
    CHECK_FALSE(known_to_sdk_0_1_1(MessageType::AwarenessState));
}

TEST_CASE("type codes and aliases", "[synckit][frame]") {
    CHECK(uint8_t(MessageType::Auth) == 0x01);
    CHECK(uint8_t(MessageType::SyncResponse) == 0x13);
    CHECK(uint8_t(MessageType::DeltaBatch) == 0x50);
    CHECK(uint8_t(MessageType::DeltaBatchChunk) == 0x23);
    CHECK(uint8_t(MessageType::AwarenessState) == 0x42);
    CHECK(uint8_t(MessageType::Error) == 0xFF);
    // The Go server's DELTA_BATCH code decodes as DeltaBatch, keeping the wire code.
    CHECK(type_from_code(0x22) == MessageType::DeltaBatch);
    auto r = decode_frame(encode_frame_code(0x22, 7, R"({"docId":"d","deltas":[]})"));
    REQUIRE(r.ok());
    CHECK(r.frame.type == MessageType::DeltaBatch);
    CHECK(r.frame.code == 0x22);
    // Codes only the servers define (SYNC_STEP1/2) and anything else are unknown.
    for (int c : {0x00, 0x04, 0x14, 0x15, 0x24, 0x43, 0x51, 0xFE}) CHECK_FALSE(type_from_code(uint8_t(c)));
    CHECK_FALSE(type_from_name("sync_step1"));
    CHECK_FALSE(type_from_name("DELTA"));
}

TEST_CASE("frames produced by the real SDK 0.1.1 encoder decode", "[synckit][frame][sdk]") {
    std::string sub = unhex(kSdkSubscribe);
    auto r = decode_frame(sub);
    REQUIRE(r.ok());
    CHECK(r.frame.type == MessageType::Subscribe);
    CHECK(r.frame.timestamp == 1700000000123);
    CHECK(parse_document_request(r.frame.payload).document_id == "doc-1");
    // Our encoder writes the same bytes for the same payload text.
    CHECK(encode_frame(MessageType::Subscribe, 1700000000123, R"({"documentId":"doc-1"})") == sub);

    std::string delta = unhex(kSdkDelta);
    r = decode_frame(delta);
    REQUIRE(r.ok());
    CHECK(r.frame.type == MessageType::Delta);
    CHECK(r.frame.timestamp == 1700000000123);
    auto d = parse_delta(r.frame.payload, r.frame.timestamp);
    CHECK(d.document_id == "doc-1");
    CHECK(d.field == "title");
    CHECK(d.value == "h\xc3\xa9llo");
    CHECK_FALSE(d.delete_field);
    CHECK(d.clock == VectorClock{{"client-a", 1}});
    CHECK(d.client_id == "client-a");
    CHECK(d.timestamp == 1700000000123);
    CHECK(d.message_id == "msg-loyw3v5n-i");
    CHECK(encode_frame(MessageType::Delta, 1700000000123, delta.substr(kHeaderBytes)) == delta);
}

TEST_CASE("binary frame errors", "[synckit][frame][errors]") {
    auto ok = encode_frame(MessageType::Ping, 1, "{}");

    auto r = decode_frame("");
    CHECK(r.error == FrameError::TruncatedHeader);
    CHECK(r.needed == kHeaderBytes);
    for (size_t n = 1; n < kHeaderBytes; n++) {
        r = decode_frame(ok.substr(0, n));
        CHECK(r.error == FrameError::TruncatedHeader);
        CHECK(r.needed == kHeaderBytes);
        CHECK_FALSE(r.message.empty());
    }

    // Declared length larger than what came: the total the frame needs is reported.
    r = decode_frame(ok.substr(0, ok.size() - 1));
    CHECK(r.error == FrameError::LengthMismatch);
    CHECK(r.needed == ok.size());
    r = decode_frame(header(0x30, 1, 100) + "{}");
    CHECK(r.error == FrameError::LengthMismatch);
    CHECK(r.needed == kHeaderBytes + 100);
    // Bytes after the payload: a mismatch for a WebSocket message, left over in stream mode.
    r = decode_frame(ok + "{}");
    CHECK(r.error == FrameError::LengthMismatch);
    CHECK(r.needed == 0);
    DecodeOptions stream;
    stream.allow_trailing = true;
    r = decode_frame(ok + ok, stream);
    REQUIRE(r.ok());
    CHECK(r.consumed == ok.size());

    // Over the limit, decided from the header alone (nothing waited for or allocated).
    r = decode_frame(header(0x20, 1, 0xFFFFFFFFu));
    CHECK(r.error == FrameError::TooLong);
    CHECK(r.needed == 0);
    r = decode_frame(header(0x20, 1, uint32_t(kDefaultMaxMessageBytes + 1)));
    CHECK(r.error == FrameError::TooLong);
    DecodeOptions small;
    small.max_message_bytes = 10;
    CHECK(decode_frame(encode_frame(MessageType::Ping, 1, R"({"a":"123"})"), small).error == FrameError::TooLong);
    CHECK(decode_frame(encode_frame(MessageType::Ping, 1, R"({"a":"12"})"), small).ok());

    // Unknown type: refused from the first byte.
    r = decode_frame(std::string(1, char(0x99)));
    CHECK(r.error == FrameError::UnknownType);
    CHECK(r.message.find("0x99") != std::string::npos);
    CHECK(decode_frame(encode_frame_code(0x14, 1, "{}")).error == FrameError::UnknownType);
    CHECK(decode_frame(encode_frame_code(0x00, 1, "{}")).error == FrameError::UnknownType);

    // Payloads that are not JSON, or not an object.
    CHECK(decode_frame(encode_frame(MessageType::Delta, 1, "")).error == FrameError::NotJson);
    CHECK(decode_frame(encode_frame(MessageType::Delta, 1, "{")).error == FrameError::NotJson);
    CHECK(decode_frame(encode_frame(MessageType::Delta, 1, "{} {}")).error == FrameError::NotJson);
    CHECK(decode_frame(encode_frame(MessageType::Delta, 1, "{\"a\":\"\xff\"}")).error == FrameError::NotJson);
    CHECK(decode_frame(encode_frame(MessageType::Delta, 1, "{\"a\":1} // c")).error == FrameError::NotJson);
    CHECK(decode_frame(encode_frame(MessageType::Delta, 1, "[1]")).error == FrameError::NotObject);
    CHECK(decode_frame(encode_frame(MessageType::Delta, 1, "null")).error == FrameError::NotObject);
    CHECK(decode_frame(encode_frame(MessageType::Delta, 1, "\"s\"")).error == FrameError::NotObject);

    for (FrameError e : {FrameError::TruncatedHeader, FrameError::LengthMismatch, FrameError::TooLong,
                         FrameError::UnknownType, FrameError::NotJson, FrameError::TooDeep, FrameError::NotObject})
        CHECK(std::string(frame_error_name(e)) != "unknown");
}

TEST_CASE("a 100,000-deep payload is refused without building it", "[synckit][frame][depth]") {
    std::string deep_value = "{\"value\":" + nested_arrays(100000) + "}";
    auto r = decode_frame(encode_frame(MessageType::Delta, 1, deep_value));
    CHECK(r.error == FrameError::TooDeep);
    CHECK(r.frame.payload.is_null());

    std::string objs;
    for (int i = 0; i < 100000; i++) objs += "{\"a\":";
    objs += "1" + std::string(100000, '}');
    CHECK(decode_frame(encode_frame(MessageType::AwarenessUpdate, 1, objs)).error == FrameError::TooDeep);
    // The same as a text frame.
    CHECK(decode_frame(nested_arrays(100000)).error == FrameError::TooDeep);
    CHECK(decode_frame("{\"type\":\"delta\",\"value\":" + nested_arrays(100000) + "}").error == FrameError::TooDeep);

    // 64 levels in all are accepted (the payload object is the first), 65 are not.
    CHECK(decode_frame(encode_frame(MessageType::Delta, 1, "{\"v\":" + nested_arrays(63) + "}")).ok());
    CHECK(decode_frame(encode_frame(MessageType::Delta, 1, "{\"v\":" + nested_arrays(64) + "}")).error ==
          FrameError::TooDeep);
    DecodeOptions shallow;
    shallow.max_depth = 2;
    CHECK(decode_frame(encode_frame(MessageType::Delta, 1, R"({"v":[[1]]})"), shallow).error == FrameError::TooDeep);
}

TEST_CASE("JSON text frames (the Go server's form)", "[synckit][frame][text]") {
    // Flat: payload members next to "type" (which is removed from the payload).
    auto r = decode_frame(
        R"({"type":"delta","docId":"d","field":"f","value":1,"clientId":"c","timestamp":42,"id":"m1"})");
    REQUIRE(r.ok());
    CHECK(r.frame.text);
    CHECK(r.frame.type == MessageType::Delta);
    CHECK(r.frame.code == 0);
    CHECK(r.frame.timestamp == 42);
    CHECK_FALSE(r.frame.payload.contains("type"));
    auto d = parse_delta(r.frame.payload, r.frame.timestamp);
    CHECK(d.document_id == "d");
    CHECK(d.timestamp == 42);
    CHECK(d.message_id == "m1");
    CHECK(d.clock.empty());

    // Nested: {"type", "payload", "timestamp"}, as the SDK's messages look before encoding.
    r = decode_frame(R"({"type":"subscribe","payload":{"documentId":"doc"},"timestamp":5})");
    REQUIRE(r.ok());
    CHECK(r.frame.type == MessageType::Subscribe);
    CHECK(r.frame.timestamp == 5);
    CHECK(r.frame.payload == json{{"documentId", "doc"}});
    // The nested payload keeps its own "type" (a delta's "set"/"delete").
    r = decode_frame(R"({"type":"delta","payload":{"type":"delete","documentId":"d","field":"f","clientId":"c"}})");
    REQUIRE(r.ok());
    CHECK(r.frame.timestamp == 0);
    CHECK(parse_delta(r.frame.payload, 9).delete_field);

    // A numeric type code, the alias name, and a Go alias code.
    r = decode_frame(R"({"type":32,"documentId":"d"})");
    REQUIRE(r.ok());
    CHECK(r.frame.type == MessageType::Delta);
    CHECK(r.frame.code == 0x20);
    CHECK(decode_frame(R"({"type":"delta_batch","docId":"d"})").frame.type == MessageType::DeltaBatch);
    CHECK(decode_frame(R"({"type":34,"docId":"d"})").frame.type == MessageType::DeltaBatch);
    CHECK(decode_frame(R"({"type":"ping"})").frame.payload == json::object());
    // A non-numeric timestamp is ignored (0).
    CHECK(decode_frame(R"({"type":"ping","timestamp":"x"})").frame.timestamp == 0);

    CHECK(decode_frame(R"({"type":"nope"})").error == FrameError::UnknownType);
    CHECK(decode_frame(R"({"type":20})").error == FrameError::UnknownType);
    CHECK(decode_frame(R"({"type":true})").error == FrameError::UnknownType);
    CHECK(decode_frame(R"({"type":1.5})").error == FrameError::UnknownType);
    CHECK(decode_frame(R"({"documentId":"d"})").error == FrameError::UnknownType);
    CHECK(decode_frame("[1,2]").error == FrameError::NotObject);
    CHECK(decode_frame("{").error == FrameError::NotJson);
    CHECK(decode_frame("[").error == FrameError::NotJson);
    DecodeOptions small;
    small.max_message_bytes = 16;
    CHECK(decode_frame(R"({"type":"ping","x":"12345678"})", small).error == FrameError::TooLong);
}

TEST_CASE("encode_frame writes the header big-endian", "[synckit][frame]") {
    std::string f = encode_frame(MessageType::Ack, 0x0102030405060708, R"({"messageId":"m"})");
    REQUIRE(f.size() == kHeaderBytes + 17);
    CHECK(f.substr(0, kHeaderBytes) == unhex("21010203040506070800000011"));
    CHECK(encode_frame(MessageType::Pong, -2, "").substr(0, 9) == unhex("31fffffffffffffffe"));
    // Invalid UTF-8 in a value is replaced, so the frame is always JSON.
    auto r = decode_frame(encode_frame_json(MessageType::Error, 1, error_payload("X", "bad \xff byte")));
    REQUIRE(r.ok());
    CHECK(r.frame.payload["code"] == "X");
    CHECK(r.frame.payload["error"] == "bad \xef\xbf\xbd byte");
    CHECK_FALSE(error_payload("X", "m", json{{"documentId", "d"}})["details"].is_null());
    CHECK_FALSE(error_payload("X", "m").contains("details"));
}

TEST_CASE("delta payloads", "[synckit][payload][delta]") {
    auto d = parse_delta(json::parse(R"({"type":"set","documentId":"doc","field":"f","value":{"a":[1,null]},
        "clock":{"c1":3,"c2":0},"clientId":"c1","timestamp":1700000000000,"messageId":"m"})"),
                         5);
    CHECK(d.value == json::parse(R"({"a":[1,null]})"));
    CHECK(d.clock == VectorClock{{"c1", 3}, {"c2", 0}});
    CHECK(d.timestamp == 1700000000000);

    // null is a value; a tombstone value or type "delete" deletes the field.
    CHECK(parse_delta(json::parse(R"({"documentId":"d","field":"f","value":null,"clientId":"c"})"), 5).value.is_null());
    d = parse_delta(json::parse(R"({"documentId":"d","field":"f","value":{"__deleted":true},"clientId":"c"})"), 5);
    CHECK(d.delete_field);
    CHECK(d.value == tombstone());
    CHECK(d.timestamp == 5);  // from the frame
    d = parse_delta(json::parse(R"({"type":"delete","documentId":"d","field":"f","clientId":"c"})"), 5);
    CHECK(d.delete_field);
    CHECK(d.value == tombstone());
    CHECK_FALSE(parse_delta(json::parse(R"({"documentId":"d","field":"f","value":{"__deleted":false},
        "clientId":"c"})"),
                            5)
                    .delete_field);
    // Aliases: docId, vectorClock, id; integral floats count as integers.
    d = parse_delta(json::parse(R"({"docId":"d","field":"f","value":1,"clientId":"c","vectorClock":{"c":2.0},
        "timestamp":1e3,"id":"x"})"),
                    5);
    CHECK(d.document_id == "d");
    CHECK(d.clock == VectorClock{{"c", 2}});
    CHECK(d.timestamp == 1000);
    CHECK(d.message_id == "x");
    CHECK(parse_delta(json::parse(R"({"documentId":"d","docId":"d","field":"f","value":1,"clientId":"c"})"), 0)
              .document_id == "d");

    auto bad = [](const char *text) { return err_of([&] { parse_delta(json::parse(text), 0); }); };
    CHECK(bad(R"([])") == "wrong_type payload");
    CHECK(bad(R"({"field":"f","value":1,"clientId":"c"})") == "missing documentId");
    CHECK(bad(R"({"documentId":null,"field":"f","value":1,"clientId":"c"})") == "missing documentId");
    CHECK(bad(R"({"documentId":1,"field":"f","value":1,"clientId":"c"})") == "wrong_type documentId");
    CHECK(bad(R"({"documentId":"","field":"f","value":1,"clientId":"c"})") == "empty documentId");
    CHECK(bad(R"({"documentId":"a","docId":"b","field":"f","value":1,"clientId":"c"})") == "conflict documentId");
    CHECK(bad(R"({"docId":["d"],"field":"f","value":1,"clientId":"c"})") == "wrong_type docId");
    CHECK(bad(R"({"documentId":"a\u0000b","field":"f","value":1,"clientId":"c"})") == "has_nul documentId");
    std::string long_id = std::string(R"({"documentId":")") + std::string(257, 'x') +
                          R"(","field":"f","value":1,"clientId":"c"})";
    CHECK(bad(long_id.c_str()) == "too_long documentId");
    CHECK(bad(R"({"documentId":"d","value":1,"clientId":"c"})") == "missing field");
    CHECK(bad(R"({"documentId":"d","field":7,"value":1,"clientId":"c"})") == "wrong_type field");
    CHECK(bad(R"({"documentId":"d","field":"","value":1,"clientId":"c"})") == "empty field");
    CHECK(bad(R"({"documentId":"d","field":"f","clientId":"c"})") == "missing value");
    CHECK(bad(R"({"documentId":"d","field":"f","value":["a\u0000"],"clientId":"c"})") == "has_nul value");
    CHECK(bad(R"({"documentId":"d","field":"f","value":{"k\u0000":1},"clientId":"c"})") == "has_nul value");
    CHECK(bad(R"({"documentId":"d","field":"f","value":1})") == "missing clientId");
    CHECK(bad(R"({"documentId":"d","field":"f","value":1,"clientId":false})") == "wrong_type clientId");
    CHECK(bad(R"({"type":"merge","documentId":"d","field":"f","value":1,"clientId":"c"})") == "invalid type");
    CHECK(bad(R"({"type":1,"documentId":"d","field":"f","value":1,"clientId":"c"})") == "wrong_type type");
    CHECK(bad(R"({"documentId":"d","field":"f","value":1,"clientId":"c","clock":[1]})") == "wrong_type clock");
    CHECK(bad(R"({"documentId":"d","field":"f","value":1,"clientId":"c","clock":{"a":-1}})") ==
          "out_of_range clock.a");
    CHECK(bad(R"({"documentId":"d","field":"f","value":1,"clientId":"c","clock":{"a":1.5}})") ==
          "out_of_range clock.a");
    CHECK(bad(R"({"documentId":"d","field":"f","value":1,"clientId":"c","clock":{"a":9007199254740992}})") ==
          "out_of_range clock.a");
    CHECK(bad(R"({"documentId":"d","field":"f","value":1,"clientId":"c","clock":{"a":"1"}})") ==
          "wrong_type clock.a");
    CHECK(bad(R"({"documentId":"d","field":"f","value":1,"clientId":"c","clock":{"":1}})") == "empty clock key");
    CHECK(bad(R"({"documentId":"d","field":"f","value":1,"clientId":"c","timestamp":"now"})") ==
          "wrong_type timestamp");
    CHECK(bad(R"({"documentId":"d","field":"f","value":1,"clientId":"c","timestamp":-5})") ==
          "out_of_range timestamp");
    CHECK(bad(R"({"documentId":"d","field":"f","value":1,"clientId":"c","messageId":3})") == "wrong_type messageId");
    try {
        parse_delta(json::parse(R"({"documentId":"d","value":1,"clientId":"c"})"), 0);
        FAIL("no error");
    } catch (const PayloadError &e) {
        CHECK(std::string(e.what()) == "field is required");
    }
}

TEST_CASE("auth, subscribe, unsubscribe, sync_request, ack payloads", "[synckit][payload]") {
    auto a = parse_auth(json::parse(R"({"token":"t.k.n","clientId":"c"})"));
    CHECK(a.token == "t.k.n");
    CHECK(a.client_id == "c");
    CHECK_FALSE(a.api_key);
    CHECK_FALSE(parse_auth(json::object()).token);
    CHECK(err_of([] { parse_auth(json::parse(R"({"token":5})")); }) == "wrong_type token");
    CHECK(err_of([] { parse_auth(json::parse(R"({"token":""})")); }) == "empty token");
    CHECK(err_of([] { parse_auth(json{{"token", std::string(16385, 'a')}}); }) == "too_long token");
    CHECK(err_of([] { parse_auth(json::array()); }) == "wrong_type payload");

    CHECK(parse_document_request(json::parse(R"({"documentId":"x"})")).document_id == "x");
    CHECK(parse_document_request(json::parse(R"({"docId":"y"})")).document_id == "y");
    CHECK(err_of([] { parse_document_request(json::object()); }) == "missing documentId");
    PayloadLimits tiny;
    tiny.max_id_bytes = 3;
    CHECK(err_of([&] { parse_document_request(json::parse(R"({"documentId":"abcd"})"), tiny); }) ==
          "too_long documentId");

    auto s = parse_sync_request(json::parse(R"({"documentId":"x","vectorClock":{"a":1}})"));
    CHECK(s.clock == VectorClock{{"a", 1}});
    CHECK(parse_sync_request(json::parse(R"({"documentId":"x"})")).clock.empty());
    CHECK(parse_sync_request(json::parse(R"({"documentId":"x","clock":{"b":2}})")).clock == VectorClock{{"b", 2}});
    CHECK(err_of([] { parse_sync_request(json::parse(R"({"documentId":"x","clock":{"a":true}})")); }) ==
          "wrong_type clock.a");

    CHECK(parse_ack(json::parse(R"({"messageId":"m"})")).message_id == "m");
    CHECK(parse_ack(json::parse(R"({"id":"m2"})")).message_id == "m2");
    CHECK(err_of([] { parse_ack(json::object()); }) == "missing messageId");
}

TEST_CASE("awareness update payloads", "[synckit][payload][awareness]") {
    auto u = parse_awareness_update(
        json::parse(R"({"documentId":"d","clientId":"c","state":{"cursor":{"x":1}},"clock":4})"));
    CHECK(u.state["cursor"]["x"] == 1);
    CHECK(u.clock == 4);
    u = parse_awareness_update(json::parse(R"({"docId":"d","clientId":"c","state":null})"));
    CHECK(u.state.is_null());
    CHECK(u.clock == 0);
    auto bad = [](const char *t) { return err_of([&] { parse_awareness_update(json::parse(t)); }); };
    CHECK(bad(R"({"clientId":"c","state":{}})") == "missing documentId");
    CHECK(bad(R"({"documentId":"d","state":{}})") == "missing clientId");
    CHECK(bad(R"({"documentId":"d","clientId":"c"})") == "missing state");
    CHECK(bad(R"({"documentId":"d","clientId":"c","state":[1]})") == "wrong_type state");
    CHECK(bad(R"({"documentId":"d","clientId":"c","state":"here"})") == "wrong_type state");
    CHECK(bad(R"({"documentId":"d","clientId":"c","state":{"n":"\u0000"}})") == "has_nul state");
    CHECK(bad(R"({"documentId":"d","clientId":"c","state":{},"clock":-1})") == "out_of_range clock");
}

TEST_CASE("delta batch and chunk payloads", "[synckit][payload][batch]") {
    auto b = parse_delta_batch(json::parse(R"({"documentId":"d","clientId":"c","timestamp":10,"clock":{"c":1},
        "messageId":"b1","deltas":[{"field":"a","value":1},
        {"field":"b","value":{"__deleted":true},"clientId":"e","timestamp":11,"clock":{"e":5}},
        {"documentId":"d","field":"c","type":"delete"}]})"),
                               99);
    CHECK(b.document_id == "d");
    CHECK(b.message_id == "b1");
    REQUIRE(b.deltas.size() == 3);
    CHECK(b.deltas[0].document_id == "d");
    CHECK(b.deltas[0].client_id == "c");
    CHECK(b.deltas[0].timestamp == 10);
    CHECK(b.deltas[0].clock == VectorClock{{"c", 1}});
    CHECK(b.deltas[1].client_id == "e");
    CHECK(b.deltas[1].timestamp == 11);
    CHECK(b.deltas[1].delete_field);
    CHECK(b.deltas[1].clock == VectorClock{{"e", 5}});
    CHECK(b.deltas[2].delete_field);
    // Without batch defaults, the frame timestamp.
    b = parse_delta_batch(json::parse(R"({"docId":"d","deltas":[{"field":"a","value":1,"clientId":"c"}]})"), 99);
    CHECK(b.deltas[0].timestamp == 99);

    auto bad = [](const std::string &t) { return err_of([&] { parse_delta_batch(json::parse(t), 0); }); };
    CHECK(bad(R"({"deltas":[]})") == "missing documentId");
    CHECK(bad(R"({"documentId":"d"})") == "missing deltas");
    CHECK(bad(R"({"documentId":"d","deltas":{}})") == "wrong_type deltas");
    CHECK(bad(R"({"documentId":"d","deltas":[]})") == "empty deltas");
    CHECK(bad(R"({"documentId":"d","deltas":[1]})") == "wrong_type deltas[0]");
    CHECK(bad(R"({"documentId":"d","clientId":"c","deltas":[{"field":"a","value":1},{"value":1}]})") ==
          "missing deltas[1].field");
    CHECK(bad(R"({"documentId":"d","deltas":[{"field":"a","value":1}]})") == "missing deltas[0].clientId");
    CHECK(bad(R"({"documentId":"d","clientId":"c","deltas":[{"documentId":"e","field":"a","value":1}]})") ==
          "conflict deltas[0].documentId");
    CHECK(bad(R"({"documentId":"d","clientId":"c","deltas":[{"field":"a","value":1,"clock":{"x":-1}}]})") ==
          "out_of_range deltas[0].clock.x");
    std::string many = R"({"documentId":"d","clientId":"c","deltas":[)";
    for (int i = 0; i < 1001; i++) many += std::string(i ? "," : "") + R"({"field":"a","value":1})";
    many += "]}";
    CHECK(bad(many) == "too_long deltas");

    auto c = parse_delta_batch_chunk(json::parse(R"({"chunkId":"k","totalChunks":3,"chunkIndex":2,"data":"eyJ9"})"));
    CHECK(c.chunk_id == "k");
    CHECK(c.total_chunks == 3);
    CHECK(c.chunk_index == 2);
    CHECK(c.data == "eyJ9");
    CHECK(parse_delta_batch_chunk(json::parse(R"({"chunkId":"k","totalChunks":1,"chunkIndex":0,"data":"YQ=="})"))
              .data == "YQ==");
    auto badc = [](const char *t) { return err_of([&] { parse_delta_batch_chunk(json::parse(t)); }); };
    CHECK(badc(R"({"totalChunks":1,"chunkIndex":0,"data":"YQ=="})") == "missing chunkId");
    CHECK(badc(R"({"chunkId":"k","chunkIndex":0,"data":"YQ=="})") == "missing totalChunks");
    CHECK(badc(R"({"chunkId":"k","totalChunks":0,"chunkIndex":0,"data":"YQ=="})") == "out_of_range totalChunks");
    CHECK(badc(R"({"chunkId":"k","totalChunks":1025,"chunkIndex":0,"data":"YQ=="})") == "out_of_range totalChunks");
    CHECK(badc(R"({"chunkId":"k","totalChunks":2,"data":"YQ=="})") == "missing chunkIndex");
    CHECK(badc(R"({"chunkId":"k","totalChunks":2,"chunkIndex":2,"data":"YQ=="})") == "invalid chunkIndex");
    CHECK(badc(R"({"chunkId":"k","totalChunks":2,"chunkIndex":1})") == "missing data");
    CHECK(badc(R"({"chunkId":"k","totalChunks":2,"chunkIndex":1,"data":7})") == "wrong_type data");
    CHECK(badc(R"({"chunkId":"k","totalChunks":2,"chunkIndex":1,"data":""})") == "empty data");
    CHECK(badc(R"({"chunkId":"k","totalChunks":2,"chunkIndex":1,"data":"YQ="})") == "invalid data");
    CHECK(badc(R"({"chunkId":"k","totalChunks":2,"chunkIndex":1,"data":"Y=Q="})") == "invalid data");
    CHECK(badc(R"({"chunkId":"k","totalChunks":2,"chunkIndex":1,"data":"Y-Q_"})") == "invalid data");
}

TEST_CASE("tombstones", "[synckit][payload]") {
    CHECK(tombstone().dump() == R"({"__deleted":true})");
    CHECK(is_tombstone(json::parse(R"({"__deleted":true,"x":1})")));
    CHECK_FALSE(is_tombstone(json::parse(R"({"__deleted":1})")));
    CHECK_FALSE(is_tombstone(json::parse(R"([{"__deleted":true}])")));
    CHECK_FALSE(is_tombstone(nullptr));
}

TEST_CASE("last-writer-wins orders writes as the SDK does", "[synckit][lww]") {
    // Later timestamp wins, whatever the clientIds.
    CHECK(wins(2, "a", 1, "z"));
    CHECK_FALSE(wins(1, "z", 2, "a"));
    // Equal timestamps: the greater clientId wins (SyncManager.resolveLWW: local wins only if
    // local.clientId > remote.clientId). The SDK's WASM core breaks clock ties the same way.
    CHECK(wins(5, "client-b", 5, "client-a"));
    CHECK_FALSE(wins(5, "client-a", 5, "client-b"));
    // Full tie: the incoming write replaces the stored one (a resent delta is idempotent).
    CHECK(wins(5, "c", 5, "c"));
    // JS order, not byte order: "a" > "A", "ab" > "a", and U+FF61 > U+1F600 in UTF-16 code units
    // (0xFF61 > 0xD83D) although its UTF-8 bytes sort first.
    CHECK(wins(5, "a", 5, "A"));
    CHECK(wins(5, "ab", 5, "a"));
    CHECK_FALSE(wins(5, "", 5, "a"));
    CHECK(wins(5, "\xef\xbd\xa1", 5, "\xf0\x9f\x98\x80"));
    CHECK(std::string("\xef\xbd\xa1") < std::string("\xf0\x9f\x98\x80"));
    CHECK(compare_js("\xef\xbd\xa1", "\xf0\x9f\x98\x80") > 0);
    CHECK(compare_js("\xf0\x9f\x98\x80", "\xee\x80\x80") < 0);  // U+1F600 < U+E000 in UTF-16
    CHECK(compare_js("\xed\x9f\xbf", "\xf0\x9f\x98\x80") < 0);  // U+D7FF < U+1F600
    CHECK(compare_js("x", "x") == 0);
    // Invalid bytes compare as U+FFFD.
    CHECK(compare_js("\xff", "\xef\xbf\xbd") == 0);
    CHECK(compare_js("\xe2\x82", "\xef\xbf\xbd\xef\xbf\xbd") == 0);
    CHECK(compare_js("\xc0\x80", "\xef\xbf\xbd\xef\xbf\xbd") == 0);  // overlong: two replacement chars
}
