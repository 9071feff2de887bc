// WebSocket connections of the HTTP server: an upgraded Session's socket inside Beast's
// websocket stream, with one read loop and a write queue on the socket's strand.
// As in server.cpp: Boost's assertions throw instead of aborting the worker (before any include).
#define BOOST_ENABLE_ASSERT_HANDLER 1
#include "http/websocket_internal.hpp"

#include <boost/assert.hpp>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <list>
#include <memory>
#include <string_view>

namespace es::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace bws = boost::beast::websocket;
using tcp = net::ip::tcp;

namespace {

// A WebSocket connection: the socket of a Session whose request was upgraded, inside Beast's
// websocket stream. One read loop (read_some, so that an oversize message is noticed before it
// is buffered whole) and a write queue, on the socket's strand.
class WsConn final : public WebSocket, public std::enable_shared_from_this<WsConn> {
public:
    WsConn(tcp::socket sock, std::string remote, WebSocketOptions o, WebSocketSetup setup, std::atomic<size_t> &count)
        : ws_(std::move(sock)), remote_(std::move(remote)), opts_(o), setup_(std::move(setup)), count_(count) {
        count_++;
    }
    ~WsConn() override { count_--; }

    void start(const Request &req) {
        upgrade_request_ = std::make_unique<bhttp::request<bhttp::empty_body>>();  // until the handshake ends
        bhttp::request<bhttp::empty_body> &r = *upgrade_request_;
        r.version(11);
        r.method_string(req.method);
        r.target(req.target);
        for (auto &h : req.headers) r.insert(h.first, h.second);
        ws_.binary(true);
        ws_.auto_fragment(false);
        // on_read stops at max_message_bytes itself, reading 16 kB at a time, so that the owner
        // can answer before closing. Beast's own limit is checked against a frame's declared
        // length and would close (1009) before anything is read: it is only a far backstop.
        ws_.read_message_max(std::max<size_t>(opts_.max_message_bytes, 1) * 64 + (size_t(1) << 30));
        ws_.write_buffer_bytes(4096);
        bws::stream_base::timeout t;
        t.handshake_timeout = std::chrono::milliseconds(opts_.handshake_timeout_ms);
        t.idle_timeout = opts_.idle_timeout_ms > 0 ? std::chrono::milliseconds(opts_.idle_timeout_ms)
                                                   : bws::stream_base::none();
        t.keep_alive_pings = true;
        ws_.set_option(t);
        ws_.set_option(bws::stream_base::decorator(
            [](bws::response_type &res) { res.set(bhttp::field::server, "electric_sync"); }));
        ws_.async_accept(r, [self = shared_from_this()](beast::error_code ec) {
            if (ec) {
                self->gone();
                return;
            }
            self->open_ = true;
            self->upgrade_request_.reset();  // its headers are not needed any more
            try {
                self->cbs_ = self->setup_(self);
            } catch (...) {
                self->cbs_ = {};
            }
            self->setup_ = nullptr;
            self->read();
        });
    }

    bool send(std::string data) override { return send_shared(std::make_shared<const std::string>(std::move(data))); }

    bool send_shared(std::shared_ptr<const std::string> data) override {
        if (!data || closed_.load() || closing_.load()) return false;
        size_t q = queued_.fetch_add(data->size()) + data->size();
        if (q > opts_.max_queued_bytes) {
            queued_ -= data->size();
            close(1008, "send queue full");
            return false;
        }
        net::post(ws_.get_executor(), [self = shared_from_this(), d = std::move(data)]() mutable {
            if (self->closed_) {
                self->queued_ -= d->size();
                return;
            }
            self->outq_.push_back(std::move(d));
            if (!self->writing_) self->do_write();
        });
        return true;
    }

    void close(uint16_t code, std::string reason) override {
        if (closed_.load() || closing_.exchange(true)) return;
        net::post(ws_.get_executor(), [self = shared_from_this(), code, reason = std::move(reason)]() mutable {
            self->close_code_ = code;
            self->close_text_ = reason.substr(0, 120);
            self->want_close_ = true;
            if (!self->writing_) self->do_write();
        });
    }

    bool closed() const override { return closed_.load(); }
    size_t queued_bytes() const override { return queued_.load(); }
    const std::string &remote() const override { return remote_; }

private:
    void read() {
        if (closed_) return;
        // Between messages the read waits on the small buffer inside this object, so a parked
        // connection holds no read buffer on the heap. Within a message it reads into rbuf_, with
        // room doubling with what the message has brought so far.
        net::mutable_buffer into;
        small_read_ = rbuf_.size() == 0;
        if (small_read_)
            into = net::buffer(small_);
        else
            into = rbuf_.prepare(std::min<size_t>(std::max<size_t>(rbuf_.size(), 512), 65536));
        ws_.async_read_some(into, [self = shared_from_this()](beast::error_code ec, size_t n) {
            self->on_read(ec, n);
        });
    }

