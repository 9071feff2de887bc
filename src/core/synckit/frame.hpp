// SyncKit WebSocket protocol codec (pure C++, no Postgres, no I/O): frames, the payloads a
// client sends, the last-writer-wins order. Wire contract: docs/protocols/synckit.md (§N below
// refers to its sections), as the npm SDK @synckit-js/sdk 0.1.1 speaks it.
//
// Binary frame (§2): [type: 1 byte][timestamp: int64 big-endian, ms][length: uint32 big-endian]
// [payload: `length` bytes of UTF-8 JSON]. A WebSocket message whose first byte is '{' or '['
// is a JSON text frame instead (§2.2, the Go server's form); we answer binary frames only.
//
// Every payload is parsed with json_limits::parse_bounded (64 levels, a byte limit), so a
// 100,000-deep payload is refused before any value is built.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace es::synckit {

// =============================================================================================
// Message types (§3)
// =============================================================================================

// The canonical type codes. SDK 0.1.1 knows the first twelve; the others come from the newer
// TypeScript reference server. Aliases accepted on input (§3.2): 0x22 (the Go server's
// DELTA_BATCH) decodes as DeltaBatch; the text name "delta_batch" likewise.
enum class MessageType : uint8_t {
    Auth = 0x01,
    AuthSuccess = 0x02,
    AuthError = 0x03,
    Subscribe = 0x10,
    Unsubscribe = 0x11,
    SyncRequest = 0x12,
    SyncResponse = 0x13,
    Delta = 0x20,
    Ack = 0x21,
    DeltaBatchChunk = 0x23,
    Ping = 0x30,
    Pong = 0x31,
    AwarenessUpdate = 0x40,
    AwarenessSubscribe = 0x41,
    AwarenessState = 0x42,
    DeltaBatch = 0x50,
    Error = 0xFF,
};

inline constexpr uint8_t kGoDeltaBatchCode = 0x22;  // alias of DeltaBatch (Go server, older TS server)

// The type a wire code stands for (aliases resolved), or nullopt for an unknown code.
std::optional<MessageType> type_from_code(uint8_t code);
// The type a text name stands for ("delta", "delta_batch", ...), or nullopt.
std::optional<MessageType> type_from_name(std::string_view name);
// "auth", "sync_response", "delta_batch", ... (the names of the SDK and the TS server).
const char *type_name(MessageType type);
// True for the types SDK 0.1.1 can decode (§3.1); anything else reaches its "error" handler.
bool known_to_sdk_0_1_1(MessageType type);
// Every canonical type, in code order (tests, fuzzing).
const std::vector<MessageType> &all_types();

// =============================================================================================
// Frames (§2)
// =============================================================================================

inline constexpr size_t kHeaderBytes = 13;
// SyncKit's default message limit (2 MB, the Go server's MaxMessageSize); a setting later.
inline constexpr size_t kDefaultMaxMessageBytes = 2000000;

struct Frame {
    MessageType type = MessageType::Error;
    uint8_t code = 0xFF;  // the code on the wire (0x22 for a Go DELTA_BATCH); 0 for a text frame
    int64_t timestamp = 0;  // ms; header field (binary) or "timestamp" member (text, 0 if absent)
    bool text = false;  // came as a JSON text frame
    nlohmann::json payload;  // always an object
};

enum class FrameError {
    None,
    TruncatedHeader,  // fewer than 13 bytes (binary form)
    LengthMismatch,  // bytes after the header differ from the declared length
    TooLong,  // declared payload (or text frame) longer than max_message_bytes
    UnknownType,  // type code / text "type" we do not know
    NotJson,  // payload is not valid UTF-8 JSON
    TooDeep,  // payload nested deeper than max_depth
    NotObject,  // payload is JSON but not an object
};

// Stable lowercase name ("truncated_header", ...), for logs and the ERROR frame's code.
const char *frame_error_name(FrameError e);

