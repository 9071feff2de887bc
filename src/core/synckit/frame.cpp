#include "core/synckit/frame.hpp"
#include "core/common/json_limits.hpp"

#include <cmath>
#include <cstring>
#include <utility>

namespace es::synckit {

using nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

namespace {

struct TypeInfo {
    MessageType type;
    const char *name;
    bool sdk_0_1_1;
};

const TypeInfo kTypes[] = {
    {MessageType::Auth, "auth", true},
    {MessageType::AuthSuccess, "auth_success", true},
    {MessageType::AuthError, "auth_error", true},
    {MessageType::Subscribe, "subscribe", true},
    {MessageType::Unsubscribe, "unsubscribe", true},
    {MessageType::SyncRequest, "sync_request", true},
    {MessageType::SyncResponse, "sync_response", true},
    {MessageType::Delta, "delta", true},
    {MessageType::Ack, "ack", true},
    {MessageType::DeltaBatchChunk, "delta_batch_chunk", false},
    {MessageType::Ping, "ping", true},
    {MessageType::Pong, "pong", true},
    {MessageType::AwarenessUpdate, "awareness_update", false},
    {MessageType::AwarenessSubscribe, "awareness_subscribe", false},
    {MessageType::AwarenessState, "awareness_state", false},
    {MessageType::DeltaBatch, "delta_batch", false},
    {MessageType::Error, "error", true},
};

const TypeInfo *info_of(MessageType t) {
    for (auto &i : kTypes)
        if (i.type == t) return &i;
    return nullptr;
}

}  // namespace

std::optional<MessageType> type_from_code(uint8_t code) {
    if (code == kGoDeltaBatchCode) return MessageType::DeltaBatch;
    for (auto &i : kTypes)
        if (uint8_t(i.type) == code) return i.type;
    return std::nullopt;
}

std::optional<MessageType> type_from_name(std::string_view name) {
    for (auto &i : kTypes)
        if (name == i.name) return i.type;
    return std::nullopt;
}

const char *type_name(MessageType type) {
    auto *i = info_of(type);
    return i ? i->name : "unknown";
}

bool known_to_sdk_0_1_1(MessageType type) {
    auto *i = info_of(type);
    return i && i->sdk_0_1_1;
}

const std::vector<MessageType> &all_types() {
    static const std::vector<MessageType> v = [] {
        std::vector<MessageType> o;
        for (auto &i : kTypes) o.push_back(i.type);
        return o;
    }();
    return v;
}

// ---------------------------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------------------------

const char *frame_error_name(FrameError e) {
    switch (e) {
    case FrameError::None: return "none";
    case FrameError::TruncatedHeader: return "truncated_header";
    case FrameError::LengthMismatch: return "length_mismatch";
    case FrameError::TooLong: return "too_long";
    case FrameError::UnknownType: return "unknown_type";
    case FrameError::NotJson: return "not_json";
    case FrameError::TooDeep: return "too_deep";
    case FrameError::NotObject: return "not_object";
    }
    return "unknown";
}

namespace {

DecodeResult fail(FrameError e, std::string message, size_t needed = 0) {
    DecodeResult r;
    r.error = e;
    r.message = std::move(message);
    r.needed = needed;
    return r;
}

std::string hex_byte(uint8_t b) {
    static const char *d = "0123456789abcdef";
    return std::string("0x") + d[b >> 4] + d[b & 15];
}

uint64_t read_be(const char *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = (v << 8) | uint8_t(p[i]);
    return v;
}

void write_be(char *p, uint64_t v, int n) {
    for (int i = n - 1; i >= 0; i--) {
        p[i] = char(v & 0xFF);
        v >>= 8;
    }
}

// Parses a payload (or a whole text frame) within the limits; maps json_limits statuses.
bool parse_json(std::string_view text, const DecodeOptions &o, json &out, DecodeResult &err) {
    auto r = json_limits::parse_bounded(text, {o.max_depth, o.max_message_bytes});
    switch (r.status) {
    case json_limits::Status::Ok: out = std::move(r.value); return true;
    case json_limits::Status::TooDeep: err = fail(FrameError::TooDeep, r.message); return false;
    case json_limits::Status::TooLarge: err = fail(FrameError::TooLong, r.message); return false;
    default: err = fail(FrameError::NotJson, "payload is not valid JSON: " + r.message); return false;
    }
}

// An integral JSON number in [lo, hi], or nullopt (floats with an integral value count: a text
// client may write 1e3).
std::optional<int64_t> integral(const json &v, int64_t lo, int64_t hi) {
    if (v.is_number_unsigned()) {
        uint64_t u = v.get<uint64_t>();
        if (u > uint64_t(hi)) return std::nullopt;
        return int64_t(u);
    }
    if (v.is_number_integer()) {
        int64_t i = v.get<int64_t>();
        if (i < lo || i > hi) return std::nullopt;
        return i;
    }
    if (v.is_number_float()) {
        // Only floats a JS number holds exactly as an integer (|d| <= 2^53), so the cast is defined.
        double d = v.get<double>();
        if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9007199254740992.0) return std::nullopt;
        int64_t i = int64_t(d);
        if (i < lo || i > hi) return std::nullopt;
        return i;
    }
    return std::nullopt;
}

DecodeResult decode_text(std::string_view bytes, const DecodeOptions &o) {
    if (bytes.size() > o.max_message_bytes)
        return fail(FrameError::TooLong, "text frame of " + std::to_string(bytes.size()) +
                                             " bytes is over the limit of " + std::to_string(o.max_message_bytes));
    DecodeResult r;
    json doc;
    if (!parse_json(bytes, o, doc, r)) return r;
    if (!doc.is_object()) return fail(FrameError::NotObject, "text frame is not a JSON object");
    auto t = doc.find("type");
    if (t == doc.end()) return fail(FrameError::UnknownType, "text frame has no \"type\"");
    std::optional<MessageType> type;
    uint8_t code = 0;
    if (t->is_string()) {
        type = type_from_name(t->get_ref<const std::string &>());
        if (!type) return fail(FrameError::UnknownType, "unknown message type \"" + t->get<std::string>() + "\"");
    } else if (auto c = integral(*t, 0, 255)) {
        code = uint8_t(*c);
        type = type_from_code(code);
        if (!type) return fail(FrameError::UnknownType, "unknown message type " + hex_byte(code));
    } else {
        return fail(FrameError::UnknownType, "text frame \"type\" is neither a name nor a code");
    }
    r.frame.type = *type;
    r.frame.code = code;
    r.frame.text = true;
    auto ts = doc.find("timestamp");
    if (ts != doc.end()) {
        if (auto v = integral(*ts, INT64_MIN, INT64_MAX)) r.frame.timestamp = *v;
    }
    auto p = doc.find("payload");
    if (p != doc.end() && p->is_object()) {
        r.frame.payload = std::move(*p);  // {"type":"delta","payload":{...}} (the SDK's message shape)
    } else {
        doc.erase("type");  // the Go form: payload members at top level
        r.frame.payload = std::move(doc);
    }
    r.consumed = bytes.size();
    return r;
}

}  // namespace

