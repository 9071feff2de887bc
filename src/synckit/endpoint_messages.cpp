// GET /ws: what a client sends (endpoint.hpp): frames decoded, checked (auth, permissions,
// payloads) and answered or queued for the connection.
#include "synckit/endpoint_internal.hpp"

#include "core/common/json_limits.hpp"

#include <algorithm>

namespace es::synckit {

using json = nlohmann::json;

void Endpoint::on_message(const ConnPtr &c, std::string data, bool text) {
    (void)text;  // decode_frame tells a JSON text frame by its first byte
    messages_in_++;
    bool allowed;
    {
        std::lock_guard<std::mutex> g(c->mu);
        if (c->closed) return;
        c->messages++;
        allowed = c->rate.allow(now_ms());
    }
    Config cfg = config();
    if (!allowed) {
        close_for_limit(c, "RATE_LIMITED",
                        "more than electric_sync.synckit_messages_per_minute (" +
                            std::to_string(cfg.messages_per_minute) + ") messages in a minute",
                        1008);
        return;
    }
    DecodeOptions o;
    o.max_message_bytes = cfg.max_message_bytes;
    DecodeResult r = decode_frame(data, o);
    if (!r.ok()) {
        // A WebSocket message is whole: a header declaring more than the limit in a message
        // within it is a wrong length, not a large message.
        if (r.error == FrameError::TooLong && data.size() > cfg.max_message_bytes) {
            close_for_limit(c, "MESSAGE_TOO_LARGE", r.message, 1009);
            return;
        }
        if (r.error == FrameError::TooLong) {
            send_error(c, "BAD_FRAME", r.message + " (the message holds " + std::to_string(data.size()) + " bytes)",
                       json{{"reason", frame_error_name(FrameError::LengthMismatch)}});
            return;
        }
        send_error(c, "BAD_FRAME", r.message, json{{"reason", frame_error_name(r.error)}});
        return;
    }
    try {
        dispatch(c, r.frame);
    } catch (const PayloadError &e) {
        send_error(c, "INVALID_PAYLOAD", e.what(),
                   json{{"field", e.field}, {"reason", payload_error_name(e.code)}, {"type", type_name(r.frame.type)}});
    }
}

// The connection's identity, or nullptr after answering AUTH_ERROR (none yet, or its token
// has expired: permissions hold as long as the token, and the SDK reconnects, with a fresh
// token if its URL has one).
std::shared_ptr<const Identity> Endpoint::current_identity(const ConnPtr &c) {
    std::shared_ptr<const Identity> who;
    {
        std::lock_guard<std::mutex> g(c->mu);
        who = c->identity;
    }
    if (who && who->exp > 0 && now_ms() / 1000 >= who->exp) {
        errors_++;
        send(c, MessageType::AuthError, json{{"error", "the token has expired"}, {"code", "INVALID_TOKEN"}}.dump());
        c->ws->close(1008, "token expired");
        return nullptr;
    }
    if (!who) {
        errors_++;
        send(c, MessageType::AuthError,
             json{{"error", "authenticate first: a token in the URL (?token=) or an AUTH message"},
                  {"code", "AUTH_REQUIRED"}}
                 .dump());
    }
    return who;
}

void Endpoint::denied(const ConnPtr &c, const std::string &doc, const char *what) {
    send_error(c, "PERMISSION_DENIED", std::string("no ") + what + " permission on this document",
               json{{"documentId", doc}});
}

void Endpoint::on_auth(const ConnPtr &c, const Frame &f) {
    PayloadLimits limits;
    AuthRequest a = parse_auth(f.payload, limits);
    if (!a.token) {
        errors_++;
        send(c, MessageType::AuthError,
             json{{"error", "AUTH needs a token (apiKey is not supported)"}, {"code", "INVALID_TOKEN"}}.dump());
        c->ws->close(1008, "invalid token");
        return;
    }
    auto k = keys();
    auto t = k ? jwt::verify_token(*a.token, *k, now_ms() / 1000, 0) : jwt::Token{};
    Identity id;
    if (t.ok) id = identity_from_claims(t.claims);
    id.exp = t.exp;
    if (!t.ok || !id.ok) {
        errors_++;
        std::string why = !t.ok ? (t.error.empty() ? std::string("invalid token") : t.error) : id.error;
        send(c, MessageType::AuthError, json{{"error", why}, {"code", "INVALID_TOKEN"}}.dump());
        c->ws->close(1008, "invalid token");
        return;
    }
    std::shared_ptr<http::Timer> timer;
    {
        std::lock_guard<std::mutex> g(c->mu);
        c->identity = std::make_shared<const Identity>(id);
        timer = std::move(c->auth_timer);  // not needed any more: an authenticated parked
                                           // connection holds no timer
    }
    if (timer) timer->cancel();
    send(c, MessageType::AuthSuccess, auth_success_payload(id));
    note_client(c, false);
}

// DELTA_BATCH, or the last DELTA_BATCH_CHUNK of a batch: one write.
void Endpoint::on_delta_batch(const ConnPtr &c, const Frame &f, const Permissions &perm) {
    PayloadLimits limits;
    DeltaBatch b;
    std::string chunk_id;
    if (f.type == MessageType::DeltaBatchChunk) {
        DeltaBatchChunk ch = parse_delta_batch_chunk(f.payload, limits);
        ChunkAssembler::Result r;
        {
            std::lock_guard<std::mutex> g(c->mu);
            r = c->chunks.add(ch, now_ms());
        }
        if (!r.error.empty()) {
            send_error(c, "INVALID_PAYLOAD", r.error, json{{"field", "data"}, {"chunkId", ch.chunk_id}});
            return;
        }
        if (!r.complete) return;
        json_limits::Limits jl;
        jl.max_bytes = r.bytes.size() + 1;
        auto parsed = json_limits::parse_bounded(r.bytes, jl);
        if (!parsed.ok() || !parsed.value.is_object()) {
            send_error(c, "INVALID_PAYLOAD", "the reassembled chunks are not a DELTA_BATCH JSON object",
                       json{{"field", "data"}, {"chunkId", ch.chunk_id}});
            return;
        }
        b = parse_delta_batch(parsed.value, f.timestamp, limits);
        chunk_id = ch.chunk_id;
    } else {
        b = parse_delta_batch(f.payload, f.timestamp, limits);
    }
    for (auto &d : b.deltas) {
        if (!can_write(perm, d.document_id)) {
            deltas_refused_ += b.deltas.size();
            return denied(c, d.document_id, "write");
        }
        if (!client_id_orderable(d.client_id)) {
            deltas_refused_ += b.deltas.size();
            send_error(c, "INVALID_PAYLOAD", "a clientId holds a character in U+E000..U+FFFF",
                       json{{"field", "deltas.clientId"}, {"reason", "invalid"}});
            return;
        }
    }
    Write w;
    w.ack_id = b.message_id;
    w.chunk_id = chunk_id;
    w.batch = true;
    w.deltas = std::move(b.deltas);
    enqueue_write(c, std::move(w));
}

void Endpoint::on_awareness_subscribe(const ConnPtr &c, const Frame &f, const Permissions &perm) {
    PayloadLimits limits;
    std::string doc = parse_document_request(f.payload, limits).document_id;
    if (!can_read(perm, doc)) return denied(c, doc, "read");
    std::string state;
    {
        std::lock_guard<std::mutex> g(c->mu);
        if (c->aware_docs.size() >= 1000 && !c->aware_docs.count(doc)) {
            send_error(c, "INVALID_PAYLOAD", "too many awareness subscriptions on one connection");
            return;
        }
        c->aware_docs.insert(doc);
    }
    {
        std::lock_guard<std::mutex> g(mu_);
        std::lock_guard<std::mutex> g2(c->mu);
        if (c->closed) return;  // on_closed has run: do not leave it in aware_subs_
        auto &v = aware_subs_[doc];
        if (std::find(v.begin(), v.end(), c) == v.end()) v.push_back(c);
        state = awareness_.state_payload(doc);
    }
    send(c, MessageType::AwarenessState, state);
}

void Endpoint::dispatch(const ConnPtr &c, const Frame &f) {
    Config cfg = config();
    PayloadLimits limits;
    switch (f.type) {
    case MessageType::Ping: send(c, MessageType::Pong, "{}"); return;
    case MessageType::Pong:
    case MessageType::Ack: return;
    case MessageType::Auth: return on_auth(c, f);
    default: break;
    }

    std::shared_ptr<const Identity> who = current_identity(c);
    if (!who) return;
    const Permissions &perm = who->permissions;

    switch (f.type) {
    case MessageType::Subscribe:
    case MessageType::SyncRequest: {
        std::string doc = f.type == MessageType::Subscribe ? parse_document_request(f.payload, limits).document_id
                                                           : parse_sync_request(f.payload, limits).document_id;
        if (!can_read(perm, doc)) return denied(c, doc, "read");
        std::string rid = request_id_of(f.payload);
        bool sub = f.type == MessageType::Subscribe;
        enqueue(c, true, [this, c, doc, rid, sub](PGconn *db) { subscribe_job(c, db, doc, rid, sub); });
        return;
    }
    case MessageType::Unsubscribe: {
        std::string doc = parse_document_request(f.payload, limits).document_id;
        enqueue(c, false, [this, c, doc](PGconn *) { unsubscribe(c, doc); });
        return;
    }
    case MessageType::Delta: {
        Delta d = parse_delta(f.payload, f.timestamp, limits);
        if (!can_write(perm, d.document_id)) {
            deltas_refused_++;
            return denied(c, d.document_id, "write");
        }
        if (!client_id_orderable(d.client_id)) {
            deltas_refused_++;
            send_error(c, "INVALID_PAYLOAD", "clientId holds a character in U+E000..U+FFFF, which orders differently in "
                                             "JavaScript and Postgres",
                       json{{"field", "clientId"}, {"reason", "invalid"}});
            return;
        }
        Write w;
        w.ack_id = d.message_id;
        w.deltas.push_back(std::move(d));
        enqueue_write(c, std::move(w));
        return;
    }
    case MessageType::DeltaBatch:
    case MessageType::DeltaBatchChunk: return on_delta_batch(c, f, perm);
    case MessageType::AwarenessSubscribe: return on_awareness_subscribe(c, f, perm);
    case MessageType::AwarenessUpdate: {
        AwarenessUpdate u = parse_awareness_update(f.payload, limits);
        if (!can_read(perm, u.document_id)) return denied(c, u.document_id, "read");
        std::string payload;
        {
            std::lock_guard<std::mutex> g(mu_);
            payload = awareness_.update(u, c->id, now_ms(), std::max(cfg.awareness_timeout_ms, 1));
        }
        if (payload.empty()) {
            send_error(c, "PERMISSION_DENIED", "this clientId's awareness entry belongs to another connection",
                       json{{"documentId", u.document_id}, {"clientId", u.client_id}});
            return;
        }
        publish_awareness(u.document_id, MessageType::AwarenessUpdate, payload);
        return;
    }
    default:
        send_error(c, "INVALID_PAYLOAD", std::string("a client does not send ") + type_name(f.type),
                   json{{"type", type_name(f.type)}});
        return;
    }
}

}  // namespace es::synckit
