// GET /ws: the SyncKit endpoint (endpoint.hpp): connections, their queues, sending and
// publishing. What a client sends is in endpoint_messages.cpp, the database side in
// endpoint_db.cpp.
#include "synckit/endpoint_internal.hpp"

#include "pool/pq.hpp"

#include <algorithm>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

namespace es::synckit {

using json = nlohmann::json;

namespace {

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

}  // namespace

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