struct DecodeOptions {
    size_t max_message_bytes = kDefaultMaxMessageBytes;  // payload bytes (binary), whole text (text)
    int max_depth = 64;  // json_limits::kMaxDepth
    // Stream mode: bytes after the frame are left for the next call (consumed says how many
    // were used) instead of being a LengthMismatch.
    bool allow_trailing = false;
};

struct DecodeResult {
    FrameError error = FrameError::None;
    std::string message;  // why, when error != None
    Frame frame;  // valid when ok()
    size_t consumed = 0;  // bytes used by the frame (ok() only)
    // TruncatedHeader, or LengthMismatch with too few bytes: the total number of bytes the frame
    // needs (13, or 13 + declared length), so a caller reading a stream can wait for them. 0
    // otherwise. Never set beyond the limit: an oversize declaration is TooLong straight away.
    size_t needed = 0;
    bool ok() const { return error == FrameError::None; }
};

// Decodes one frame. Never throws. The type is checked from the first byte and the declared
// length against the limit from the 13-byte header, before the payload is waited for or read.
DecodeResult decode_frame(std::string_view bytes, const DecodeOptions &options = {});

// Binary frame of `type` (canonical code) with an already serialized JSON payload. Throws
// std::length_error if the payload does not fit the 32-bit length.
std::string encode_frame(MessageType type, int64_t timestamp_ms, std::string_view payload_json);
// The same with the raw code on the wire (answering a Go client in its dialect, tests).
std::string encode_frame_code(uint8_t code, int64_t timestamp_ms, std::string_view payload_json);
// Serializes `payload` (UTF-8 as is, invalid UTF-8 replaced) and frames it.
std::string encode_frame_json(MessageType type, int64_t timestamp_ms, const nlohmann::json &payload);

// ERROR frame payload {"error": message, "code": code} (§4.12), plus "details" if an object.
nlohmann::json error_payload(std::string_view code, std::string_view message,
                             const nlohmann::json &details = nullptr);

// =============================================================================================
// Client -> server payloads (§4)
// =============================================================================================

// Why a payload was refused. Each error names the member (`field`) it is about.
enum class PayloadErrorCode {
    Missing,  // a required member is absent or null
    WrongType,  // present with the wrong JSON type
    Empty,  // an empty string where one is required
    TooLong,  // a string over its limit, or too many items
    OutOfRange,  // a number outside its range (negative, fractional, > 2^53 - 1 ...)
    HasNul,  // a string (or, in a value, any string or key) holds U+0000: Postgres text cannot
    Conflict,  // documentId and docId both present and different, or a batch item's documentId
               // differs from the batch's
    Invalid,  // any other bad value (unknown delta type, bad base64, chunk index >= total)
};
const char *payload_error_name(PayloadErrorCode c);

struct PayloadError : std::runtime_error {
    PayloadErrorCode code;
    std::string field;  // member path, e.g. "documentId", "clock.client-a", "deltas[3].field"
    PayloadError(PayloadErrorCode code, std::string field, const std::string &message)
        : std::runtime_error(message), code(code), field(std::move(field)) {}
};

// Our bounds on identifiers and batches (§7); the byte sizes are UTF-8 bytes.
struct PayloadLimits {
    size_t max_id_bytes = 256;  // documentId (the Go server's limit), clientId, messageId
    size_t max_field_bytes = 1024;  // field name
    size_t max_token_bytes = 16384;  // jwt::kMaxTokenBytes
    size_t max_batch_deltas = 1000;  // deltas in one DELTA_BATCH
    size_t max_chunks = 1024;  // totalChunks of a DELTA_BATCH_CHUNK set
};

using VectorClock = std::map<std::string, uint64_t>;  // clientId -> counter

// AUTH (§4.1). SDK 0.1.1 never sends it; a token may come from the URL instead (§5).
struct AuthRequest {
    std::optional<std::string> token;  // "token"
    std::optional<std::string> api_key;  // "apiKey" (the TS server does not implement it either)
    std::optional<std::string> client_id;  // "clientId" (Go)
};
AuthRequest parse_auth(const nlohmann::json &payload, const PayloadLimits &limits = {});