DecodeResult decode_frame(std::string_view bytes, const DecodeOptions &o) {
    if (bytes.empty()) return fail(FrameError::TruncatedHeader, "empty message", kHeaderBytes);
    uint8_t code = uint8_t(bytes[0]);
    if (code == '{' || code == '[') return decode_text(bytes, o);
    auto type = type_from_code(code);
    if (!type) return fail(FrameError::UnknownType, "unknown message type " + hex_byte(code));
    if (bytes.size() < kHeaderBytes)
        return fail(FrameError::TruncatedHeader,
                    "message of " + std::to_string(bytes.size()) + " bytes is shorter than the 13-byte header",
                    kHeaderBytes);
    int64_t ts = int64_t(read_be(bytes.data() + 1, 8));
    uint64_t len = read_be(bytes.data() + 9, 4);
    if (len > o.max_message_bytes)
        return fail(FrameError::TooLong, "payload length " + std::to_string(len) + " is over the limit of " +
                                             std::to_string(o.max_message_bytes));
    size_t total = kHeaderBytes + size_t(len);
    if (bytes.size() < total)
        return fail(FrameError::LengthMismatch,
                    "header says " + std::to_string(len) + " payload bytes, message has " +
                        std::to_string(bytes.size() - kHeaderBytes),
                    total);
    if (bytes.size() > total && !o.allow_trailing)
        return fail(FrameError::LengthMismatch, "header says " + std::to_string(len) + " payload bytes, message has " +
                                                    std::to_string(bytes.size() - kHeaderBytes));
    DecodeResult r;
    json payload;
    if (!parse_json(bytes.substr(kHeaderBytes, size_t(len)), o, payload, r)) return r;
    if (!payload.is_object()) return fail(FrameError::NotObject, "payload is not a JSON object");
    r.frame.type = *type;
    r.frame.code = code;
    r.frame.timestamp = ts;
    r.frame.payload = std::move(payload);
    r.consumed = total;
    return r;
}

