// What the parts of the SyncKit endpoint share (endpoint.cpp: connections, queues, sending;
// endpoint_messages.cpp: what a client sends; endpoint_db.cpp: the database side). Not for
// use outside src/synckit/.
#pragma once
#include "synckit/endpoint.hpp"

#include <chrono>
#include <list>
#include <mutex>
#include <optional>
#include <set>

namespace es::synckit {

inline int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

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

}  // namespace es::synckit
