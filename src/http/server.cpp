// Event-driven HTTP server on Boost.Asio. Each connection is a Session with one read loop that
// is always outstanding (so a parked request notices when its peer goes away) feeding Beast's
// request parser, and a write queue. Sessions run on strands; handlers run on I/O threads and
// may complete their Exchange later from any thread. WebSocket connections are in websocket.cpp.
//
// Boost's assertions are on in our builds (no NDEBUG): an assertion inside Beast's parser, hit by
// a client's bytes, would abort the worker and make the postmaster restart every backend. They
// throw instead (boost::assertion_failed in framer.cpp); the framer answers 400 and closes. Only
// the files of src/http include Boost.
#define BOOST_ENABLE_ASSERT_HANDLER 1
#include "http/server.hpp"
#include "http/websocket_internal.hpp"

#include <array>
#include <boost/assert.hpp>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <deque>
#include <list>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <pthread.h>
#include <signal.h>
#include <algorithm>
#include <cctype>
#include <string_view>
#include <climits>
#include <cstdint>
#include <cstdio>

namespace es::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

namespace {

// Runtime limits shared by the server and its sessions.
struct Limits {
    std::atomic<int> header_timeout_ms{30000};
    std::atomic<int> idle_timeout_ms{60000};
};

class Session;

class ExchangeImpl final : public Exchange {
public:
    ExchangeImpl(std::weak_ptr<Session> s, Request req) : session_(std::move(s)), req_(std::move(req)) {}
    const Request &request() const override { return req_; }
    bool respond(Response r) override;
    bool begin_stream(Response head) override;
    bool send(std::string data) override;
    void end_stream() override;
    bool closed() const override;
    bool upgrade(WebSocketOptions options, WebSocketSetup setup) override;
    void on_close(std::function<void()> fn) override {
        // A finished exchange will not close "early": keeping fn would only keep its captures
        // (often the request's own context, which holds this exchange) alive forever.
        std::lock_guard<std::mutex> g(mu_);
        if ((answered_ && !streaming_) || ended_) return;
        close_fns_.push_back(std::move(fn));
    }
    void drop_close_fns() {
        std::vector<std::function<void()>> fns;
        std::lock_guard<std::mutex> g(mu_);
        fns.swap(close_fns_);
    }  // fns (declared first) is destroyed after the lock is released
    void fire_close() {
        std::vector<std::function<void()>> fns;
        {
            std::lock_guard<std::mutex> g(mu_);
            fns.swap(close_fns_);
        }
        for (auto &f : fns) {
            try {
                f();
            } catch (...) {}
        }
    }

private:
    std::weak_ptr<Session> session_;
    Request req_;
    std::atomic<bool> answered_{false};
    std::atomic<bool> streaming_{false};
    std::atomic<bool> ended_{false};
    std::mutex mu_;
    std::vector<std::function<void()>> close_fns_;
};

std::string serialize_head(const Response &r, bool chunked, bool close, size_t content_length) {
    std::string out;
    out.reserve(256 + r.headers.size() * 48);
    out += "HTTP/1.1 ";
    out += std::to_string(r.status);
    out += ' ';
    out += reason_phrase(r.status);
    out += "\r\n";
    for (auto &h : r.headers) {
        out += h.first;
        out += ": ";
        out += h.second;
        out += "\r\n";
    }
    if (chunked)
        out += "transfer-encoding: chunked\r\n";
    else if (r.status != 304 && r.status != 204)
        out += "content-length: " + std::to_string(content_length) + "\r\n";
    if (close) out += "connection: close\r\n";
    out += "\r\n";
    return out;
}

void append_chunk(std::string &out, const std::string &data) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%zx\r\n", data.size());
    out += buf;
    out += data;
    out += "\r\n";
}

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket sock, const Handler &h, const ServerOptions &o, const Limits &lim, std::atomic<size_t> &count)
        : sock_(std::move(sock)),
          timer_(sock_.get_executor()),
          handler_(h),
          opts_(o),
          lim_(lim),
          count_(count),
          framer_(o.max_body, o.max_header) {
        count_++;
    }
    ~Session() { count_--; }

    void start() {
        beast::error_code ec;
        sock_.set_option(tcp::no_delay(true), ec);
        auto ep = sock_.remote_endpoint(ec);
        if (!ec) remote_ = ep.address().to_string();
        // The first request must be complete within the header timeout of the accept.
        net::dispatch(sock_.get_executor(), [self = shared_from_this()] {
            self->phase_ = Phase::Header;
            self->arm(self->lim_.header_timeout_ms.load());
            self->read_more();
        });
    }

    // Called from any thread.
    void post_response(Response r, bool head_only) {
        net::post(sock_.get_executor(), [self = shared_from_this(), r = std::move(r), head_only]() mutable {
            self->write_response(std::move(r), head_only);
        });
    }
    void post_stream_head(Response r) {
        net::post(sock_.get_executor(), [self = shared_from_this(), r = std::move(r)]() mutable {
            if (self->closed_) return;
            std::string out = serialize_head(r, true, false, 0);
            if (!r.body.empty()) append_chunk(out, r.body);
            self->enqueue(std::move(out));
        });
    }
    void post_stream_chunk(std::string data) {
        net::post(sock_.get_executor(), [self = shared_from_this(), d = std::move(data)]() mutable {
            if (self->closed_ || d.empty()) return;
            std::string out;
            append_chunk(out, d);
            self->enqueue(std::move(out));
        });
    }
    void post_stream_end() {
        net::post(sock_.get_executor(), [self = shared_from_this()]() {
            if (self->closed_) return;
            self->enqueue("0\r\n\r\n");
            self->finish_exchange(!self->keep_alive_);
        });
    }
    void post_close() {
        net::post(sock_.get_executor(), [self = shared_from_this()]() { self->shutdown(); });
    }
    // The current exchange becomes a WebSocket: the pending read is cancelled, and its
    // completion (on_read) hands the socket over to a WsConn.
    void post_upgrade(Request req, WebSocketOptions o, WebSocketSetup setup) {
        net::post(sock_.get_executor(),
                  [self = shared_from_this(), req = std::move(req), o, setup = std::move(setup)]() mutable {
                      if (self->closed_ || self->upgrade_) return;
                      self->upgrade_.emplace(Upgrade{std::move(req), o, std::move(setup)});
                      self->disarm();
                      beast::error_code ec;
                      self->sock_.cancel(ec);
                  });
    }
    bool is_closed() const { return closed_.load(); }