std::string encode_frame_code(uint8_t code, int64_t timestamp_ms, std::string_view payload_json) {
    if (payload_json.size() > UINT32_MAX) throw std::length_error("SyncKit payload longer than 4 GiB");
    std::string out(kHeaderBytes + payload_json.size(), '\0');
    out[0] = char(code);
    write_be(&out[1], uint64_t(timestamp_ms), 8);
    write_be(&out[9], uint64_t(payload_json.size()), 4);
    if (!payload_json.empty()) std::memcpy(&out[kHeaderBytes], payload_json.data(), payload_json.size());
    return out;
}

std::string encode_frame(MessageType type, int64_t timestamp_ms, std::string_view payload_json) {
    return encode_frame_code(uint8_t(type), timestamp_ms, payload_json);
}

std::string encode_frame_json(MessageType type, int64_t timestamp_ms, const json &payload) {
    return encode_frame(type, timestamp_ms, payload.dump(-1, ' ', false, json::error_handler_t::replace));
}

json error_payload(std::string_view code, std::string_view message, const json &details) {
    json p = json::object();
    p["error"] = std::string(message);
    p["code"] = std::string(code);
    if (details.is_object()) p["details"] = details;
    return p;
}

// ---------------------------------------------------------------------------------------------
// Payloads
// ---------------------------------------------------------------------------------------------

const char *payload_error_name(PayloadErrorCode c) {
    switch (c) {
    case PayloadErrorCode::Missing: return "missing";
    case PayloadErrorCode::WrongType: return "wrong_type";
    case PayloadErrorCode::Empty: return "empty";
    case PayloadErrorCode::TooLong: return "too_long";
    case PayloadErrorCode::OutOfRange: return "out_of_range";
    case PayloadErrorCode::HasNul: return "has_nul";
    case PayloadErrorCode::Conflict: return "conflict";
    case PayloadErrorCode::Invalid: return "invalid";
    }
    return "unknown";
}

const json &tombstone() {
    static const json t = {{"__deleted", true}};
    return t;
}

bool is_tombstone(const json &v) {
    if (!v.is_object()) return false;
    auto it = v.find("__deleted");
    return it != v.end() && it->is_boolean() && it->get<bool>();
}

