// Event-driven HTTP/1.1 server (Boost.Asio + Beast's request parser). A request waiting for
// data (long-poll, SSE) costs a parked socket and a small object, never a thread.
// Pure C++: runs on its own I/O threads and never calls Postgres.
#pragma once
#include "core/http_types.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace es::http {

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
    int port = 3000;          // 0 = any free port
    int threads = 1;
    size_t max_body = 64 * 1024 * 1024;
    size_t max_header = 64 * 1024;
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

// Reason phrase for a status code.
const char *reason_phrase(int status);

}  // namespace es::http
