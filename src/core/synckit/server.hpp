// The server side of the SyncKit protocol that needs neither Postgres nor sockets (pure C++,
// unit-tested): who may read and write a document, the per-connection rate window, the
// payloads the server sends, awareness entries with expiry, DELTA_BATCH_CHUNK reassembly.
// Wire contract: docs/protocols/synckit.md (§N); what we serve: docs/synckit.md.
#pragma once
#include "core/synckit/frame.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace es::synckit {

// The electric_sync.synckit_* settings (docs/configuration.md), reloadable.
struct Config {
    bool anonymous = false;  // synckit_anonymous: connections without a token read and write all
    bool create_documents = true;  // synckit_create_documents: a first write creates a document
    int max_connections_per_ip = 50;  // synckit_max_connections_per_ip (0 = no limit)
    int messages_per_minute = 500;  // synckit_messages_per_minute (0 = no limit)
    size_t max_message_bytes = kDefaultMaxMessageBytes;  // synckit_max_message_bytes
    int awareness_timeout_ms = 30000;  // synckit_awareness_timeout
    int auth_timeout_ms = 10000;  // synckit_auth_timeout: a connection without identity closes
};

// =============================================================================================
// Identity and permissions (§5)
// =============================================================================================

// Patterns: "*" matches every document, "prefix*" every id that starts with prefix, anything
// else one id exactly.
struct Permissions {
    std::vector<std::string> can_read, can_write;
    bool admin = false;
};
bool pattern_matches(std::string_view pattern, std::string_view document_id);
bool can_read(const Permissions &p, std::string_view document_id);
bool can_write(const Permissions &p, std::string_view document_id);
// {"canRead":[...],"canWrite":[...],"isAdmin":bool} (AUTH_SUCCESS).
nlohmann::json permissions_json(const Permissions &p);

struct Identity {
    bool ok = false;
    std::string error;  // why the claims were refused
    std::string user_id;
    Permissions permissions;
    bool anonymous = false;
    int64_t exp = 0;  // the token's expiry (unix seconds; 0 = none): the connection ends then
};
// From a verified token's claims: "userId" (else "sub") must be a non-empty string; a missing
// "permissions" grants nothing; lists must hold strings (at most 1000, each at most 256 bytes).
Identity identity_from_claims(const nlohmann::json &claims);
// Anonymous access (electric_sync.synckit_anonymous): read and write everything.
Identity anonymous_identity();

// True when comparing id with other ids by UTF-8 bytes (Postgres COLLATE "C") gives the same
// order as JavaScript (UTF-16 code units): the two differ only between U+E000..U+FFFF and
// characters above U+FFFF, so ids holding U+E000..U+FFFF are refused as clientIds.
bool client_id_orderable(std::string_view id);

// The largest counter of a vector clock, 0 for an empty one.
uint64_t clock_max(const VectorClock &clock);

// =============================================================================================
// Rate limit (§7): messages per minute per connection
// =============================================================================================

// A sliding window of one minute estimated from two fixed one-minute buckets (the current one
// and the one before, weighted by how much of it still lies in the window): 16 bytes per
// connection instead of a timestamp per message.
class RateWindow {
public:
    explicit RateWindow(uint32_t per_minute = 500) : limit_(per_minute) {}
    void set_limit(uint32_t per_minute) { limit_ = per_minute; }
    // Counts one message at now_ms; false if it goes over the limit (0 = no limit).
    bool allow(int64_t now_ms);

private:
    uint32_t limit_;
    int64_t bucket_ = -1;  // now_ms / 60000 of the current bucket
    uint32_t cur_ = 0, prev_ = 0;
};

// =============================================================================================
// What the server sends (§4)
// =============================================================================================

// The key of the server's entry in every clock it sends (§6.3): a per-document counter that
// rises with every accepted write, so each client's core takes the newest value.
inline constexpr const char *kServerClockKey = "electric_sync";