namespace {

constexpr int64_t kMaxSafeInteger = (int64_t(1) << 53) - 1;  // Number.MAX_SAFE_INTEGER

[[noreturn]] void bad(PayloadErrorCode c, const std::string &field, const std::string &why) {
    throw PayloadError(c, field, field + " " + why);
}

// Member `name`, or nullptr when absent or null.
const json *member(const json &o, const char *name) {
    auto it = o.find(name);
    if (it == o.end() || it->is_null()) return nullptr;
    return &*it;
}

void check_string(const std::string &s, const std::string &path, size_t max_bytes) {
    if (s.empty()) bad(PayloadErrorCode::Empty, path, "must not be empty");
    if (s.size() > max_bytes)
        bad(PayloadErrorCode::TooLong, path, "is longer than " + std::to_string(max_bytes) + " bytes");
    if (s.find('\0') != std::string::npos) bad(PayloadErrorCode::HasNul, path, "must not contain U+0000");
}

std::string string_value(const json &v, const std::string &path, size_t max_bytes) {
    if (!v.is_string()) bad(PayloadErrorCode::WrongType, path, "must be a string");
    const auto &s = v.get_ref<const std::string &>();
    check_string(s, path, max_bytes);
    return s;
}

std::optional<std::string> opt_string(const json &o, const char *name, const std::string &prefix, size_t max_bytes) {
    const json *v = member(o, name);
    if (!v) return std::nullopt;
    return string_value(*v, prefix + name, max_bytes);
}

std::string req_string(const json &o, const char *name, const std::string &prefix, size_t max_bytes) {
    auto s = opt_string(o, name, prefix, max_bytes);
    if (!s) bad(PayloadErrorCode::Missing, prefix + name, "is required");
    return *s;
}

// A non-negative integer up to 2^53 - 1 (what a JS number holds exactly).
uint64_t counter_value(const json &v, const std::string &path) {
    if (!v.is_number()) bad(PayloadErrorCode::WrongType, path, "must be a number");
    auto i = integral(v, 0, kMaxSafeInteger);
    if (!i) bad(PayloadErrorCode::OutOfRange, path, "must be an integer from 0 to 2^53 - 1");
    return uint64_t(*i);
}

// documentId, or its Go alias docId.
std::optional<std::string> opt_document_id(const json &o, const std::string &prefix, const PayloadLimits &l) {
    auto a = opt_string(o, "documentId", prefix, l.max_id_bytes);
    auto b = opt_string(o, "docId", prefix, l.max_id_bytes);
    if (a && b && *a != *b) bad(PayloadErrorCode::Conflict, prefix + "documentId", "and docId differ");
    return a ? a : b;
}

std::string req_document_id(const json &o, const std::string &prefix, const PayloadLimits &l) {
    auto d = opt_document_id(o, prefix, l);
    if (!d) bad(PayloadErrorCode::Missing, prefix + "documentId", "is required (or docId)");
    return *d;
}

// "clock" or "vectorClock"; nullopt when neither is present.
std::optional<VectorClock> opt_clock(const json &o, const std::string &prefix, const PayloadLimits &l) {
    const char *name = "clock";
    const json *v = member(o, "clock");
    if (!v) {
        name = "vectorClock";
        v = member(o, "vectorClock");
    }
    if (!v) return std::nullopt;
    std::string path = prefix + name;
    if (!v->is_object()) bad(PayloadErrorCode::WrongType, path, "must be an object of counters");
    VectorClock c;
    for (auto it = v->begin(); it != v->end(); ++it) {
        std::string at = path + "." + it.key();
        check_string(it.key(), path + " key", l.max_id_bytes);
        c[it.key()] = counter_value(it.value(), at);
    }
    return c;
}

// Rejects U+0000 in any string or object key of a value (Postgres jsonb cannot store it).
// Iterative; parse_bounded already limits the depth.
void check_value(const json &v, const std::string &path) {
    std::vector<const json *> todo{&v};
    while (!todo.empty()) {
        const json *j = todo.back();
        todo.pop_back();
        if (j->is_string()) {
            if (j->get_ref<const std::string &>().find('\0') != std::string::npos)
                bad(PayloadErrorCode::HasNul, path, "must not contain U+0000 in a string");
        } else if (j->is_object()) {
            for (auto it = j->begin(); it != j->end(); ++it) {
                if (it.key().find('\0') != std::string::npos)
                    bad(PayloadErrorCode::HasNul, path, "must not contain U+0000 in a key");
                todo.push_back(&it.value());
            }
        } else if (j->is_array()) {
            for (auto &e : *j) todo.push_back(&e);
        }
    }
}

void require_object(const json &payload) {
    if (!payload.is_object()) bad(PayloadErrorCode::WrongType, "payload", "must be a JSON object");
}

std::string opt_message_id(const json &o, const std::string &prefix, const PayloadLimits &l) {
    auto m = opt_string(o, "messageId", prefix, l.max_id_bytes);
    if (!m) m = opt_string(o, "id", prefix, l.max_id_bytes);
    return m ? *m : std::string();
}

// What a batch item inherits from its batch.
struct Inherited {
    const std::string *document_id = nullptr;
    std::optional<std::string> client_id;
    std::optional<int64_t> timestamp;
    std::optional<VectorClock> clock;
};

Delta delta_from(const json &o, int64_t frame_timestamp, const PayloadLimits &l, const std::string &prefix,
                 const Inherited *in) {
    if (!o.is_object())
        bad(PayloadErrorCode::WrongType, prefix.empty() ? "payload" : prefix.substr(0, prefix.size() - 1),
            "must be a JSON object");
    Delta d;
    if (in) {
        auto own = opt_document_id(o, prefix, l);
        if (own && *own != *in->document_id)
            bad(PayloadErrorCode::Conflict, prefix + "documentId", "differs from the batch's documentId");
        d.document_id = *in->document_id;
    } else {
        d.document_id = req_document_id(o, prefix, l);
    }
    d.field = req_string(o, "field", prefix, l.max_field_bytes);

    std::string op = "set";
    if (const json *t = member(o, "type")) {
        if (!t->is_string()) bad(PayloadErrorCode::WrongType, prefix + "type", "must be a string");
        op = t->get<std::string>();
        if (op != "set" && op != "delete")
            bad(PayloadErrorCode::Invalid, prefix + "type", "must be \"set\" or \"delete\"");
    }
    auto v = o.find("value");
    if (op == "delete") {
        d.delete_field = true;
        d.value = tombstone();
    } else {
        if (v == o.end()) bad(PayloadErrorCode::Missing, prefix + "value", "is required (null is a value)");
        check_value(*v, prefix + "value");
        d.delete_field = is_tombstone(*v);
        d.value = d.delete_field ? tombstone() : *v;
    }

    auto clock = opt_clock(o, prefix, l);
    if (!clock && in && in->clock) clock = in->clock;
    if (clock) d.clock = std::move(*clock);

    auto client = opt_string(o, "clientId", prefix, l.max_id_bytes);
    if (!client && in) client = in->client_id;
    if (!client) bad(PayloadErrorCode::Missing, prefix + "clientId", "is required");
    d.client_id = std::move(*client);

    if (const json *ts = member(o, "timestamp"))
        d.timestamp = int64_t(counter_value(*ts, prefix + "timestamp"));
    else if (in && in->timestamp)
        d.timestamp = *in->timestamp;
    else
        d.timestamp = frame_timestamp;

    d.message_id = opt_message_id(o, prefix, l);
    return d;
}

bool base64_ok(const std::string &s) {
    if (s.size() % 4 != 0) return false;
    size_t pad = 0;
    for (size_t i = 0; i < s.size(); i++) {
        char c = s[i];
        bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
        if (c == '=') {
            pad++;
            if (i + 2 < s.size()) return false;  // '=' only in the last two places
        } else if (!alpha || pad > 0) {
            return false;
        }
    }
    return pad <= 2;
}

}  // namespace