    void on_read(beast::error_code ec, size_t n) {
        if (ec) {
            gone();
            return;
        }
        if (small_read_ && ws_.is_message_done()) {  // a whole message in the small buffer
            deliver(std::string(small_.data(), n), ws_.got_text());
            read();
            return;
        }
        if (small_read_)
            rbuf_.commit(net::buffer_copy(rbuf_.prepare(n), net::buffer(small_.data(), n)));
        else
            rbuf_.commit(n);
        if (rbuf_.size() > opts_.max_message_bytes) {
            rbuf_.clear();
            rbuf_.shrink_to_fit();
            if (cbs_.on_oversize) {
                try {
                    cbs_.on_oversize();
                } catch (...) {}
            }
            if (!closing_) close(1009, "message too big");
            return;  // nothing more is read; the close ends the connection
        }
        if (ws_.is_message_done()) {
            std::string msg = beast::buffers_to_string(rbuf_.data());
            rbuf_.consume(rbuf_.size());
            rbuf_.shrink_to_fit();  // between messages the buffer is empty and unallocated
            deliver(std::move(msg), ws_.got_text());
        }
        read();
    }

    void deliver(std::string msg, bool text) {
        if (!cbs_.on_message) return;
        try {
            cbs_.on_message(std::move(msg), text);
        } catch (...) {}
    }

    void do_write() {
        if (closed_) {
            drain();
            return;
        }
        if (outq_.empty()) {
            writing_ = false;
            if (want_close_ && !close_sent_) {
                close_sent_ = true;
                writing_ = true;
                ws_.async_close(bws::close_reason(static_cast<bws::close_code>(close_code_), close_text_), [self = shared_from_this()](beast::error_code) {
                    self->writing_ = false;
                    self->gone();
                });
            }
            return;
        }
        writing_ = true;
        // The front stays in outq_ (its bytes are being written) until this completes, also when
        // the connection ends meanwhile: gone() leaves the queue alone while writing_.
        ws_.async_write(net::buffer(*outq_.front()), [self = shared_from_this()](beast::error_code ec, size_t) {
            self->writing_ = false;
            if (ec || self->closed_) {
                self->drain();
                self->gone();
                return;
            }
            self->queued_ -= self->outq_.front()->size();
            self->outq_.pop_front();
            self->do_write();
        });
    }

    // The end, whatever the cause: the socket is closed and on_close runs once.
    void gone() {
        if (closed_.exchange(true)) return;
        beast::error_code ec;
        beast::get_lowest_layer(ws_).close(ec);
        if (!writing_) drain();
        auto cbs = std::move(cbs_);
        cbs_ = {};
        setup_ = nullptr;
        if (open_ && cbs.on_close) {
            try {
                cbs.on_close();
            } catch (...) {}
        }
    }

    void drain() {
        for (auto &d : outq_) queued_ -= d->size();
        outq_.clear();
    }

    bws::stream<tcp::socket> ws_;
    std::unique_ptr<bhttp::request<bhttp::empty_body>> upgrade_request_;
    std::string remote_;
    WebSocketOptions opts_;
    WebSocketSetup setup_;
    WebSocketCallbacks cbs_;
    std::atomic<size_t> &count_;
    beast::flat_buffer rbuf_;  // a message that did not fit in small_
    std::array<char, 64> small_{};
    bool small_read_ = false;
    // A list, not a deque: an idle connection's empty queue then costs nothing (a deque
    // allocates a 512-byte block up front).
    std::list<std::shared_ptr<const std::string>> outq_;
    uint16_t close_code_ = 0;  // what close() asked for (not a bws::close_reason: 144 bytes)
    std::string close_text_;
    bool writing_ = false, want_close_ = false, close_sent_ = false, open_ = false;
    std::atomic<bool> closed_{false}, closing_{false};
    std::atomic<size_t> queued_{0};
};

}  // namespace

void start_websocket(tcp::socket sock, std::string remote, WebSocketOptions options, WebSocketSetup setup,
                     std::atomic<size_t> &count, const Request &req) {
    auto ws = std::make_shared<WsConn>(std::move(sock), std::move(remote), options, std::move(setup), count);
    ws->start(req);
}

namespace {
bool header_has_token(const Request &req, std::string_view name, std::string_view token) {
    for (auto &h : req.headers) {
        if (h.first != name) continue;
        size_t i = 0;
        const std::string &v = h.second;
        while (i <= v.size()) {
            size_t j = v.find(',', i);
            if (j == std::string::npos) j = v.size();
            std::string_view part(v.data() + i, j - i);
            while (!part.empty() && (part.front() == ' ' || part.front() == '\t')) part.remove_prefix(1);
            while (!part.empty() && (part.back() == ' ' || part.back() == '\t')) part.remove_suffix(1);
            if (part.size() == token.size() &&
                std::equal(part.begin(), part.end(), token.begin(),
                           [](char a, char b) { return std::tolower((unsigned char)a) == std::tolower((unsigned char)b); }))
                return true;
            i = j + 1;
        }
    }
    return false;
}
}  // namespace

bool is_websocket_upgrade(const Request &req) {
    if (req.method != "GET") return false;
    if (!header_has_token(req, "upgrade", "websocket")) return false;
    if (!header_has_token(req, "connection", "upgrade")) return false;
    auto *ver = req.header("sec-websocket-version");
    if (!ver || *ver != "13") return false;
    auto *key = req.header("sec-websocket-key");
    return key && !key->empty() && key->size() <= 64;
}

}  // namespace es::http