// One field as stored (electric_sync_docs.fields).
struct FieldState {
    std::string field;
    std::string value_json;  // the value as JSON text (jsonb output); ignored when deleted
    bool deleted = false;
    int64_t ts = 0;
    std::string client_id;
    int64_t counter = 0;
};

// DELTA to a client: {type, documentId, field, value, clock:{electric_sync:counter}, clientId,
// timestamp, messageId:"srv-<counter>"}; a deleted field goes out as type "delete" with the
// tombstone value.
std::string delta_payload(std::string_view document_id, const FieldState &f);
// SYNC_RESPONSE: {documentId, requestId?, state:{live fields}, clock:{electric_sync:counter},
// deltas:[]} (requestId only when the request carried one).
std::string sync_response_payload(std::string_view document_id, std::string_view request_id,
                                  const std::vector<FieldState> &fields, int64_t document_counter);
// ACK: {messageId} (+ "count" for a batch, "chunkId" for a chunked batch).
std::string ack_payload(std::string_view message_id, std::optional<size_t> count = std::nullopt,
                        std::string_view chunk_id = {});
// AUTH_SUCCESS: {userId, permissions}.
std::string auth_success_payload(const Identity &id);
// The request id a client gave ("requestId", else "id"), "" if none or not a short string.
std::string request_id_of(const nlohmann::json &payload);

// =============================================================================================
// Awareness (§4.8, §4.9): per document, clientId -> state, expiring
// =============================================================================================

class AwarenessStore {
public:
    struct Entry {
        std::string state_json;  // an object
        uint64_t clock = 0;
        int64_t expires_ms = 0;
        uint64_t owner = 0;  // the connection that set it
    };
    // An update: a state (object) is stored, a null state removes the entry. Returns the
    // AWARENESS_UPDATE payload to send to the document's awareness subscribers, or "" when the
    // clientId's live entry belongs to another connection (one connection cannot set or clear
    // another's presence).
    std::string update(const AwarenessUpdate &u, uint64_t owner, int64_t now_ms, int64_t ttl_ms);
    // AWARENESS_STATE payload of a document's live entries.
    std::string state_payload(std::string_view document_id) const;
    // Removes the entries that expired by now_ms, or that owner set (owner != 0, now_ms
    // ignored); returns (documentId, AWARENESS_UPDATE payload with state null) for each.
    std::vector<std::pair<std::string, std::string>> expire(int64_t now_ms);
    std::vector<std::pair<std::string, std::string>> drop_owner(uint64_t owner);
    size_t size() const;
    // Bounds: at most this many clients per document (the oldest update leaves first).
    static constexpr size_t kMaxPerDocument = 1000;

private:
    std::map<std::string, std::map<std::string, Entry>> docs_;
};

// =============================================================================================
// DELTA_BATCH_CHUNK reassembly (§4.11)
// =============================================================================================

// The base64 pieces of one chunkId, concatenated in index order once all have arrived, are the
// JSON payload of one DELTA_BATCH. Per connection: at most kMaxSets sets in progress, at most
// max_total_bytes decoded bytes per set; a set not completed within kTtlMs is dropped.
class ChunkAssembler {
public:
    static constexpr size_t kMaxSets = 4;
    static constexpr int64_t kTtlMs = 60000;
    explicit ChunkAssembler(size_t max_total_bytes = 16u * 1024 * 1024) : max_total_(max_total_bytes) {}
    struct Result {
        bool complete = false;
        std::string bytes;  // the reassembled payload when complete
        std::string error;  // non-empty: the piece (and its set) was refused
    };
    Result add(const DeltaBatchChunk &c, int64_t now_ms);
    size_t pending_sets() const { return sets_.size(); }

private:
    struct Set {
        uint32_t total = 0;
        std::map<uint32_t, std::string> pieces;  // decoded
        size_t bytes = 0;
        int64_t started_ms = 0;
    };
    size_t max_total_;
    std::map<std::string, Set> sets_;
};

// Standard base64 (with padding) to bytes; false if not valid base64.
bool base64_decode(std::string_view in, std::string &out);

}  // namespace es::synckit
