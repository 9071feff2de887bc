// GET /ws: SyncKit's WebSocket document sync (docs/synckit.md; wire notes:
// docs/protocols/synckit.md), served on the HTTP server's I/O threads with the documents in
// Postgres (electric_sync_docs.documents / .fields).
//
// Where each part runs:
// - I/O threads (the connection's strand): frames are decoded, checked (rate, size,
//   permissions) and queued per connection, so one connection's requests run in order;
//   PING, AUTH and awareness are answered there.
// - DB pool threads (libpq): a subscription's read of the document; a delta's write through
//   electric_sync._synckit_apply, where Postgres makes the last-writer-wins decision in one
//   statement and commits before the ACK leaves.
// - The listener thread (its own libpq connection): LISTEN electric_sync_synckit. Every write
//   to electric_sync_docs.fields from SQL notifies inside its transaction; the listener sends
//   the field's new value to every subscriber of the document. The endpoint's own writes do
//   not notify: the pool thread sends their results after the commit.
// Nothing here calls Postgres internals.
#pragma once
#include "core/auth/jwt.hpp"
#include "core/common/clients.hpp"
#include "core/synckit/server.hpp"
#include "http/server.hpp"
#include "pool/db_pool.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace es::synckit {

struct Stats {
    size_t connections = 0, subscriptions = 0, documents = 0, awareness_entries = 0;
    uint64_t deltas_applied = 0, deltas_refused = 0, messages_in = 0, messages_out = 0, errors = 0,
             closed_by_limit = 0, notifications = 0;
};

class Endpoint {
public:
    Endpoint(svc::DbPool &pool, http::Server &server, std::string conninfo);
    ~Endpoint();
    Endpoint(const Endpoint &) = delete;
    Endpoint &operator=(const Endpoint &) = delete;

    // The listener thread (all signals blocked) and the awareness sweep.
    void start();
    // Joins the listener thread. Idempotent. The HTTP server is stopped first.
    void stop();
    // keys: the HS256 secret (electric_sync.jwt_secret) and any public keys.
    void set_config(Config cfg, std::shared_ptr<const jwt::KeySet> keys);

    // GET /ws (any path the service routes here).
    void handle(http::ExchangePtr ex);

    Stats stats() const;
    // The rows of electric_sync.clients that changed since the last call (one per connection,
    // kind "synckit"), and the ids of connections closed since. Kept here rather than in the
    // clients registry: a connection's own fields already hold them.
    clients::Registry::Changes take_client_changes();
    // {"connections":...} for /v1/metrics.
    std::string metrics_json() const;

    struct Conn;
    using ConnPtr = std::shared_ptr<Conn>;

private:
    void on_open(const ConnPtr &c);
    void on_message(const ConnPtr &c, std::string data, bool text);
    void on_closed(const ConnPtr &c);
    void dispatch(const ConnPtr &c, const Frame &f);
    void on_auth(const ConnPtr &c, const Frame &f);
    std::shared_ptr<const Identity> current_identity(const ConnPtr &c);
    void denied(const ConnPtr &c, const std::string &doc, const char *what);
    void on_delta_batch(const ConnPtr &c, const Frame &f, const Permissions &perm);
    void on_awareness_subscribe(const ConnPtr &c, const Frame &f, const Permissions &perm);
    // One write request of a connection: a DELTA, a DELTA_BATCH or a reassembled chunked batch.
    struct Write {
        std::vector<Delta> deltas;
        std::string ack_id, chunk_id;
        bool batch = false;
    };
    void enqueue(const ConnPtr &c, bool needs_db, std::function<void(PGconn *)> job);
    void enqueue_write(const ConnPtr &c, Write w);
    struct Job;  // a queued request of a connection (endpoint.cpp)
    void push_job(const ConnPtr &c, Job j);
    void pump(const ConnPtr &c);

    void subscribe_job(const ConnPtr &c, PGconn *db, const std::string &doc, const std::string &request_id,
                       bool subscribe);
    // Applies the writes (in one transaction when more than one, or a batch), then sends each
    // its results and its ACK; a failing group is retried write by write.
    void write_job(const ConnPtr &c, PGconn *db, const std::vector<Write> &writes);
    void unsubscribe(const ConnPtr &c, const std::string &doc);

    void send(const ConnPtr &c, MessageType t, const std::string &payload);
    void send_error(const ConnPtr &c, const std::string &code, const std::string &message,
                    const nlohmann::json &details = nullptr);
    void close_for_limit(const ConnPtr &c, const std::string &code, const std::string &message, uint16_t ws_code);
    void note_client(const ConnPtr &c, bool error);

    // Sends one field's value to every subscriber of doc but the connection numbered skip (the
    // writer, which had it before its ACK; 0 = none).
    void publish(const std::string &doc, const FieldState &f, uint64_t skip = 0);
    void publish_awareness(const std::string &doc, MessageType t, const std::string &payload);
    void schedule_sweep();
    void listen_loop();

    Config config() const;
    std::shared_ptr<const jwt::KeySet> keys() const;

    svc::DbPool &pool_;
    http::Server &server_;
    std::string conninfo_;

    mutable std::mutex cfg_mu_;
    Config cfg_;
    std::shared_ptr<const jwt::KeySet> keys_;

    struct DocSubs {
        std::vector<ConnPtr> conns;
        int64_t last_counter = 0;  // the newest counter sent (catch-up after a listener reconnect)
    };
    mutable std::mutex mu_;
    std::unordered_map<uint64_t, ConnPtr> conns_;
    std::unordered_map<std::string, DocSubs> docs_;
    std::unordered_map<std::string, std::vector<ConnPtr>> aware_subs_;
    std::unordered_map<std::string, int> per_ip_;
    std::vector<std::string> dropped_clients_;
    AwarenessStore awareness_;
    uint64_t next_id_ = 1;

    std::atomic<uint64_t> deltas_applied_{0}, deltas_refused_{0}, messages_in_{0}, messages_out_{0}, errors_{0},
        closed_by_limit_{0}, notifications_{0};

    std::shared_ptr<http::Timer> sweep_timer_;
    std::atomic<bool> stopping_{false};
    std::thread listener_;
    int pipe_[2] = {-1, -1};
};

}  // namespace es::synckit