private:
    // Header: a request is being received (or awaited on a new connection): header timeout.
    // Idle: between requests on a keep-alive connection: idle timeout, quiet close.
    // Busy: a request is being handled (long-poll, stream...): no timeout of ours.
    // Linger: an error response was sent and our side shut down; the rest of the peer's data
    //   is read and dropped (so that the peer sees the response, not a reset) for a moment.
    enum class Phase { Header, Idle, Busy, Linger };

    void arm(int ms) {
        ++timer_gen_;
        timer_.cancel();
        if (ms <= 0 || closed_) return;
        armed_written_ = bytes_written_;
        timer_.expires_after(std::chrono::milliseconds(ms));
        timer_.async_wait([self = shared_from_this(), gen = timer_gen_](beast::error_code ec) {
            if (ec || gen != self->timer_gen_) return;
            self->on_timer();
        });
    }
    void disarm() {
        ++timer_gen_;
        timer_.cancel();
    }

    void on_timer() {
        if (closed_) return;
        switch (phase_) {
        case Phase::Busy: return;
        case Phase::Linger: shutdown(); return;
        case Phase::Idle:
            // A response still being written to a slow reader counts as activity while it
            // makes progress.
            if (writing_ && bytes_written_ != armed_written_) {
                arm(lim_.idle_timeout_ms.load());
                return;
            }
            shutdown();
            return;
        case Phase::Header:
            if (!got_bytes_ && rbuf_.size() == 0) {
                shutdown();  // nothing was asked: nothing to answer
                return;
            }
            fail(408, "Request timeout: the request did not arrive in time");
            return;
        }
    }

    void read_more() {
        if (closed_) return;
        auto buf = rbuf_.prepare(8192);
        sock_.async_read_some(buf,
                              [self = shared_from_this()](beast::error_code ec, size_t n) { self->on_read(ec, n); });
    }

    void on_read(beast::error_code ec, size_t n) {
        if (upgrade_ && !closed_) {
            hand_over();
            return;
        }
        if (ec) {
            peer_gone();
            return;
        }
        rbuf_.commit(n);
        if (phase_ == Phase::Linger) {
            rbuf_.consume(rbuf_.size());
            read_more();
            return;
        }
        if (n > 0) {
            if (phase_ == Phase::Idle) {
                // First byte of the next request: its deadline starts now.
                phase_ = Phase::Header;
                arm(lim_.header_timeout_ms.load());
            }
            got_bytes_ = true;
        }
        if (rbuf_.size() > opts_.max_body + opts_.max_header + 65536) {
            // A client that pipelines without waiting for answers: drop it.
            shutdown();
            return;
        }
        process();
        read_more();
    }

    void process() {
        while (!busy_ && !closed_ && phase_ != Phase::Linger && rbuf_.size() > 0) {
            size_t used = 0;
            auto d = rbuf_.data();
            auto res = framer_.put(static_cast<const char *>(d.data()), d.size(), used);
            rbuf_.consume(used);
            if (res == RequestFramer::Result::NeedMore) break;
            if (res == RequestFramer::Result::Error) {
                fail(framer_.error_status(), framer_.error_message());
                return;
            }
            dispatch();
        }
    }

    // An error response, then close (after a short linger).
    void fail(int status, const char *msg) {
        Response r;
        r.status = status;
        r.set("content-type", "application/json");
        r.set("cache-control", "no-store");
        r.body = std::string("{\"message\":\"") + msg + "\"}";
        busy_ = true;
        phase_ = Phase::Busy;
        disarm();
        keep_alive_ = false;
        linger_ = true;
        write_response(std::move(r), false);
    }

    void dispatch() {
        bool ka = true;
        Request req = framer_.take(ka);
        req.remote = remote_;
        keep_alive_ = ka;
        head_only_ = req.method == "HEAD";
        busy_ = true;
        phase_ = Phase::Busy;
        got_bytes_ = false;
        disarm();
        current_ = std::make_shared<ExchangeImpl>(weak_from_this(), std::move(req));
        auto ex = current_;
        try {
            handler_(ex);
        } catch (const std::exception &e) {
            ex->respond(json_response(500, "{\"message\":\"Internal server error\"}"));
        } catch (...) {
            ex->respond(json_response(500, "{\"message\":\"Internal server error\"}"));
        }
    }

    void write_response(Response r, bool head_only) {
        if (closed_) return;
        bool close = !keep_alive_;
        std::string out = serialize_head(r, false, close, r.body.size());
        if (!head_only && r.status != 304 && r.status != 204) out += r.body;
        enqueue(std::move(out));
        finish_exchange(close);
    }

    void finish_exchange(bool close) {
        current_.reset();
        if (close) {
            close_after_write_ = true;
            if (!writing_) close_now();
            return;
        }
        busy_ = false;
        if (rbuf_.size() > 0) {
            // A pipelined request is already (partly) here.
            phase_ = Phase::Header;
            got_bytes_ = true;
            arm(lim_.header_timeout_ms.load());
        } else {
            phase_ = Phase::Idle;
            got_bytes_ = false;
            arm(lim_.idle_timeout_ms.load());
        }
        // Pipelined requests already buffered.
        net::post(sock_.get_executor(), [self = shared_from_this()]() { self->process(); });
    }

    // The socket leaves this session for a WsConn (on the same strand); the session ends
    // quietly (no close callbacks: the exchange was answered by the upgrade).
    void hand_over() {
        closed_ = true;
        disarm();
        auto up = std::move(*upgrade_);
        upgrade_.reset();
        if (current_) current_->drop_close_fns();
        current_.reset();
        try {
            start_websocket(std::move(sock_), remote_, up.options, std::move(up.setup), count_, up.request);
        } catch (...) {}
    }

    // After the last write of a closing connection.
    void close_now() {
        if (!linger_ || closed_) {
            shutdown();
            return;
        }
        beast::error_code ec;
        sock_.shutdown(tcp::socket::shutdown_send, ec);
        phase_ = Phase::Linger;
        rbuf_.consume(rbuf_.size());
        arm(1000);
    }

    void enqueue(std::string data) {
        outq_.push_back(std::move(data));
        if (!writing_) do_write();
    }

    void do_write() {
        if (outq_.empty() || closed_) {
            writing_ = false;
            if (close_after_write_) close_now();
            return;
        }
        writing_ = true;
        // At most 256 kB per write, so that progress of a slow reader is visible (idle timeout).
        const std::string &front = outq_.front();
        size_t len = std::min<size_t>(front.size() - out_off_, 256 * 1024);
        net::async_write(sock_, net::buffer(front.data() + out_off_, len),
                         [self = shared_from_this()](beast::error_code ec, size_t n) {
                             if (ec) {
                                 self->writing_ = false;
                                 self->peer_gone();
                                 return;
                             }
                             self->bytes_written_ += n;
                             self->out_off_ += n;
                             if (self->out_off_ >= self->outq_.front().size()) {
                                 self->outq_.pop_front();
                                 self->out_off_ = 0;
                             }
                             self->do_write();
                         });
    }

    void peer_gone() {
        if (closed_.exchange(true)) return;
        disarm();
        auto ex = current_;
        current_.reset();
        beast::error_code ec;
        sock_.close(ec);
        if (ex) ex->fire_close();
    }

    void shutdown() {
        if (closed_.exchange(true)) return;
        disarm();
        auto ex = current_;
        current_.reset();
        beast::error_code ec;
        sock_.shutdown(tcp::socket::shutdown_both, ec);
        sock_.close(ec);
        if (ex) ex->fire_close();
    }

    tcp::socket sock_;
    net::steady_timer timer_;
    const Handler &handler_;
    const ServerOptions &opts_;
    const Limits &lim_;
    std::atomic<size_t> &count_;
    std::string remote_;
    beast::flat_buffer rbuf_;
    RequestFramer framer_;
    std::deque<std::string> outq_;
    size_t out_off_ = 0;
    std::shared_ptr<ExchangeImpl> current_;
    bool busy_ = false, writing_ = false, close_after_write_ = false, linger_ = false;
    bool keep_alive_ = true, head_only_ = false, got_bytes_ = false;
    Phase phase_ = Phase::Header;
    uint64_t timer_gen_ = 0;
    size_t bytes_written_ = 0, armed_written_ = 0;
    std::atomic<bool> closed_{false};
    struct Upgrade {
        Request request;
        WebSocketOptions options;
        WebSocketSetup setup;
    };
    std::optional<Upgrade> upgrade_;

    friend class ExchangeImpl;

