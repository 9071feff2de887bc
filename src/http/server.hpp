// Event-driven HTTP/1.1 server (Boost.Asio + Beast's request parser). A request waiting for
// data (long-poll, SSE) costs a parked socket and a small object, never a thread.
// Pure C++: runs on its own I/O threads and never calls Postgres.
#pragma once
#include "core/common/http_types.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace es::http {

// A WebSocket connection after an accepted upgrade (RFC 6455, Beast's implementation).
// Thread-safe: send and close from any thread; messages go out in the order sent.
class WebSocket {
public:
    virtual ~WebSocket() = default;
    // Queues one binary message. False if the connection is closed or closing, or if the queue
    // would exceed WebSocketOptions::max_queued_bytes (a reader too slow: then it is closed).
    virtual bool send(std::string data) = 0;
    // The same for a message shared with other connections (a broadcast): not copied.
    virtual bool send_shared(std::shared_ptr<const std::string> data) = 0;
    // Sends what is queued, then a close frame with code and reason, then closes.
    virtual void close(uint16_t code, std::string reason) = 0;
    virtual bool closed() const = 0;
    virtual size_t queued_bytes() const = 0;
    virtual const std::string &remote() const = 0;
};
using WebSocketPtr = std::shared_ptr<WebSocket>;

// What a WebSocket connection calls, always on its I/O thread, one call at a time, in order.
struct WebSocketCallbacks {
    // One complete message; text: it came as a text message.
    std::function<void(std::string data, bool text)> on_message;
    // A message grew past max_message_bytes: nothing more is read; the owner answers and closes.
    std::function<void()> on_oversize;
    // The connection is gone (peer close, error, timeout, our close). Called once; after it the
    // callbacks are dropped (so captures that hold the WebSocket do not keep it alive).
    std::function<void()> on_close;
};

struct WebSocketOptions {
    size_t max_message_bytes = 2000000;
    size_t max_queued_bytes = 16u * 1024 * 1024;
    // No traffic for half of it: a ping frame; for all of it: closed.
    int idle_timeout_ms = 60000;
    int handshake_timeout_ms = 10000;
};

// Runs once the handshake is done, on the connection's I/O thread: gets the connection and
// returns its callbacks.
using WebSocketSetup = std::function<WebSocketCallbacks(WebSocketPtr)>;

// True if the request asks for a WebSocket upgrade that can be accepted (GET, Upgrade:
// websocket, Connection: upgrade, Sec-WebSocket-Version 13, a Sec-WebSocket-Key).
bool is_websocket_upgrade(const Request &req);

// One in-flight request. Thread-safe: complete it from any thread, exactly once.
class Exchange {
public:
    virtual ~Exchange() = default;
    virtual const Request &request() const = 0;
    // Sends a complete response. Returns false if it was already answered or the peer is gone.
    virtual bool respond(Response r) = 0;
    // Streaming (SSE): sends status and headers now (chunked transfer encoding) and head.body as
    // the first chunk. Then send() chunks and end_stream().
    virtual bool begin_stream(Response head) = 0;
    virtual bool send(std::string data) = 0;
    virtual void end_stream() = 0;
    // True once the peer closed the connection (or the server stopped).
    virtual bool closed() const = 0;
    // fn runs (on an I/O thread) when the peer closes the connection before the exchange ends.
    virtual void on_close(std::function<void()> fn) = 0;
    // Answers with a WebSocket handshake (101) and turns the connection into a WebSocket; the
    // request must satisfy is_websocket_upgrade. setup runs once the handshake is done (never
    // if it fails). Returns false if the exchange was already answered or the peer is gone.
    virtual bool upgrade(WebSocketOptions options, WebSocketSetup setup) = 0;
};
using ExchangePtr = std::shared_ptr<Exchange>;
using Handler = std::function<void(ExchangePtr)>;

// A cancellable one-shot timer.
class Timer {
public:
    virtual ~Timer() = default;
    virtual void cancel() = 0;
};

struct ServerOptions {
    std::string address = "127.0.0.1";
    int port = 3000;  // 0 = any free port
    int threads = 1;
    size_t max_body = 64 * 1024 * 1024;
    size_t max_header = 64 * 1024;
    // Connection limits (0 = off). Changeable at runtime with Server::set_limits.
    // header_timeout_ms: a request (head and body) must arrive within this of its first byte;
    //   a new connection's first request within this of the accept. Then 408 + close.
    // idle_timeout_ms: a keep-alive connection with no request in progress is closed quietly
    //   after this (never while a request, long-poll or stream is in progress).
    // max_connections: client connections held at once; over it, new ones get 503 + close.
    int header_timeout_ms = 30000;
    int idle_timeout_ms = 60000;
    int max_connections = 10000;
    // Hard ceiling on the descriptors the server may use for client sockets (sessions plus
    // connections being turned away), whatever max_connections says; 0 = none. The worker sets it
    // from its open-files limit minus what Postgres itself may need.
    size_t fd_budget = 0;
};

// Request framing: Beast's request parser with our header and body limits. Feed it the bytes
// received so far; it consumes what belongs to the current request. Used by the server's
// sessions and by test/fuzz/fuzz_http_request.cpp.
class RequestFramer {
public:
    enum class Result { NeedMore, Done, Error };
    RequestFramer(size_t max_body, size_t max_header);
    ~RequestFramer();
    RequestFramer(const RequestFramer &) = delete;
    RequestFramer &operator=(const RequestFramer &) = delete;

    // Parses from data[0..n). `used` = bytes consumed (the caller drops them; unconsumed bytes
    // must be passed again, followed by more). Done: take() the request. Error: error_status()
    // (400, 413, 431) and error_message(); the connection must be closed.
    Result put(const char *data, size_t n, size_t &used);
    // The finished request; resets the framer for the next one. keep_alive: the client's wish.
    Request take(bool &keep_alive);
    int error_status() const { return error_status_; }
    // Assertions inside Boost (turned into errors, see server.cpp) since the process started.
    static unsigned long internal_errors();
    const char *error_message() const { return error_message_; }

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    size_t max_body_, max_header_;
    int error_status_ = 0;
    const char *error_message_ = "";
    bool te_checked_ = false;  // the current request's Transfer-Encoding was checked
};

class Server {
public:
    Server(ServerOptions opts, Handler handler);
    ~Server();
    Server(const Server &) = delete;
    Server &operator=(const Server &) = delete;

    // Binds and starts the I/O threads (created with every signal blocked). Throws on failure.
    void start();
    // Stops accepting, closes every connection, joins the threads. Idempotent.
    void stop();
    bool running() const { return running_.load(); }
    int port() const { return bound_port_; }
    size_t connections() const;
    // Connections turned away (503) because of the connection cap, since start.
    size_t rejected() const;
    // The cap in force: min(max_connections, fd budget); 0 = none.
    size_t max_connections() const;
    // Runtime change of the timeouts and the cap (thread-safe; applies to new waits).
    void set_limits(int header_timeout_ms, int idle_timeout_ms, int max_connections);

    // Runs fn on an I/O thread after ms milliseconds unless cancelled.
    std::shared_ptr<Timer> after(int ms, std::function<void()> fn);
    // Runs fn on an I/O thread soon.
    void post(std::function<void()> fn);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::atomic<bool> running_{false};
    int bound_port_ = 0;
};

void g_internal_assertions_note();

// Reason phrase for a status code.
const char *reason_phrase(int status);

}  // namespace es::http