AuthRequest parse_auth(const json &payload, const PayloadLimits &l) {
    require_object(payload);
    AuthRequest r;
    r.token = opt_string(payload, "token", "", l.max_token_bytes);
    r.api_key = opt_string(payload, "apiKey", "", l.max_token_bytes);
    r.client_id = opt_string(payload, "clientId", "", l.max_id_bytes);
    return r;
}

DocumentRequest parse_document_request(const json &payload, const PayloadLimits &l) {
    require_object(payload);
    return DocumentRequest{req_document_id(payload, "", l)};
}

SyncRequest parse_sync_request(const json &payload, const PayloadLimits &l) {
    require_object(payload);
    SyncRequest r;
    r.document_id = req_document_id(payload, "", l);
    if (auto c = opt_clock(payload, "", l)) r.clock = std::move(*c);
    return r;
}

Delta parse_delta(const json &payload, int64_t frame_timestamp, const PayloadLimits &l) {
    return delta_from(payload, frame_timestamp, l, "", nullptr);
}

AckMessage parse_ack(const json &payload, const PayloadLimits &l) {
    require_object(payload);
    AckMessage a;
    a.message_id = opt_message_id(payload, "", l);
    if (a.message_id.empty()) bad(PayloadErrorCode::Missing, "messageId", "is required");
    return a;
}

AwarenessUpdate parse_awareness_update(const json &payload, const PayloadLimits &l) {
    require_object(payload);
    AwarenessUpdate u;
    u.document_id = req_document_id(payload, "", l);
    u.client_id = req_string(payload, "clientId", "", l.max_id_bytes);
    auto st = payload.find("state");
    if (st == payload.end()) bad(PayloadErrorCode::Missing, "state", "is required (null when the client leaves)");
    if (!st->is_null() && !st->is_object()) bad(PayloadErrorCode::WrongType, "state", "must be an object or null");
    check_value(*st, "state");
    u.state = *st;
    if (const json *c = member(payload, "clock")) u.clock = counter_value(*c, "clock");
    return u;
}

DeltaBatch parse_delta_batch(const json &payload, int64_t frame_timestamp, const PayloadLimits &l) {
    require_object(payload);
    DeltaBatch b;
    b.document_id = req_document_id(payload, "", l);
    b.message_id = opt_message_id(payload, "", l);
    Inherited in;
    in.document_id = &b.document_id;
    in.client_id = opt_string(payload, "clientId", "", l.max_id_bytes);
    if (const json *ts = member(payload, "timestamp")) in.timestamp = int64_t(counter_value(*ts, "timestamp"));
    in.clock = opt_clock(payload, "", l);
    const json *deltas = member(payload, "deltas");
    if (!deltas) bad(PayloadErrorCode::Missing, "deltas", "is required");
    if (!deltas->is_array()) bad(PayloadErrorCode::WrongType, "deltas", "must be an array");
    if (deltas->empty()) bad(PayloadErrorCode::Empty, "deltas", "must not be empty");
    if (deltas->size() > l.max_batch_deltas)
        bad(PayloadErrorCode::TooLong, "deltas", "has more than " + std::to_string(l.max_batch_deltas) + " items");
    b.deltas.reserve(deltas->size());
    size_t i = 0;
    for (auto &item : *deltas) {
        b.deltas.push_back(delta_from(item, frame_timestamp, l, "deltas[" + std::to_string(i) + "].", &in));
        i++;
    }
    return b;
}