public:
    bool head_only() const { return head_only_; }
};

// A connection over the cap: 503 + retry-after, our side shut down, the peer's request read and
// dropped for a moment (so it gets the answer rather than a reset), then closed.
class Rejector : public std::enable_shared_from_this<Rejector> {
public:
    Rejector(tcp::socket s, std::atomic<size_t> &n) : sock_(std::move(s)), timer_(sock_.get_executor()), n_(n) { n_++; }
    ~Rejector() { n_--; }
    void start() {
        static const std::string kBody = "{\"message\":\"Too many connections\"}";
        static const std::string kMsg =
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncache-control: no-store\r\n"
            "retry-after: 5\r\ncontent-length: " +
            std::to_string(kBody.size()) + "\r\nconnection: close\r\n\r\n" + kBody;
        net::dispatch(sock_.get_executor(), [self = shared_from_this()] {
            self->timer_.expires_after(std::chrono::milliseconds(1000));
            self->timer_.async_wait([self](beast::error_code) { self->close(); });
            net::async_write(self->sock_, net::buffer(kMsg), [self](beast::error_code ec, size_t) {
                if (ec) {
                    self->close();
                    return;
                }
                beast::error_code e2;
                self->sock_.shutdown(tcp::socket::shutdown_send, e2);
                self->drain();
            });
        });
    }

private:
    void drain() {
        sock_.async_read_some(net::buffer(buf_), [self = shared_from_this()](beast::error_code ec, size_t) {
            if (ec) {
                self->close();
                return;
            }
            self->drain();
        });
    }
    void close() {
        beast::error_code ec;
        timer_.cancel();
        sock_.close(ec);
    }
    tcp::socket sock_;
    net::steady_timer timer_;
    std::atomic<size_t> &n_;
    char buf_[2048];
};

