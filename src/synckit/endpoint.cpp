// GET /ws: the SyncKit endpoint (endpoint.hpp).
#include "synckit/endpoint.hpp"

#include "core/common/json_limits.hpp"
#include "pool/pq.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <list>
#include <set>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

namespace es::synckit {

using json = nlohmann::json;
using svc::pq_exec;

namespace {

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// The first value of a query parameter, percent-decoded ("" if absent or badly encoded).
std::string query_param(const std::string &query, std::string_view name) {
    size_t i = 0;
    while (i <= query.size()) {
        size_t j = query.find('&', i);
        if (j == std::string::npos) j = query.size();
        std::string_view part(query.data() + i, j - i);
        if (part.size() > name.size() && part.compare(0, name.size(), name) == 0 && part[name.size()] == '=') {
            std::string out;
            for (size_t k = name.size() + 1; k < part.size(); k++) {
                char c = part[k];
                if (c == '+') {
                    out += ' ';
                } else if (c == '%') {
                    if (k + 2 >= part.size()) return {};
                    int h = hexval(part[k + 1]), l = hexval(part[k + 2]);
                    if (h < 0 || l < 0) return {};
                    out += static_cast<char>(h * 16 + l);
                    k += 2;
                } else {
                    out += c;
                }
            }
            return out;
        }
        i = j + 1;
    }
    return {};
}

// A client's clock counts at most this toward the document's counter, so counters stay exact
// in JavaScript numbers (2^53) for 2^50 further writes whatever a client claims.
constexpr uint64_t kMaxClientClock = uint64_t(1) << 52;

FieldState field_from_row(const svc::PgResult &r, int row, int col0) {
    FieldState f;
    f.value_json = r.null(row, col0) ? std::string() : r.str(row, col0);
    f.deleted = r.str(row, col0 + 1) == "t";
    f.ts = std::stoll(r.str(row, col0 + 2));
    f.client_id = r.str(row, col0 + 3);
    f.counter = std::stoll(r.str(row, col0 + 4));
    return f;
}

}  // namespace

// A queued request of a connection.
struct Endpoint::Job {
    bool needs_db = false;
    std::function<void(PGconn *)> fn;  // unless a write
    std::optional<Write> write;  // a write: consecutive ones run as one group
};

// One WebSocket connection.
struct Endpoint::Conn {
    uint64_t id = 0;
    std::string ip, user_agent;
    http::WebSocketPtr ws;

    // Set before the handshake completes (the token of the URL), read on the strand.
    // On the heap, and only until the handshake ends: a parked connection does not carry it.
    std::unique_ptr<Identity> initial;
    std::string initial_error;  // a token in the URL that was refused

