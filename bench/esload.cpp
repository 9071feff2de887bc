// esload: load generator for the electric_sync benchmarks and the nginx test.
// One file, raw epoll (no framework), libpq for the commits. Modes:
//
//   esload sync --host H --port P --path '/v1/shape?table=t'
//       Initial sync like a client: offset=-1, then follows chunks until electric-up-to-date.
//       Prints rows (count of "key": in the bodies), bytes, seconds, rows_per_s.
//
//   esload live --host H --port P --path '/v1/shape?table=t&where=shape%3D{s}' -n K
//               [--shapes S] [--conninfo CI --sql 'INSERT ... {seq} ... {s}'] [--rate R --count M]
//               [--settle SEC] [--timeout SEC] [--ref-publish RP] [--rss-pid PID]
//       K clients (client i follows shape i % S) each get the shape's live offset (a client's
//       initial sync), then loop live long-polls (handle/offset/cursor from the headers, like
//       @electric-sql/client) until they have seen every change meant for their shape. After
//       --settle seconds a committer thread runs M transactions at R per second (R = 0: as
//       fast as possible); transaction `seq` is meant for shape seq % S and must put
//       "seq":"<seq>" in the change (a `seq` column). Latency of a delivery = when the client
//       has it - when the INSERT was sent. With --ref-publish RP the clients talk to the
//       reference origin (handles ref<s>, offsets from 0) and the committer tells it about
//       each transaction (GET /publish on port RP) once the commit is acknowledged.
//       Prints key=value lines.
//
//   --header-file FILE (sync and live): line s of FILE (from 0) is one extra request header,
//       e.g. "Authorization: Bearer <jwt>", sent with every request for shape s (its initial
//       sync and the live requests of every client following it; client i follows shape
//       i % S, so with -n K --shapes K it is one header per client). An empty line sends none.
//       sync mode uses line 0. FILE needs at least S lines. Without it, no extra header.
//
//   Client sockets are bound to --bind ADDR (default 127.0.0.2, still loopback; "" = none).
//
//   esload ref --port P [--shapes S] [--lifetime SEC]
//       The reference origin for the ceilings: a plain single-threaded epoll loop that holds
//       live requests (handle=ref<s>&offset=<n>) and answers all of them when /publish adds
//       an entry to their shape; Electric-like headers, cache-control as for live requests.
//
// Everything is bounded: the run ends when every client is done or at the deadline.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <csignal>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <chrono>
#include <unordered_map>
#include <vector>

namespace {

int64_t now_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

[[noreturn]] void die(const std::string &m) {
    std::fprintf(stderr, "esload: %s\n", m.c_str());
    std::fflush(stdout);
    _exit(2);
}

long rss_kb(int pid) {
    if (pid <= 0) return -1;
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
    return -1;
}

std::string replace_all(std::string s, const std::string &from, const std::string &to) {
    size_t p = 0;
    while ((p = s.find(from, p)) != std::string::npos) {
        s.replace(p, from.size(), to);
        p += to.size();
    }
    return s;
}

std::string url_encode(const std::string &s) {
    static const char *hex = "0123456789ABCDEF";
    std::string o;
    for (unsigned char c : s) {
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
            o += char(c);
        else {
            o += '%';
            o += hex[c >> 4];
            o += hex[c & 15];
        }
    }
    return o;
}

// ---------------------------------------------------------------- HTTP response parsing
struct HttpResp {
    int status = 0;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
    bool close = false;
    const std::string *h(const char *n) const {
        auto it = headers.find(n);
        return it == headers.end() ? nullptr : &it->second;
    }
};

// Incremental parser: feed() bytes; done() when a whole response is in; eof() for close-delimited.
class RespParser {
public:
    void reset() { *this = RespParser(); }
    // Returns bytes consumed (the rest belongs to a next response; we never pipeline, so 0 left).
    void feed(const char *p, size_t n) {
        buf_.append(p, n);
        parse();
    }
    void eof() {
        if (state_ == Body && mode_ == UntilClose) {
            r_.body = buf_.substr(body_start_);
            state_ = Done;
        }
    }
    bool done() const { return state_ == Done; }
    bool error() const { return state_ == Error; }
    HttpResp &resp() { return r_; }

private:
    enum State { Head, Body, Done, Error } state_ = Head;
    enum Mode { Length, Chunked, UntilClose } mode_ = Length;
    std::string buf_;
    size_t body_start_ = 0, need_ = 0, pos_ = 0;
    HttpResp r_;