DeltaBatchChunk parse_delta_batch_chunk(const json &payload, const PayloadLimits &l) {
    require_object(payload);
    DeltaBatchChunk c;
    c.chunk_id = req_string(payload, "chunkId", "", l.max_id_bytes);
    const json *total = member(payload, "totalChunks");
    if (!total) bad(PayloadErrorCode::Missing, "totalChunks", "is required");
    uint64_t t = counter_value(*total, "totalChunks");
    if (t < 1 || t > l.max_chunks)
        bad(PayloadErrorCode::OutOfRange, "totalChunks", "must be from 1 to " + std::to_string(l.max_chunks));
    const json *index = member(payload, "chunkIndex");
    if (!index) bad(PayloadErrorCode::Missing, "chunkIndex", "is required");
    uint64_t i = counter_value(*index, "chunkIndex");
    if (i >= t) bad(PayloadErrorCode::Invalid, "chunkIndex", "must be less than totalChunks");
    c.total_chunks = uint32_t(t);
    c.chunk_index = uint32_t(i);
    const json *data = member(payload, "data");
    if (!data) bad(PayloadErrorCode::Missing, "data", "is required");
    if (!data->is_string()) bad(PayloadErrorCode::WrongType, "data", "must be a base64 string");
    c.data = data->get<std::string>();
    if (c.data.empty()) bad(PayloadErrorCode::Empty, "data", "must not be empty");
    if (!base64_ok(c.data)) bad(PayloadErrorCode::Invalid, "data", "is not base64");
    return c;
}

// ---------------------------------------------------------------------------------------------
// Last-writer-wins
// ---------------------------------------------------------------------------------------------

namespace {

// Next code point of s at i (advancing i); an invalid or truncated sequence yields U+FFFD and
// skips one byte.
uint32_t next_code_point(std::string_view s, size_t &i) {
    uint8_t b = uint8_t(s[i]);
    if (b < 0x80) {
        i++;
        return b;
    }
    int n = 0;
    uint32_t cp = 0, min = 0;
    if ((b & 0xE0) == 0xC0) n = 1, cp = b & 0x1F, min = 0x80;
    else if ((b & 0xF0) == 0xE0) n = 2, cp = b & 0x0F, min = 0x800;
    else if ((b & 0xF8) == 0xF0) n = 3, cp = b & 0x07, min = 0x10000;
    else {
        i++;
        return 0xFFFD;
    }
    if (i + size_t(n) >= s.size()) {
        i++;
        return 0xFFFD;
    }
    for (int k = 1; k <= n; k++) {
        uint8_t c = uint8_t(s[i + k]);
        if ((c & 0xC0) != 0x80) {
            i++;
            return 0xFFFD;
        }
        cp = (cp << 6) | (c & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        i++;
        return 0xFFFD;
    }
    i += size_t(n) + 1;
    return cp;
}

std::u16string to_utf16(std::string_view s) {
    std::u16string o;
    o.reserve(s.size());
    size_t i = 0;
    while (i < s.size()) {
        uint32_t cp = next_code_point(s, i);
        if (cp >= 0x10000) {
            cp -= 0x10000;
            o.push_back(char16_t(0xD800 + (cp >> 10)));
            o.push_back(char16_t(0xDC00 + (cp & 0x3FF)));
        } else {
            o.push_back(char16_t(cp));
        }
    }
    return o;
}

}  // namespace

int compare_js(std::string_view a, std::string_view b) {
    std::u16string x = to_utf16(a), y = to_utf16(b);
    int c = x.compare(y);
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

bool wins(int64_t a_ts, std::string_view a_client, int64_t b_ts, std::string_view b_client) {
    if (a_ts != b_ts) return a_ts > b_ts;
    return compare_js(a_client, b_client) >= 0;
}

}  // namespace es::synckit