bool ExchangeImpl::respond(Response r) {
    if (answered_.exchange(true)) return false;
    drop_close_fns();  // whatever they captured (often this exchange) is no longer needed
    auto s = session_.lock();
    if (!s || s->is_closed()) return false;
    s->post_response(std::move(r), req_.method == "HEAD");
    return true;
}

bool ExchangeImpl::begin_stream(Response head) {
    if (answered_.exchange(true)) return false;
    auto s = session_.lock();
    if (!s || s->is_closed()) return false;
    streaming_ = true;
    s->post_stream_head(std::move(head));
    return true;
}

bool ExchangeImpl::send(std::string data) {
    if (!streaming_ || ended_) return false;
    auto s = session_.lock();
    if (!s || s->is_closed()) return false;
    s->post_stream_chunk(std::move(data));
    return true;
}

void ExchangeImpl::end_stream() {
    if (!streaming_ || ended_.exchange(true)) return;
    drop_close_fns();
    if (auto s = session_.lock()) s->post_stream_end();
}

bool ExchangeImpl::upgrade(WebSocketOptions options, WebSocketSetup setup) {
    if (answered_.exchange(true)) return false;
    auto s = session_.lock();
    if (!s || s->is_closed()) return false;
    ended_ = true;
    s->post_upgrade(req_, options, std::move(setup));
    return true;
}