// SUBSCRIBE, UNSUBSCRIBE, AWARENESS_SUBSCRIBE (§4.2, §4.3, §4.9): {documentId} (or docId).
struct DocumentRequest {
    std::string document_id;
};
DocumentRequest parse_document_request(const nlohmann::json &payload, const PayloadLimits &limits = {});

// SYNC_REQUEST (§4.4): {documentId, vectorClock?} ("clock" accepted too).
struct SyncRequest {
    std::string document_id;
    VectorClock clock;
};
SyncRequest parse_sync_request(const nlohmann::json &payload, const PayloadLimits &limits = {});

// DELTA (§4.5). "set" writes `value`; a tombstone (type "delete", or value {"__deleted": true})
// deletes the field and is kept with delete_field = true and value {"__deleted": true}.
struct Delta {
    std::string document_id;
    std::string field;
    nlohmann::json value;
    bool delete_field = false;
    VectorClock clock;  // "clock" ("vectorClock" accepted); may be empty on input
    std::string client_id;
    int64_t timestamp = 0;  // "timestamp" of the payload, else the frame's
    std::string message_id;  // "messageId" ("id" accepted); empty if the client sent none
};
// frame_timestamp: used when the payload has no "timestamp" (Go text frames put it at top level).
Delta parse_delta(const nlohmann::json &payload, int64_t frame_timestamp, const PayloadLimits &limits = {});

// ACK from a client (§4.6): {messageId}.
struct AckMessage {
    std::string message_id;
};
AckMessage parse_ack(const nlohmann::json &payload, const PayloadLimits &limits = {});

// AWARENESS_UPDATE (§4.8): {documentId, clientId, state: object | null, clock: number}.
struct AwarenessUpdate {
    std::string document_id;
    std::string client_id;
    nlohmann::json state;  // object, or null = the client left
    uint64_t clock = 0;
};
AwarenessUpdate parse_awareness_update(const nlohmann::json &payload, const PayloadLimits &limits = {});

// DELTA_BATCH (§4.10): {documentId, deltas: [delta, ...]}. Each item is a DELTA payload; its
// documentId may be omitted (the batch's), its clientId / timestamp / clock default to the
// batch's members of the same name, then to frame_timestamp.
struct DeltaBatch {
    std::string document_id;
    std::vector<Delta> deltas;
    std::string message_id;  // "messageId" / "id" of the batch, empty if none
};
DeltaBatch parse_delta_batch(const nlohmann::json &payload, int64_t frame_timestamp,
                             const PayloadLimits &limits = {});

// DELTA_BATCH_CHUNK (§4.11): {chunkId, totalChunks, chunkIndex, data: base64}.
struct DeltaBatchChunk {
    std::string chunk_id;
    uint32_t total_chunks = 0;
    uint32_t chunk_index = 0;
    std::string data;  // still base64 (validated alphabet and length)
};
DeltaBatchChunk parse_delta_batch_chunk(const nlohmann::json &payload, const PayloadLimits &limits = {});

// The tombstone value {"__deleted": true} (§6.2).
const nlohmann::json &tombstone();
bool is_tombstone(const nlohmann::json &value);

// =============================================================================================
// Last-writer-wins (§6.1)
// =============================================================================================

// JavaScript string order (UTF-16 code units, what `a > b` compares in the SDK) of two UTF-8
// strings: <0, 0, >0. Each byte of an invalid sequence counts as one U+FFFD (TextDecoder may
// merge a truncated sequence into one; ids parsed from JSON are valid UTF-8, so it never shows).
int compare_js(std::string_view a, std::string_view b);

// True if the write (a_ts, a_client) replaces the stored write (b_ts, b_client): the later
// timestamp wins; on equal timestamps the greater clientId (JS order) wins; on a full tie the
// incoming write wins (SyncManager.resolveLWW keeps the local op only if local.clientId >
// remote.clientId).
bool wins(int64_t a_ts, std::string_view a_client, int64_t b_ts, std::string_view b_client);

}  // namespace es::synckit