    void parse() {
        if (state_ == Head) {
            size_t e = buf_.find("\r\n\r\n");
            if (e == std::string::npos) return;
            size_t ls = buf_.find("\r\n");
            std::string sl = buf_.substr(0, ls);
            if (sl.size() < 12 || sl.compare(0, 5, "HTTP/") != 0) {
                state_ = Error;
                return;
            }
            r_.status = std::atoi(sl.c_str() + 9);
            size_t p = ls + 2;
            while (p < e) {
                size_t le = buf_.find("\r\n", p);
                std::string line = buf_.substr(p, le - p);
                p = le + 2;
                size_t c = line.find(':');
                if (c == std::string::npos) continue;
                std::string name = line.substr(0, c);
                for (auto &ch : name) ch = char(tolower((unsigned char)ch));
                size_t vs = c + 1;
                while (vs < line.size() && line[vs] == ' ') vs++;
                r_.headers[name] = line.substr(vs);
            }
            body_start_ = e + 4;
            pos_ = body_start_;
            auto *te = r_.h("transfer-encoding");
            auto *cl = r_.h("content-length");
            auto *cn = r_.h("connection");
            if (cn && strcasestr(cn->c_str(), "close")) r_.close = true;
            if (te && strcasestr(te->c_str(), "chunked"))
                mode_ = Chunked;
            else if (cl) {
                mode_ = Length;
                need_ = std::strtoull(cl->c_str(), nullptr, 10);
            } else if (r_.status == 204 || r_.status == 304) {
                mode_ = Length;
                need_ = 0;
            } else {
                mode_ = UntilClose;
                r_.close = true;
            }
            state_ = Body;
        }
        if (state_ == Body) {
            if (mode_ == Length) {
                if (buf_.size() - body_start_ >= need_) {
                    r_.body = buf_.substr(body_start_, need_);
                    state_ = Done;
                }
            } else if (mode_ == Chunked) {
                for (;;) {
                    size_t le = buf_.find("\r\n", pos_);
                    if (le == std::string::npos) return;
                    size_t sz = std::strtoull(buf_.c_str() + pos_, nullptr, 16);
                    if (sz == 0) {
                        if (buf_.find("\r\n", le + 2) == std::string::npos) return;
                        state_ = Done;
                        return;
                    }
                    if (buf_.size() < le + 2 + sz + 2) return;
                    r_.body.append(buf_, le + 2, sz);
                    pos_ = le + 2 + sz + 2;
                }
            }
        }
    }
};

// Source address of the many client connections. Not 127.0.0.1: thousands of client sockets
// (and their TIME_WAIT remains) take ephemeral ports, and a port taken on 127.0.0.1 cannot
// be bound by a Postgres that starts on 127.0.0.1 a moment later (ports 32768-60999).
std::string g_bind = "127.0.0.2";

int tcp_connect(const std::string &host, int port, bool nonblock, bool bind_src = false) {
    int fd = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (bind_src && !g_bind.empty() && host.rfind("127.", 0) == 0) {
        sockaddr_in b{};
        b.sin_family = AF_INET;
        inet_pton(AF_INET, g_bind.c_str(), &b.sin_addr);
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, (sockaddr *)&b, sizeof b) < 0) {
            close(fd);
            return -1;
        }
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port));
    inet_pton(AF_INET, host.c_str(), &a.sin_addr);
    if (connect(fd, (sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

// extra: one more header line without its CRLF ("" = none).
std::string make_get(const std::string &host, const std::string &target, const std::string &extra = "") {
    return "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: esload\r\n" +
        (extra.empty() ? std::string() : extra + "\r\n") + "\r\n";
}

// Blocking GET on a fresh connection.
HttpResp http_get(const std::string &host, int port, const std::string &target, const std::string &extra = "") {
    int fd = tcp_connect(host, port, false);
    if (fd < 0) die("connect to " + host + ":" + std::to_string(port) + " failed");
    timeval tv{120, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string req = make_get(host, target, extra);
    if (write(fd, req.data(), req.size()) != ssize_t(req.size())) die("write failed");
    RespParser p;
    std::vector<char> buf(1 << 20);
    while (!p.done() && !p.error()) {
        ssize_t n = read(fd, buf.data(), buf.size());
        if (n <= 0) {
            p.eof();
            break;
        }
        p.feed(buf.data(), size_t(n));
    }
    close(fd);
    if (!p.done()) die("incomplete response for " + target);
    return std::move(p.resp());
}

// ---------------------------------------------------------------- options
struct Opts {
    std::string mode, host = "127.0.0.1", path, conninfo, sql;
    int port = 0, n = 1, shapes = 1, ref_publish = 0, rss_pid = 0, count = 1;
    double lifetime = 600;
    double rate = 0, settle = 2, timeout = 30;
    std::vector<std::string> headers;  // --header-file: extra header line per shape
    // The extra header for shape s ("" = none).
    const std::string &header_for(int s) const {
        static const std::string none;
        return headers.empty() ? none : headers[size_t(s)];
    }
};

std::vector<std::string> read_header_file(const std::string &path) {
    std::ifstream f(path);
    if (!f) die("cannot read --header-file " + path);
    std::vector<std::string> v;
    std::string line;
    while (std::getline(f, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (!line.empty() && line.find(':') == std::string::npos) die("--header-file: not a header line: " + line);
        v.push_back(line);
    }
    if (v.empty()) die("--header-file " + path + " is empty");
    return v;
}

Opts parse_opts(int argc, char **argv) {
    Opts o;
    if (argc < 2) die("usage: esload sync|live [options] (see the comment at the top of esload.cpp)");
    o.mode = argv[1];
    for (int i = 2; i < argc; i++) {
        std::string a = argv[i];
        auto val = [&]() -> std::string {
            if (i + 1 >= argc) die("missing value for " + a);
            return argv[++i];
        };
        if (a == "--host")
            o.host = val();
        else if (a == "--port")
            o.port = std::stoi(val());
        else if (a == "--path")
            o.path = val();
        else if (a == "-n")
            o.n = std::stoi(val());
        else if (a == "--shapes")
            o.shapes = std::stoi(val());
        else if (a == "--conninfo")
            o.conninfo = val();
        else if (a == "--sql")
            o.sql = val();
        else if (a == "--rate")
            o.rate = std::stod(val());
        else if (a == "--count")
            o.count = std::stoi(val());
        else if (a == "--settle")
            o.settle = std::stod(val());
        else if (a == "--timeout")
            o.timeout = std::stod(val());
        else if (a == "--ref-publish")
            o.ref_publish = std::stoi(val());
        else if (a == "--lifetime")
            o.lifetime = std::stod(val());
        else if (a == "--bind")
            g_bind = val();
        else if (a == "--rss-pid")
            o.rss_pid = std::stoi(val());
        else if (a == "--header-file")
            o.headers = read_header_file(val());
        else
            die("unknown option " + a);
    }
    return o;
}

// ---------------------------------------------------------------- sync mode
int run_sync(const Opts &o) {
    int64_t t0 = now_ns();
    std::string handle, offset = "-1";
    size_t rows = 0, bytes = 0, requests = 0;
    for (int guard = 0; guard < 100000; guard++) {
        std::string t =
            o.path + "&offset=" + url_encode(offset) + (handle.empty() ? "" : "&handle=" + url_encode(handle));
        HttpResp r = http_get(o.host, o.port, t, o.header_for(0));
        requests++;
        if (r.status != 200) die("status " + std::to_string(r.status) + " for " + t + ": " + r.body.substr(0, 300));
        auto *h = r.h("electric-handle");
        auto *off = r.h("electric-offset");
        if (!h || !off) die("missing electric-handle/electric-offset for " + t);
        handle = *h;
        offset = *off;
        bytes += r.body.size();
        const char *p = r.body.data(), *end = p + r.body.size();
        while ((p = static_cast<const char *>(memmem(p, size_t(end - p), "\"key\":", 6)))) {
            rows++;
            p += 6;
        }
        if (r.h("electric-up-to-date")) break;
    }
    double s = double(now_ns() - t0) / 1e9;
    std::printf("rows=%zu\nbytes=%zu\nrequests=%zu\nseconds=%.3f\nrows_per_s=%.0f\n", rows, bytes, requests, s,
                double(rows) / s);
    return 0;
}

// ---------------------------------------------------------------- reference origin (epoll)
class RefServer {
public:
    RefServer(int port, int shapes) : log_(size_t(shapes)), parked_(size_t(shapes)), dirty_(size_t(shapes), 0) {
        lfd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        int one = 1;
        setsockopt(lfd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(uint16_t(port));
        inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
        if (bind(lfd_, (sockaddr *)&a, sizeof a) < 0)
            die("reference origin: bind failed on port " + std::to_string(port));
        listen(lfd_, 65535);
        efd_ = eventfd(0, EFD_NONBLOCK);
        ep_ = epoll_create1(0);
        add(lfd_, EPOLLIN);
        add(efd_, EPOLLIN);
    }
    void run() { loop(); }
    // From the committer thread.
    void publish(int shape, int64_t seq) {
        {
            std::lock_guard<std::mutex> g(mu_);
            log_[size_t(shape)].push_back(seq);
            dirty_[size_t(shape)] = 1;
        }
        uint64_t one = 1;
        (void)!write(efd_, &one, 8);
    }

private:
    struct Conn {
        std::string in, out;
        int shape = -1;
        size_t offset = 0;
    };
    int lfd_, efd_, ep_;
    std::thread th_;
    std::mutex mu_;
    std::vector<std::vector<int64_t>> log_;
    std::vector<std::vector<int>> parked_;
    std::vector<char> dirty_;
    std::unordered_map<int, Conn> conns_;

    void add(int fd, uint32_t ev) {
        epoll_event e{};
        e.events = ev;
        e.data.fd = fd;
        epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &e);
    }
    static std::string param(const std::string &t, const char *name) {
        std::string key = std::string(name) + "=";
        size_t q = t.find('?');
        while (q != std::string::npos) {
            size_t s = q + 1;
            if (t.compare(s, key.size(), key) == 0) {
                size_t e = t.find('&', s);
                return t.substr(s + key.size(), e == std::string::npos ? std::string::npos : e - s - key.size());
            }
            q = t.find('&', s);
        }
        return "";
    }
    void close_conn(int fd) {
        epoll_ctl(ep_, EPOLL_CTL_DEL, fd, nullptr);
        close(fd);
        conns_.erase(fd);
    }
    void send(int fd, Conn &c, const std::string &data) {
        c.out += data;
        ssize_t n = ::write(fd, c.out.data(), c.out.size());
        if (n > 0) c.out.erase(0, size_t(n));
        if (!c.out.empty()) {
            epoll_event e{};
            e.events = EPOLLIN | EPOLLOUT;
            e.data.fd = fd;
            epoll_ctl(ep_, EPOLL_CTL_MOD, fd, &e);
        }
    }
    void answer(int fd, Conn &c, int shape, size_t from, const std::vector<int64_t> &lg) {
        std::string body = "[";
        for (size_t i = from; i < lg.size(); i++)
            body += "{\"key\":\"\\\"public\\\".\\\"ref\\\"/\\\"" + std::to_string(lg[i]) +
                "\\\"\",\"value\":{\"seq\":\"" + std::to_string(lg[i]) + "\"},\"headers\":{\"operation\":\"insert\"}},";
        body += "{\"headers\":{\"control\":\"up-to-date\"}}]";
        std::string h = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nelectric-handle: ref" +
            std::to_string(shape) + "\r\nelectric-offset: " + std::to_string(lg.size()) +
            "\r\nelectric-cursor: " + std::to_string(lg.size() + 1) +
            "\r\nelectric-up-to-date: \r\ncache-control: public, max-age=5, stale-while-revalidate=5\r\n"
            "content-length: " +
            std::to_string(body.size()) + "\r\n\r\n";
        c.shape = -1;
        send(fd, c, h + body);
    }
    void on_request(int fd, Conn &c, const std::string &target) {
        if (target.rfind("/publish?", 0) == 0) {
            int sh = std::atoi(param(target, "shape").c_str());
            long long seq = std::atoll(param(target, "seq").c_str());
            if (sh >= 0 && size_t(sh) < log_.size()) publish(sh, seq);
            send(fd, c, "HTTP/1.1 204 No Content\r\n\r\n");
            return;
        }
        std::string hd = param(target, "handle");
        int shape = hd.rfind("ref", 0) == 0 ? std::atoi(hd.c_str() + 3) : -1;
        if (shape < 0 || size_t(shape) >= log_.size()) {
            std::string b = "{\"message\":\"unknown\"}";
            send(fd, c,
                 "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncache-control: "
                 "no-store\r\ncontent-length: " +
                     std::to_string(b.size()) + "\r\n\r\n" + b);
            return;
        }
        size_t off = std::strtoull(param(target, "offset").c_str(), nullptr, 10);
        std::vector<int64_t> lg;
        {
            std::lock_guard<std::mutex> g(mu_);
            lg = log_[size_t(shape)];
        }
        if (lg.size() > off) {
            answer(fd, c, shape, off, lg);
            return;
        }
        c.shape = shape;
        c.offset = off;
        parked_[size_t(shape)].push_back(fd);
    }
    void loop() {
        std::vector<epoll_event> evs(1024);
        char buf[16384];
        for (;;) {
            int n = epoll_wait(ep_, evs.data(), int(evs.size()), -1);
            for (int i = 0; i < n; i++) {
                int fd = evs[size_t(i)].data.fd;
                if (fd == lfd_) {
                    for (;;) {
                        int c = accept4(lfd_, nullptr, nullptr, SOCK_NONBLOCK);
                        if (c < 0) break;
                        int one = 1;
                        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                        conns_[c];
                        add(c, EPOLLIN);
                    }
                    continue;
                }
                if (fd == efd_) {
                    uint64_t v;
                    (void)!read(efd_, &v, 8);
                    std::vector<std::pair<int, std::vector<int64_t>>> work;
                    {
                        std::lock_guard<std::mutex> g(mu_);
                        for (size_t s = 0; s < dirty_.size(); s++)
                            if (dirty_[s]) {
                                dirty_[s] = 0;
                                work.emplace_back(int(s), log_[s]);
                            }
                    }
                    for (auto &w : work) {
                        auto fds = std::move(parked_[size_t(w.first)]);
                        parked_[size_t(w.first)].clear();
                        for (int pfd : fds) {
                            auto it = conns_.find(pfd);
                            if (it == conns_.end() || it->second.shape != w.first) continue;
                            if (w.second.size() > it->second.offset)
                                answer(pfd, it->second, w.first, it->second.offset, w.second);
                            else
                                parked_[size_t(w.first)].push_back(pfd);
                        }
                    }
                    continue;
                }
                auto it = conns_.find(fd);
                if (it == conns_.end()) continue;
                Conn &c = it->second;
                if (evs[size_t(i)].events & EPOLLOUT) {
                    ssize_t w = ::write(fd, c.out.data(), c.out.size());
                    if (w > 0) c.out.erase(0, size_t(w));
                    if (c.out.empty()) {
                        epoll_event e{};
                        e.events = EPOLLIN;
                        e.data.fd = fd;
                        epoll_ctl(ep_, EPOLL_CTL_MOD, fd, &e);
                    }
                }
                if (evs[size_t(i)].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                    ssize_t r = ::read(fd, buf, sizeof buf);
                    if (r <= 0) {
                        if (r < 0 && errno == EAGAIN) continue;
                        close_conn(fd);
                        continue;
                    }
                    c.in.append(buf, size_t(r));
                    size_t e;
                    while ((e = c.in.find("\r\n\r\n")) != std::string::npos) {
                        std::string head = c.in.substr(0, e);
                        c.in.erase(0, e + 4);
                        size_t sp1 = head.find(' '), sp2 = head.find(' ', sp1 + 1);
                        on_request(fd, c, head.substr(sp1 + 1, sp2 - sp1 - 1));
                    }
                }
            }
        }
    }
};

// ---------------------------------------------------------------- live mode
struct Client {
    int fd = -1;
    int shape = 0;
    bool connecting = false, done = false, failed = false;
    std::string out;
    RespParser parser;
    std::string handle, offset, cursor;
    int expected = 0, seen = 0;
    std::vector<char> got;  // per seq index of this shape
};

struct ShapeState {
    std::string handle, offset;
};

struct Stats {
    size_t requests = 0, responses = 0, header_fail = 0, reconnects = 0, connect_fail = 0;
    std::map<int, size_t> status;
    std::vector<double> lat_ms;
    std::string first_header_fail;
};

int run_live(const Opts &o) {
    const int S = std::max(1, o.shapes), K = o.n, M = o.count;
    const bool ref = o.ref_publish > 0;
    int ref_fd = -1;  // keep-alive connection for /publish
    if (!o.headers.empty() && o.headers.size() < size_t(S))
        die("--header-file has " + std::to_string(o.headers.size()) + " lines for " + std::to_string(S) + " shapes");

    // Shape states: from the server (a client's initial sync), or trivial ones for the reference.
    std::vector<ShapeState> st(static_cast<size_t>(S));
    std::vector<std::string> paths(static_cast<size_t>(S));
    for (int s = 0; s < S; s++) {
        paths[size_t(s)] = replace_all(o.path, "{s}", std::to_string(s));
        if (ref) {
            st[size_t(s)] = {"ref" + std::to_string(s), "0"};
            continue;
        }
        std::string handle, offset = "-1";
        for (int guard = 0; guard < 10000; guard++) {
            std::string t = paths[size_t(s)] + "&offset=" + url_encode(offset) +
                (handle.empty() ? "" : "&handle=" + url_encode(handle));
            HttpResp r = http_get(o.host, o.port, t, o.header_for(s));
            if (r.status != 200)
                die("initial sync: status " + std::to_string(r.status) + " for " + t + ": " + r.body.substr(0, 300));
            if (!r.h("electric-handle") || !r.h("electric-offset")) die("initial sync: missing headers for " + t);
            handle = *r.h("electric-handle");
            offset = *r.h("electric-offset");
            if (r.h("electric-up-to-date")) break;
        }
        st[size_t(s)] = {handle, offset};
    }
    std::printf("shapes_ready=%d\n", S);
    std::fflush(stdout);

    // Seq bookkeeping: seq -> shape seq % S, index seq / S within the shape.
    std::vector<std::atomic<int64_t>> t_send(static_cast<size_t>(M));
    for (auto &t : t_send) t.store(0);
    std::vector<Client> cl(static_cast<size_t>(K));
    for (int i = 0; i < K; i++) {
        Client &c = cl[size_t(i)];
        c.shape = i % S;
        c.handle = st[size_t(c.shape)].handle;
        c.offset = st[size_t(c.shape)].offset;
        c.expected = M / S + (c.shape < M % S ? 1 : 0);
        c.got.assign(size_t(c.expected), 0);
        if (c.expected == 0) c.done = true;
    }

    long rss0 = rss_kb(o.rss_pid);
    int ep = epoll_create1(0);
    std::unordered_map<int, int> fd2c;
    Stats stats;

    auto start_request = [&](int idx) {
        Client &c = cl[size_t(idx)];
        if (c.fd < 0) {
            c.fd = tcp_connect(o.host, o.port, true, true);
            if (c.fd < 0) {
                stats.connect_fail++;
                c.failed = c.done = true;
                return;
            }
            c.connecting = true;
            fd2c[c.fd] = idx;
            epoll_event e{};
            e.events = EPOLLIN | EPOLLOUT;
            e.data.fd = c.fd;
            epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &e);
        }
        std::string t = paths[size_t(c.shape)] + "&cursor=" + url_encode(c.cursor) + "&handle=" + url_encode(c.handle) +
            "&live=true&offset=" + url_encode(c.offset);
        c.out = make_get(o.host, t, o.header_for(c.shape));
        c.parser.reset();
        stats.requests++;
        if (!c.connecting) {
            ssize_t n = write(c.fd, c.out.data(), c.out.size());
            if (n > 0) c.out.erase(0, size_t(n));
            if (!c.out.empty()) {
                epoll_event e{};
                e.events = EPOLLIN | EPOLLOUT;
                e.data.fd = c.fd;
                epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &e);
            }
        }
    };
    auto drop_fd = [&](Client &c) {
        if (c.fd < 0) return;
        epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
        fd2c.erase(c.fd);
        close(c.fd);
        c.fd = -1;
        c.connecting = false;
    };

    std::atomic<bool> commits_done{false};
    std::atomic<int64_t> trigger_ns{0};
    std::string commit_error;
    int next_connect = 0;
    int64_t t_start = now_ns();
    int64_t settle_at = 0;  // when all first requests were sent
    int64_t deadline = 0;
    std::thread committer;
    size_t done_count = 0;
    for (auto &c : cl) done_count += c.done;

    std::vector<epoll_event> evs(4096);
    std::vector<char> buf(1 << 16);
    for (;;) {
        int64_t now = now_ns();
        // Open connections in batches so the listen backlog does not overflow.
        if (next_connect < K) {
            int batch = std::min(K - next_connect, 250);
            for (int i = 0; i < batch; i++, next_connect++)
                if (!cl[size_t(next_connect)].done) start_request(next_connect);
            if (next_connect == K) settle_at = now_ns();
        } else if (!trigger_ns.load() && now - settle_at > int64_t(o.settle * 1e9) && !committer.joinable()) {
            long rss1 = rss_kb(o.rss_pid);
            std::printf("clients_connected=%zu\nrss_before_kb=%ld\nrss_parked_kb=%ld\n", fd2c.size(), rss0, rss1);
            std::fflush(stdout);
            trigger_ns.store(now_ns());
            deadline = now_ns() + int64_t((o.rate > 0 ? M / o.rate : 0) * 1e9) + int64_t(o.timeout * 1e9);
            committer = std::thread([&] {
                PGconn *pg = nullptr;
                if (!o.conninfo.empty()) {
                    pg = PQconnectdb(o.conninfo.c_str());
                    if (PQstatus(pg) != CONNECTION_OK) {
                        commit_error = PQerrorMessage(pg);
                        commits_done = true;
                        return;
                    }
                }
                int64_t t0 = now_ns();
                for (int seq = 0; seq < M; seq++) {
                    if (o.rate > 0) {
                        int64_t at = t0 + int64_t(seq / o.rate * 1e9);
                        int64_t w = at - now_ns();
                        if (w > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(w));
                    }
                    t_send[size_t(seq)].store(now_ns());
                    if (pg) {
                        std::string q = replace_all(replace_all(o.sql, "{seq}", std::to_string(seq)), "{s}",
                                                    std::to_string(seq % S));
                        PGresult *r = PQexec(pg, q.c_str());
                        if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK &&
                            commit_error.empty())
                            commit_error = PQresultErrorMessage(r);
                        PQclear(r);
                    }
                    if (ref) {
                        std::string req = make_get(
                            "127.0.0.1", "/publish?shape=" + std::to_string(seq % S) + "&seq=" + std::to_string(seq));
                        for (int attempt = 0; attempt < 2; attempt++) {
                            if (ref_fd < 0) ref_fd = tcp_connect("127.0.0.1", o.ref_publish, false);
                            if (ref_fd >= 0 && write(ref_fd, req.data(), req.size()) == ssize_t(req.size())) {
                                char rb[256];
                                if (read(ref_fd, rb, sizeof rb) > 0) break;
                            }
                            if (ref_fd >= 0) close(ref_fd);
                            ref_fd = -1;
                        }
                    }
                }
                if (pg) PQfinish(pg);
                commits_done = true;
            });
        }
        if (done_count == size_t(K) && commits_done) break;
        if (deadline && now > deadline) break;
        if (!deadline && now - t_start > int64_t((o.timeout + o.settle + 120) * 1e9)) break;  // setup stuck

        int n = epoll_wait(ep, evs.data(), int(evs.size()), next_connect < K ? 1 : 20);
        for (int i = 0; i < n; i++) {
            auto f = fd2c.find(evs[size_t(i)].data.fd);
            if (f == fd2c.end()) continue;
            int idx = f->second;
            Client &c = cl[size_t(idx)];
            uint32_t ev = evs[size_t(i)].events;
            if (c.connecting && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
                int err = 0;
                socklen_t l = sizeof err;
                getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &l);
                if (err) {
                    stats.connect_fail++;
                    drop_fd(c);
                    c.failed = c.done = true;
                    done_count++;
                    continue;
                }
                c.connecting = false;
            }
            if ((ev & EPOLLOUT) && !c.out.empty()) {
                ssize_t w = write(c.fd, c.out.data(), c.out.size());
                if (w > 0) c.out.erase(0, size_t(w));
            }
            if (c.out.empty() && !c.connecting) {
                epoll_event e{};
                e.events = EPOLLIN;
                e.data.fd = c.fd;
                epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &e);
            }
            if (!(ev & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
            bool eof = false;
            for (;;) {
                ssize_t r = read(c.fd, buf.data(), buf.size());
                if (r > 0) {
                    c.parser.feed(buf.data(), size_t(r));
                    if (c.parser.done()) break;
                    continue;
                }
                if (r == 0 || errno != EAGAIN) eof = true;
                break;
            }
            if (eof) c.parser.eof();
            if (!c.parser.done()) {
                if (eof) {  // closed before a whole response: reconnect and re-send
                    drop_fd(c);
                    stats.reconnects++;
                    if (!c.done) start_request(idx);
                }
                continue;
            }
            int64_t t_recv = now_ns();
            HttpResp &r = c.parser.resp();
            stats.responses++;
            stats.status[r.status]++;
            bool reconnect = eof || r.close;
            if (r.status != 200) {
                c.failed = c.done = true;
                done_count++;
                drop_fd(c);
                continue;
            }
            if (!r.h("electric-handle") || !r.h("electric-offset") || !r.h("electric-cursor")) {
                if (stats.header_fail++ == 0) {
                    for (auto &h : r.headers) stats.first_header_fail += h.first + ": " + h.second + "; ";
                }
            } else {
                c.handle = *r.h("electric-handle");
                c.offset = *r.h("electric-offset");
                c.cursor = *r.h("electric-cursor");
            }
            const char *p = r.body.data(), *end = p + r.body.size();
            while ((p = static_cast<const char *>(memmem(p, size_t(end - p), "\"seq\":\"", 7)))) {
                p += 7;
                long long seq = std::strtoll(p, nullptr, 10);
                if (seq < 0 || seq >= M || seq % S != c.shape) continue;
                size_t k = size_t(seq / S);
                if (k < c.got.size() && !c.got[k]) {
                    c.got[k] = 1;
                    c.seen++;
                    int64_t ts = t_send[size_t(seq)].load();
                    if (ts) stats.lat_ms.push_back(double(t_recv - ts) / 1e6);
                }
            }
            if (c.seen >= c.expected && !c.done) {
                c.done = true;
                done_count++;
            }
            if (reconnect) {
                drop_fd(c);
                stats.reconnects++;
            }
            if (!c.done) start_request(idx);
        }
    }
    int64_t t_end = now_ns();
    if (committer.joinable()) committer.join();
    long rss2 = rss_kb(o.rss_pid);

    size_t expected = 0, ok_clients = 0, failed = 0;
    for (auto &c : cl) {
        expected += size_t(c.expected);
        ok_clients += (c.seen >= c.expected && !c.failed);
        failed += c.failed;
    }
    auto &L = stats.lat_ms;
    std::sort(L.begin(), L.end());
    auto pct = [&](double q) { return L.empty() ? -1.0 : L[std::min(L.size() - 1, size_t(q * double(L.size())))]; };
    std::printf("clients=%d\nclients_ok=%zu\nclients_failed=%zu\nexpected_deliveries=%zu\ndelivered=%zu\n", K,
                ok_clients, failed, expected, L.size());
    std::printf("lat_p50_ms=%.2f\nlat_p90_ms=%.2f\nlat_p99_ms=%.2f\nlat_max_ms=%.2f\n", pct(0.5), pct(0.9), pct(0.99),
                L.empty() ? -1.0 : L.back());
    std::printf("requests=%zu\nresponses=%zu\nheader_failures=%zu\nreconnects=%zu\nconnect_failures=%zu\n",
                stats.requests, stats.responses, stats.header_fail, stats.reconnects, stats.connect_fail);
    for (auto &s : stats.status) std::printf("status_%d=%zu\n", s.first, s.second);
    if (!stats.first_header_fail.empty()) std::printf("first_header_failure=%s\n", stats.first_header_fail.c_str());
    std::printf("rss_after_kb=%ld\nrun_seconds=%.3f\n", rss2,
                double(t_end - (trigger_ns ? trigger_ns.load() : t_start)) / 1e9);
    if (!commit_error.empty()) std::printf("commit_error=%s\n", replace_all(commit_error, "\n", " ").c_str());
    std::fflush(stdout);
    _exit(ok_clients == size_t(K) && commit_error.empty() ? 0 : 1);
}

}  // namespace

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    Opts o = parse_opts(argc, argv);
    if (o.port <= 0) die("--port is required");
    if (o.mode == "sync") return run_sync(o);
    if (o.mode == "live") return run_live(o);
    if (o.mode == "ref") {  // the reference origin, until killed or --lifetime seconds
        RefServer rs(o.port, std::max(1, o.shapes));
        std::thread([lt = o.lifetime] {
            std::this_thread::sleep_for(std::chrono::duration<double>(lt));
            _exit(0);
        }).detach();
        rs.run();
        return 0;
    }
    die("unknown mode " + o.mode);
}