bool ExchangeImpl::closed() const {
    auto s = session_.lock();
    return !s || s->is_closed();
}

class AsioTimer final : public Timer {
public:
    explicit AsioTimer(net::io_context &ioc) : t(ioc) {}
    void cancel() override {
        net::post(t.get_executor(), [this, keep = self.lock()] {
            if (keep) t.cancel();
        });
    }
    net::steady_timer t;
    std::weak_ptr<AsioTimer> self;
};

}  // namespace

struct Server::Impl {
    // Declaration order matters: sessions still queued in ioc die with it and use conn_count,
    // handler, opts and limits.
    ServerOptions opts;
    Handler handler;
    Limits limits;
    std::atomic<int> max_conn{0};
    std::atomic<size_t> conn_count{0};
    std::atomic<size_t> rejecting{0};
    std::atomic<size_t> rejected_total{0};
    net::io_context ioc;
    std::optional<tcp::acceptor> acceptor;
    net::steady_timer accept_backoff{ioc};
    std::vector<std::thread> threads;
    std::optional<net::executor_work_guard<net::io_context::executor_type>> work;

    // Descriptors kept for connections being turned away (out of the fd budget).
    size_t reject_slots() const {
        return opts.fd_budget ? std::max<size_t>(1, std::min<size_t>(64, opts.fd_budget / 8)) : 256;
    }
    size_t cap() const {
        size_t c = max_conn.load() > 0 ? static_cast<size_t>(max_conn.load()) : SIZE_MAX;
        if (opts.fd_budget) {
            size_t b = opts.fd_budget > reject_slots() ? opts.fd_budget - reject_slots() : 1;
            c = std::min(c, b);
        }
        return c == SIZE_MAX ? 0 : c;
    }