    std::mutex mu;  // the members below
    // Immutable once set (AUTH replaces it): requests share it instead of copying it.
    std::shared_ptr<const Identity> identity;
    std::set<std::string> docs, aware_docs;
    std::list<Job> queue;  // not a deque: empty (the usual case) it allocates nothing
    bool busy = false;
    bool closed = false;
    RateWindow rate;
    ChunkAssembler chunks;
    uint64_t messages = 0, errors = 0;
    std::shared_ptr<http::Timer> auth_timer;
    // Its row of electric_sync.clients (take_client_changes): changed when version != written.
    int64_t first_seen_ms = 0, last_seen_ms = 0;
    bool error_status = false;
    uint64_t version = 0, written = 0;
};

Endpoint::Endpoint(svc::DbPool &pool, http::Server &server, std::string conninfo)
    : pool_(pool), server_(server), conninfo_(std::move(conninfo)) {}

Endpoint::~Endpoint() {
    stop();
    if (pipe_[0] >= 0) close(pipe_[0]);
    if (pipe_[1] >= 0) close(pipe_[1]);
}

void Endpoint::start() {
    if (pipe(pipe_) != 0) throw std::runtime_error("synckit: pipe failed");
    fcntl(pipe_[0], F_SETFL, O_NONBLOCK);
    fcntl(pipe_[1], F_SETFL, O_NONBLOCK);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    try {
        listener_ = std::thread([this] { listen_loop(); });
    } catch (...) {
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
        throw;
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    schedule_sweep();
}

void Endpoint::stop() {
    stopping_ = true;
    if (sweep_timer_) sweep_timer_->cancel();
    if (pipe_[1] >= 0) {
        char b = 1;
        ssize_t n = write(pipe_[1], &b, 1);
        (void)n;
    }
    if (listener_.joinable()) listener_.join();
}

void Endpoint::set_config(Config cfg, std::shared_ptr<const jwt::KeySet> keys) {
    std::lock_guard<std::mutex> g(cfg_mu_);
    cfg_ = cfg;
    keys_ = std::move(keys);
}

Config Endpoint::config() const {
    std::lock_guard<std::mutex> g(cfg_mu_);
    return cfg_;
}

std::shared_ptr<const jwt::KeySet> Endpoint::keys() const {
    std::lock_guard<std::mutex> g(cfg_mu_);
    return keys_;
}

// ---------------------------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------------------------

void Endpoint::handle(http::ExchangePtr ex) {
    const http::Request &req = ex->request();
    if (!http::is_websocket_upgrade(req)) {
        auto r = http::json_response(
            426, "{\"message\":\"/ws is SyncKit's WebSocket endpoint: connect with a WebSocket client (GET with "
                 "Upgrade: websocket, Sec-WebSocket-Version: 13)\"}");
        r.set("upgrade", "websocket");
        r.set("cache-control", "no-store");
        ex->respond(std::move(r));
        return;
    }
    Config cfg = config();
    auto c = std::make_shared<Conn>();
    c->ip = req.remote;
    if (auto *ua = req.header("user-agent")) c->user_agent = ua->substr(0, clients::kMaxUserAgent);
    c->rate.set_limit(cfg.messages_per_minute > 0 ? static_cast<uint32_t>(cfg.messages_per_minute) : 0);
    c->chunks = ChunkAssembler(std::max<size_t>(cfg.max_message_bytes * 8, 1024 * 1024));
    std::string token = query_param(req.query, "token");
    if (token.size() > jwt::kMaxTokenBytes) {
        c->initial_error = "the token is longer than 16 KiB";
    } else if (!token.empty()) {
        auto k = keys();
        auto t = k ? jwt::verify_token(token, *k, now_ms() / 1000, 0) : jwt::Token{};
        if (!t.ok) {
            c->initial_error = t.error.empty() ? std::string("invalid token") : t.error;
        } else {
            auto id = identity_from_claims(t.claims);
            id.exp = t.exp;
            if (id.ok)
                c->initial = std::make_unique<Identity>(std::move(id));
            else
                c->initial_error = id.error;
        }
    } else if (cfg.anonymous) {
        c->initial = std::make_unique<Identity>(anonymous_identity());
    }
    http::WebSocketOptions o;
    o.max_message_bytes = cfg.max_message_bytes;
    ex->upgrade(o, [this, c](http::WebSocketPtr ws) {
        c->ws = std::move(ws);
        on_open(c);
        http::WebSocketCallbacks cb;
        cb.on_message = [this, c](std::string data, bool text) { on_message(c, std::move(data), text); };
        cb.on_oversize = [this, c] {
            Config cfg = config();
            close_for_limit(c, "MESSAGE_TOO_LARGE",
                            "a message is larger than electric_sync.synckit_max_message_bytes (" +
                                std::to_string(cfg.max_message_bytes) + " bytes)",
                            1009);
        };
        cb.on_close = [this, c] { on_closed(c); };
        return cb;
    });
}

void Endpoint::on_open(const ConnPtr &c) {
    Config cfg = config();
    bool over_ip = false;
    {
        std::lock_guard<std::mutex> g(mu_);
        c->id = next_id_++;
        conns_[c->id] = c;
        int &n = per_ip_[c->ip];
        n++;
        over_ip = cfg.max_connections_per_ip > 0 && n > cfg.max_connections_per_ip;
    }
    if (over_ip) {
        close_for_limit(c, "TOO_MANY_CONNECTIONS",
                        "more than electric_sync.synckit_max_connections_per_ip (" +
                            std::to_string(cfg.max_connections_per_ip) + ") connections from this address",
                        1008);
        return;
    }
    if (!c->initial_error.empty()) {
        send(c, MessageType::AuthError, json{{"error", c->initial_error}, {"code", "INVALID_TOKEN"}}.dump());
        errors_++;
        c->ws->close(1008, "invalid token");
        return;
    }
    if (c->initial) {
        std::lock_guard<std::mutex> g(c->mu);
        c->identity = std::make_shared<const Identity>(std::move(*c->initial));
        c->initial.reset();
    } else {
        // Without an identity the connection may only authenticate, within the auth timeout.
        std::weak_ptr<Conn> w = c;
        c->auth_timer = server_.after(std::max(cfg.auth_timeout_ms, 100), [this, w] {
            auto c = w.lock();
            if (!c) return;
            {
                std::lock_guard<std::mutex> g(c->mu);
                if (c->identity || c->closed) return;
            }
            send(c, MessageType::AuthError,
                 json{{"error", "no AUTH message with a token arrived in time"}, {"code", "AUTH_REQUIRED"}}.dump());
            c->ws->close(1008, "authentication required");
        });
    }
    note_client(c, false);
}

void Endpoint::on_closed(const ConnPtr &c) {
    std::vector<std::string> docs, aware;
    {
        std::lock_guard<std::mutex> g(c->mu);
        c->closed = true;
        docs.assign(c->docs.begin(), c->docs.end());
        aware.assign(c->aware_docs.begin(), c->aware_docs.end());
        c->docs.clear();
        c->aware_docs.clear();
        c->queue.clear();
        if (c->auth_timer) c->auth_timer->cancel();
    }
    std::vector<std::pair<std::string, std::string>> left;
    {
        std::lock_guard<std::mutex> g(mu_);
        conns_.erase(c->id);
        auto ip = per_ip_.find(c->ip);
        if (ip != per_ip_.end() && --ip->second <= 0) per_ip_.erase(ip);
        for (auto &d : docs) {
            auto it = docs_.find(d);
            if (it == docs_.end()) continue;
            auto &v = it->second.conns;
            v.erase(std::remove(v.begin(), v.end(), c), v.end());
            if (v.empty()) docs_.erase(it);
        }
        for (auto &d : aware) {
            auto it = aware_subs_.find(d);
            if (it == aware_subs_.end()) continue;
            auto &v = it->second;
            v.erase(std::remove(v.begin(), v.end(), c), v.end());
            if (v.empty()) aware_subs_.erase(it);
        }
        left = awareness_.drop_owner(c->id);
        // Its row leaves electric_sync.clients at the next write (bounded like the rows).
        if (dropped_clients_.size() < 100000) dropped_clients_.push_back("synckit:" + std::to_string(c->id));
    }
    for (auto &[doc, payload] : left) publish_awareness(doc, MessageType::AwarenessUpdate, payload);
}

void Endpoint::note_client(const ConnPtr &c, bool error) {
    std::lock_guard<std::mutex> g(c->mu);
    if (c->closed) return;
    int64_t now = now_ms();
    if (!c->first_seen_ms) c->first_seen_ms = now;
    c->last_seen_ms = now;
    c->error_status = error;
    c->version++;
}

clients::Registry::Changes Endpoint::take_client_changes() {
    clients::Registry::Changes out;
    std::vector<ConnPtr> all;
    {
        std::lock_guard<std::mutex> g(mu_);
        out.dropped.swap(dropped_clients_);
        all.reserve(conns_.size());
        for (auto &[id, c] : conns_) all.push_back(c);
    }
    for (auto &c : all) {
        std::lock_guard<std::mutex> g(c->mu);
        if (c->closed || c->version == c->written || !c->first_seen_ms) continue;
        c->written = c->version;
        clients::Client r;
        r.client_id = "synckit:" + std::to_string(c->id);
        r.kind = "synckit";
        if (c->identity) r.user = c->identity->user_id;
        r.user_agent = c->user_agent;
        r.first_seen_ms = c->first_seen_ms;
        r.last_seen_ms = c->last_seen_ms;
        r.requests = c->messages;
        r.errors = c->errors;
        r.status = c->error_status ? "error" : "idle";
        for (auto &d : c->docs) {
            if (r.documents.size() >= clients::kMaxDocuments) break;
            r.documents.push_back(d);
        }
        out.changed.push_back(std::move(r));
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------------------------

void Endpoint::send(const ConnPtr &c, MessageType t, const std::string &payload) {
    if (!c->ws) return;
    if (c->ws->send(encode_frame(t, now_ms(), payload))) messages_out_++;
}

void Endpoint::send_error(const ConnPtr &c, const std::string &code, const std::string &message,
                          const json &details) {
    errors_++;
    {
        std::lock_guard<std::mutex> g(c->mu);
        c->errors++;
    }
    send(c, MessageType::Error, error_payload(code, message, details).dump(-1, ' ', false, json::error_handler_t::replace));
    note_client(c, true);
}

void Endpoint::close_for_limit(const ConnPtr &c, const std::string &code, const std::string &message,
                               uint16_t ws_code) {
    closed_by_limit_++;
    send_error(c, code, message);
    c->ws->close(ws_code, code);
}

void Endpoint::publish(const std::string &doc, const FieldState &f, uint64_t skip) {
    std::vector<ConnPtr> targets;
    {
        std::lock_guard<std::mutex> g(mu_);
        auto it = docs_.find(doc);
        if (it == docs_.end()) return;
        it->second.last_counter = std::max(it->second.last_counter, f.counter);
        targets = it->second.conns;
    }
    if (targets.empty()) return;
    auto frame = std::make_shared<const std::string>(encode_frame(MessageType::Delta, now_ms(), delta_payload(doc, f)));
    for (auto &c : targets)
        if (c->id != skip && c->ws && c->ws->send_shared(frame)) messages_out_++;
}

void Endpoint::publish_awareness(const std::string &doc, MessageType t, const std::string &payload) {
    std::vector<ConnPtr> targets;
    {
        std::lock_guard<std::mutex> g(mu_);
        auto it = aware_subs_.find(doc);
        if (it == aware_subs_.end()) return;
        targets = it->second;
    }
    auto frame = std::make_shared<const std::string>(encode_frame(t, now_ms(), payload));
    for (auto &c : targets)
        if (c->ws && c->ws->send_shared(frame)) messages_out_++;
}

void Endpoint::schedule_sweep() {
    if (stopping_) return;
    sweep_timer_ = server_.after(1000, [this] {
        if (stopping_) return;
        std::vector<std::pair<std::string, std::string>> gone;
        {
            std::lock_guard<std::mutex> g(mu_);
            gone = awareness_.expire(now_ms());
        }
        for (auto &[doc, payload] : gone) publish_awareness(doc, MessageType::AwarenessUpdate, payload);
        schedule_sweep();
    });
}

// ---------------------------------------------------------------------------------------------
// Receiving
// ---------------------------------------------------------------------------------------------

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

void Endpoint::dispatch(const ConnPtr &c, const Frame &f) {
    Config cfg = config();
    PayloadLimits limits;
    switch (f.type) {
    case MessageType::Ping: send(c, MessageType::Pong, "{}"); return;
    case MessageType::Pong:
    case MessageType::Ack: return;
    case MessageType::Auth: {
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
        return;
    }
    default: break;
    }

    std::shared_ptr<const Identity> who;
    {
        std::lock_guard<std::mutex> g(c->mu);
        who = c->identity;
    }
    if (who && who->exp > 0 && now_ms() / 1000 >= who->exp) {
        // Permissions hold as long as the token: an expired one ends the connection (the SDK
        // reconnects, with a fresh token if its URL has one).
        errors_++;
        send(c, MessageType::AuthError, json{{"error", "the token has expired"}, {"code", "INVALID_TOKEN"}}.dump());
        c->ws->close(1008, "token expired");
        return;
    }
    if (!who) {
        errors_++;
        send(c, MessageType::AuthError,
             json{{"error", "authenticate first: a token in the URL (?token=) or an AUTH message"},
                  {"code", "AUTH_REQUIRED"}}
                 .dump());
        return;
    }
    const Permissions &perm = who->permissions;
    auto denied = [&](const std::string &doc, const char *what) {
        send_error(c, "PERMISSION_DENIED", std::string("no ") + what + " permission on this document",
                   json{{"documentId", doc}});
    };

    switch (f.type) {
    case MessageType::Subscribe:
    case MessageType::SyncRequest: {
        std::string doc = f.type == MessageType::Subscribe ? parse_document_request(f.payload, limits).document_id
                                                           : parse_sync_request(f.payload, limits).document_id;
        if (!can_read(perm, doc)) return denied(doc, "read");
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
            return denied(d.document_id, "write");
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
    case MessageType::DeltaBatchChunk: {
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
                return denied(d.document_id, "write");
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
        return;
    }
    case MessageType::AwarenessSubscribe: {
        std::string doc = parse_document_request(f.payload, limits).document_id;
        if (!can_read(perm, doc)) return denied(doc, "read");
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
        return;
    }
    case MessageType::AwarenessUpdate: {
        AwarenessUpdate u = parse_awareness_update(f.payload, limits);
        if (!can_read(perm, u.document_id)) return denied(u.document_id, "read");
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

// One connection's requests run one at a time, in order; a job that needs the database runs on
// a DB pool thread.
void Endpoint::enqueue(const ConnPtr &c, bool needs_db, std::function<void(PGconn *)> job) {
    Job j;
    j.needs_db = needs_db;
    j.fn = std::move(job);
    push_job(c, std::move(j));
}

void Endpoint::enqueue_write(const ConnPtr &c, Write w) {
    Job j;
    j.needs_db = true;
    j.write = std::move(w);
    push_job(c, std::move(j));
}

void Endpoint::push_job(const ConnPtr &c, Job j) {
    bool full = false;
    {
        std::lock_guard<std::mutex> g(c->mu);
        if (c->closed) return;
        full = c->queue.size() >= 1000;
        if (!full) c->queue.push_back(std::move(j));
    }
    if (full) {
        // Only reachable with a high rate limit: the database cannot keep up with this peer.
        close_for_limit(c, "RATE_LIMITED", "more than 1000 requests waiting for the database on one connection", 1008);
        return;
    }
    pump(c);
}

// At most this many deltas are committed together from one connection's queue.
constexpr size_t kMaxGroupDeltas = 64;

void Endpoint::pump(const ConnPtr &c) {
    for (;;) {
        Job next;
        std::vector<Write> group;
        {
            std::lock_guard<std::mutex> g(c->mu);
            if (c->busy || c->queue.empty() || c->closed) return;
            next = std::move(c->queue.front());
            c->queue.pop_front();
            c->busy = true;
            if (next.write) {
                size_t n = next.write->deltas.size();
                group.push_back(std::move(*next.write));
                while (!c->queue.empty() && c->queue.front().write &&
                       n + c->queue.front().write->deltas.size() <= kMaxGroupDeltas) {
                    n += c->queue.front().write->deltas.size();
                    group.push_back(std::move(*c->queue.front().write));
                    c->queue.pop_front();
                }
            }
        }
        if (next.needs_db) {
            pool_.submit([this, c, fn = std::move(next.fn), group = std::move(group)](PGconn *db) {
                try {
                    if (!group.empty())
                        write_job(c, db, group);
                    else
                        fn(db);
                } catch (...) {}
                {
                    std::lock_guard<std::mutex> g(c->mu);
                    c->busy = false;
                }
                pump(c);
            });
            return;
        }
        try {
            next.fn(nullptr);
        } catch (...) {}
        std::lock_guard<std::mutex> g(c->mu);
        c->busy = false;
    }
}

void Endpoint::unsubscribe(const ConnPtr &c, const std::string &doc) {
    {
        std::lock_guard<std::mutex> g(c->mu);
        c->docs.erase(doc);
    }
    {
        std::lock_guard<std::mutex> g(mu_);
        auto it = docs_.find(doc);
        if (it != docs_.end()) {
            auto &v = it->second.conns;
            v.erase(std::remove(v.begin(), v.end(), c), v.end());
            if (v.empty()) docs_.erase(it);
        }
    }
    note_client(c, false);
}

void Endpoint::subscribe_job(const ConnPtr &c, PGconn *db, const std::string &doc, const std::string &rid,
                             bool subscribe) {
    if (!db) {
        send_error(c, "UNAVAILABLE", "the database cannot be reached; retry later", json{{"documentId", doc}});
        return;
    }
    bool added = false;
    if (subscribe) {
        // Registered before the read, so that no write committed in between is missed (one
        // may arrive twice; the counters make that harmless).
        {
            std::lock_guard<std::mutex> g(c->mu);
            if (c->closed) return;
            if (c->docs.size() >= 1000 && !c->docs.count(doc)) {
                send_error(c, "INVALID_PAYLOAD", "too many subscriptions on one connection (1000)",
                           json{{"documentId", doc}});
                return;
            }
            added = c->docs.insert(doc).second;
        }
        if (added) {
            // Re-checked under both locks (mu_ first, as everywhere): a connection that closed
            // since must not be left in docs_ (on_closed has already removed it).
            std::lock_guard<std::mutex> g(mu_);
            std::lock_guard<std::mutex> g2(c->mu);
            if (c->closed) return;
            docs_[doc].conns.push_back(c);
        }
    }
    svc::PgResult r;
    try {
        r = pq_exec(db,
                    "SELECT d.counter, f.field, f.value::text, f.deleted, f.ts, f.client_id, f.counter "
                    "FROM electric_sync_docs.documents d LEFT JOIN electric_sync_docs.fields f ON f.document_id = d.id "
                    "WHERE d.id = $1 ORDER BY f.counter",
                    {doc});
    } catch (const std::exception &) {
        if (added) unsubscribe(c, doc);
        send_error(c, "UNAVAILABLE", "the document could not be read; retry later", json{{"documentId", doc}});
        return;
    }
    int64_t counter = 0;
    std::vector<FieldState> fields;
    if (r.rows() == 0) {
        if (!config().create_documents) {
            if (added) unsubscribe(c, doc);
            send_error(c, "DOCUMENT_NOT_FOUND",
                       "no such document (electric_sync.synckit_create_documents is off: create it with "
                       "electric_sync.document_create)",
                       json{{"documentId", doc}});
            return;
        }
    } else {
        counter = std::stoll(r.str(0, 0));
        for (int i = 0; i < r.rows(); i++) {
            if (r.null(i, 1)) continue;
            FieldState f = field_from_row(r, i, 2);
            f.field = r.str(i, 1);
            fields.push_back(std::move(f));
        }
    }
    send(c, MessageType::SyncResponse, sync_response_payload(doc, rid, fields, counter));
    // SDK 0.1.1 ignores the state of a SYNC_RESPONSE: every live field follows as a DELTA.
    for (auto &f : fields)
        if (!f.deleted) send(c, MessageType::Delta, delta_payload(doc, f));
    if (added) note_client(c, false);
}

void Endpoint::write_job(const ConnPtr &c, PGconn *db, const std::vector<Write> &writes) {
    if (!db) {
        for (auto &w : writes)
            send_error(c, "UNAVAILABLE", "the database cannot be reached; the write was not stored (retry)",
                       json{{"messageId", w.ack_id}});
        return;
    }
    bool create = config().create_documents;
    // electric_sync.synckit_origin (local to the write's transaction) tells the notify trigger
    // that this write is the worker's own: it sends the result to the subscribers itself, after
    // the commit, without a NOTIFY (whose cluster-wide commit lock would serialize all deltas).
    // The call's first argument depends on set_config's result so that set_config runs first.
    const char *sql =
        "SELECT a.value::text, a.deleted, a.ts, a.client_id, a.counter, a.won "
        "FROM (SELECT set_config('electric_sync.synckit_origin', $9, true) AS o) s, "
        "LATERAL electric_sync._synckit_apply(CASE WHEN s.o IS NOT NULL THEN $1 END, $2, $3::jsonb, $4::boolean, "
        "$5::bigint, $6, $7::bigint, $8::boolean) a";
    // One transaction for the group (several DELTAs that were waiting on this connection, or a
    // batch): one commit for all of them. A lone DELTA runs on its own (autocommit).
    bool txn = writes.size() > 1 || writes[0].batch;
    struct Outcome {
        bool missing = false;  // the document does not exist (synckit_create_documents off)
        std::string missing_doc;
        std::vector<std::pair<std::string, FieldState>> results;
    };
    std::vector<Outcome> out;
    // A deadlock with a concurrent SQL write of the same document (its trigger locks the field
    // row, then the document; _synckit_apply the other way round) is retried.
    for (int attempt = 0;; attempt++) {
        out.assign(writes.size(), Outcome{});
        try {
            if (txn) svc::pq_command(db, "BEGIN");
            for (size_t i = 0; i < writes.size(); i++) {
                for (auto &d : writes[i].deltas) {
                    std::optional<std::string> value;
                    if (!d.delete_field) value = d.value.dump(-1, ' ', false, json::error_handler_t::replace);
                    auto r = pq_exec(db, sql,
                                     {d.document_id, d.field, value, d.delete_field ? "true" : "false",
                                      std::to_string(d.timestamp), d.client_id,
                                      std::to_string(std::min<uint64_t>(clock_max(d.clock), kMaxClientClock)),
                                      create ? "true" : "false", std::to_string(c->id)});
                    if (r.rows() == 0) {
                        // Nothing was written for it (a batch names one document: none of its
                        // deltas can have been).
                        out[i].missing = true;
                        out[i].missing_doc = d.document_id;
                        out[i].results.clear();
                        break;
                    }
                    FieldState f = field_from_row(r, 0, 0);
                    f.field = d.field;
                    out[i].results.emplace_back(d.document_id, std::move(f));
                }
            }
            if (txn) svc::pq_command(db, "COMMIT");
            break;
        } catch (const std::exception &e) {
            if (txn && PQtransactionStatus(db) != PQTRANS_IDLE) {
                try {
                    svc::pq_command(db, "ROLLBACK");
                } catch (...) {}
            }
            std::string state;
            if (auto *pe = dynamic_cast<const svc::PgClientError *>(&e)) state = pe->sqlstate;
            if ((state == "40P01" || state == "40001") && attempt < 5) continue;
            if (writes.size() > 1) {
                // One write of the group failed: each on its own, so that only it fails.
                for (auto &w : writes) write_job(c, db, {w});
                return;
            }
            deltas_refused_ += writes[0].deltas.size();
            send_error(c, "WRITE_FAILED", "the write was not stored",
                       json{{"messageId", writes[0].ack_id}, {"sqlstate", state}});
            return;
        }
    }
    // Committed: per write, the sender gets the resulting values, then its ACK; then the other
    // subscribers get them (so that the ACK does not wait behind a large fan-out).
    for (size_t i = 0; i < writes.size(); i++) {
        const Write &w = writes[i];
        if (out[i].missing) {
            deltas_refused_ += w.deltas.size();
            send_error(c, "DOCUMENT_NOT_FOUND", "no such document (electric_sync.synckit_create_documents is off)",
                       json{{"documentId", out[i].missing_doc}, {"messageId", w.ack_id}});
            continue;
        }
        deltas_applied_ += w.deltas.size();
        for (auto &[doc, f] : out[i].results) send(c, MessageType::Delta, delta_payload(doc, f));
        if (!w.ack_id.empty() || w.batch)
            send(c, MessageType::Ack,
                 ack_payload(w.ack_id, w.batch ? std::optional<size_t>(w.deltas.size()) : std::nullopt, w.chunk_id));
        for (auto &[doc, f] : out[i].results) publish(doc, f, c->id);
    }
}

// ---------------------------------------------------------------------------------------------
// The listener: LISTEN electric_sync_synckit
// ---------------------------------------------------------------------------------------------

void Endpoint::listen_loop() {
    PGconn *conn = nullptr;
    bool connected_before = false;
    while (!stopping_) {
        if (!conn || PQstatus(conn) != CONNECTION_OK) {
            if (conn) PQfinish(conn);
            conn = PQconnectdb(conninfo_.c_str());
            bool ok = PQstatus(conn) == CONNECTION_OK;
            if (ok) {
                PGresult *r = PQexec(conn, "LISTEN electric_sync_synckit");
                ok = PQresultStatus(r) == PGRES_COMMAND_OK;
                PQclear(r);
            }
            if (!ok) {
                PQfinish(conn);
                conn = nullptr;
                struct pollfd p = {pipe_[0], POLLIN, 0};
                poll(&p, 1, 1000);
                continue;
            }
            if (connected_before) {
                // Notifications sent while we were not listening are lost: send every field that
                // changed since the last counter each subscribed document was sent.
                std::vector<std::pair<std::string, int64_t>> docs;
                {
                    std::lock_guard<std::mutex> g(mu_);
                    for (auto &[d, s] : docs_) docs.emplace_back(d, s.last_counter);
                }
                for (auto &[d, last] : docs) {
                    try {
                        auto r = pq_exec(conn,
                                         "SELECT field, value::text, deleted, ts, client_id, counter FROM "
                                         "electric_sync_docs.fields WHERE document_id = $1 AND counter > $2 "
                                         "ORDER BY counter",
                                         {d, std::to_string(last)});
                        for (int i = 0; i < r.rows(); i++) {
                            FieldState f = field_from_row(r, i, 1);
                            f.field = r.str(i, 0);
                            publish(d, f);
                        }
                    } catch (const std::exception &) {
                        break;
                    }
                }
            }
            connected_before = true;
        }
        struct pollfd fds[2] = {{PQsocket(conn), POLLIN, 0}, {pipe_[0], POLLIN, 0}};
        poll(fds, 2, 5000);
        if (fds[1].revents & POLLIN) {
            char buf[64];
            while (read(pipe_[0], buf, sizeof buf) > 0) {}
        }
        if (stopping_) break;
        if (!(fds[0].revents & (POLLIN | POLLERR | POLLHUP))) continue;
        if (!PQconsumeInput(conn)) continue;  // broken: reconnect
        while (PGnotify *n = PQnotifies(conn)) {
            std::string extra = n->extra ? n->extra : "";
            PQfreemem(n);
            notifications_++;
            auto p = json_limits::parse_bounded(extra);
            if (!p.ok() || !p.value.is_object()) continue;
            const json &j = p.value;
            try {
                std::string doc = j.at("d").get<std::string>();
                {
                    std::lock_guard<std::mutex> g(mu_);
                    if (!docs_.count(doc)) continue;  // nobody listens to this document
                }
                FieldState f;
                f.field = j.at("f").get<std::string>();
                f.counter = j.at("c").get<int64_t>();
                f.client_id = j.value("k", std::string("sql"));
                f.ts = j.value("t", int64_t(0));
                f.deleted = j.value("x", false);
                if (j.value("big", false)) {
                    auto r = pq_exec(conn,
                                     "SELECT value::text, deleted, ts, client_id, counter FROM "
                                     "electric_sync_docs.fields WHERE document_id = $1 AND field = $2",
                                     {doc, f.field});
                    if (r.rows() == 0) continue;  // deleted since: its own notification follows
                    FieldState row = field_from_row(r, 0, 0);
                    row.field = std::move(f.field);
                    f = std::move(row);
                } else if (!f.deleted) {
                    auto v = j.find("v");
                    f.value_json = (v == j.end()) ? "null" : v->dump(-1, ' ', false, json::error_handler_t::replace);
                }
                publish(doc, f);
            } catch (const std::exception &) {
            }
        }
    }
    if (conn) PQfinish(conn);
}

// ---------------------------------------------------------------------------------------------
// Observability
// ---------------------------------------------------------------------------------------------

Stats Endpoint::stats() const {
    Stats s;
    {
        std::lock_guard<std::mutex> g(mu_);
        s.connections = conns_.size();
        s.documents = docs_.size();
        for (auto &[d, subs] : docs_) s.subscriptions += subs.conns.size();
        s.awareness_entries = awareness_.size();
    }
    s.deltas_applied = deltas_applied_;
    s.deltas_refused = deltas_refused_;
    s.messages_in = messages_in_;
    s.messages_out = messages_out_;
    s.errors = errors_;
    s.closed_by_limit = closed_by_limit_;
    s.notifications = notifications_;
    return s;
}

std::string Endpoint::metrics_json() const {
    Stats s = stats();
    return json{{"connections", s.connections},
                {"subscriptions", s.subscriptions},
                {"documents", s.documents},
                {"awareness_entries", s.awareness_entries},
                {"deltas_applied", s.deltas_applied},
                {"deltas_refused", s.deltas_refused},
                {"messages_in", s.messages_in},
                {"messages_out", s.messages_out},
                {"errors", s.errors},
                {"closed_by_limit", s.closed_by_limit},
                {"notifications", s.notifications}}
        .dump();
}

}  // namespace es::synckit