    void accept() {
        acceptor->async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket s) {
            if (ec == net::error::operation_aborted || !acceptor->is_open()) return;
            if (ec) {
                // Out of descriptors (EMFILE/ENFILE) or a transient error: back off instead of
                // spinning on the accept queue.
                accept_backoff.expires_after(std::chrono::milliseconds(50));
                accept_backoff.async_wait([this](beast::error_code e) {
                    if (!e && acceptor && acceptor->is_open()) accept();
                });
                return;
            }
            try {
                size_t c = cap();
                if (c && conn_count.load() >= c) {
                    rejected_total++;
                    if (rejecting.load() < reject_slots()) {
                        std::make_shared<Rejector>(std::move(s), rejecting)->start();
                    } else {
                        beast::error_code e2;
                        s.close(e2);  // a flood: no descriptor to spare for an answer
                    }
                } else {
                    std::make_shared<Session>(std::move(s), handler, opts, limits, conn_count)->start();
                }
            } catch (...) {}
            accept();
        });
    }
};

Server::Server(ServerOptions opts, Handler handler) : impl_(std::make_unique<Impl>()) {
    impl_->opts = std::move(opts);
    impl_->handler = std::move(handler);
    impl_->limits.header_timeout_ms = impl_->opts.header_timeout_ms;
    impl_->limits.idle_timeout_ms = impl_->opts.idle_timeout_ms;
    impl_->max_conn = impl_->opts.max_connections;
}

Server::~Server() { stop(); }

void Server::start() {
    auto &I = *impl_;
    auto addr = net::ip::make_address(I.opts.address);
    tcp::endpoint ep(addr, static_cast<unsigned short>(I.opts.port));
    I.acceptor.emplace(I.ioc);
    I.acceptor->open(ep.protocol());
    I.acceptor->set_option(net::socket_base::reuse_address(true));
    I.acceptor->bind(ep);
    I.acceptor->listen(net::socket_base::max_listen_connections);
    bound_port_ = I.acceptor->local_endpoint().port();
    I.work.emplace(net::make_work_guard(I.ioc));
    I.accept();

    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    try {
        for (int i = 0; i < std::max(1, I.opts.threads); i++)
            I.threads.emplace_back([&I] {
                for (;;) {
                    try {
                        I.ioc.run();
                        break;
                    } catch (const std::exception &e) {
                        std::fprintf(stderr, "electric_sync: http loop error: %s\n", e.what());
                    } catch (...) {
                        std::fprintf(stderr, "electric_sync: http loop error\n");
                    }
                }
            });
    } catch (...) {
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
        throw;
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    running_ = true;
}

void Server::stop() {
    if (!impl_) return;
    auto &I = *impl_;
    if (I.acceptor) {
        net::post(I.ioc, [&I] {
            beast::error_code ec;
            if (I.acceptor) I.acceptor->close(ec);
        });
    }
    I.work.reset();
    I.ioc.stop();
    for (auto &t : I.threads)
        if (t.joinable()) t.join();
    I.threads.clear();
    running_ = false;
}

size_t Server::connections() const { return impl_->conn_count.load(); }
size_t Server::rejected() const { return impl_->rejected_total.load(); }
size_t Server::max_connections() const { return impl_->cap(); }

void Server::set_limits(int header_timeout_ms, int idle_timeout_ms, int max_connections) {
    impl_->limits.header_timeout_ms = header_timeout_ms;
    impl_->limits.idle_timeout_ms = idle_timeout_ms;
    impl_->max_conn = max_connections;
}

std::shared_ptr<Timer> Server::after(int ms, std::function<void()> fn) {
    auto t = std::make_shared<AsioTimer>(impl_->ioc);
    t->self = t;
    t->t.expires_after(std::chrono::milliseconds(ms));
    t->t.async_wait([t, fn = std::move(fn)](beast::error_code ec) {
        if (ec) return;
        try {
            fn();
        } catch (...) {}
    });
    return t;
}

void Server::post(std::function<void()> fn) {
    net::post(impl_->ioc, [fn = std::move(fn)] {
        try {
            fn();
        } catch (...) {}
    });
}

}  // namespace es::http
