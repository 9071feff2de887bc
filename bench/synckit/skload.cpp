// skload: load generator for bench/synckit/run.sh. One thread, one epoll loop, raw WebSocket
// client connections (RFC 6455, masked client frames) speaking SyncKit binary frames:
// 1 byte type, 8 bytes big-endian ms timestamp, 4 bytes big-endian length, JSON payload.
//
//   skload fanout --port P [--path /ws?...] -n CLIENTS [--doc ID] [--rate R] [--count N]
//                 [--settle S] [--timeout S] [--rss-pid PID] [--no-subscribe] [--value-bytes B]
//     CLIENTS receivers connect and SUBSCRIBE to one document (each counts once its
//     SYNC_RESPONSE arrived; with --no-subscribe, for the broadcast ceiling, once the handshake
//     is done). RSS of --rss-pid before they connect and after they are all parked. Then one
//     writer connection, in a child process, sends N DELTAs at R/s; each value carries the
//     send time (monotonic clock), and every receiver's DELTA gives one latency sample; the
//     writer times its ACKs.
//   skload throughput --port P [--path ...] --writers W --docs D [--window K] [--seconds S]
//     W writer connections, each keeping K DELTAs outstanding (a new one on every ACK), into
//     one document (D = 1, fields w<i>f<0..9>) or D documents (round robin). Counts ACKs.
//
// --secret S makes an HS256 token (claims userId, permissions canRead/canWrite ["*"], isAdmin)
// and appends ?token= to --path. Client sockets are bound to --bind (default 127.0.0.2).
// Output: key=value lines on stdout; progress and first errors on stderr.
// Build: g++ -std=c++17 -O2 -o skload skload.cpp -lcrypto
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

int64_t now_us() {
    timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return int64_t(t.tv_sec) * 1000000 + t.tv_nsec / 1000;
}
int64_t wall_ms() {
    timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return int64_t(t.tv_sec) * 1000 + t.tv_nsec / 1000000;
}

long rss_kb(int pid) {
    if (pid <= 0) return 0;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[256];
    long kb = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) kb = atol(line + 6);
    fclose(f);
    return kb;
}

std::string b64url(const unsigned char *p, size_t n) {
    std::string out(4 * ((n + 2) / 3) + 1, '\0');
    int len = EVP_EncodeBlock(reinterpret_cast<unsigned char *>(&out[0]), p, int(n));
    out.resize(size_t(len));
    while (!out.empty() && out.back() == '=') out.pop_back();
    for (char &c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
    return out;
}
std::string b64url(const std::string &s) { return b64url(reinterpret_cast<const unsigned char *>(s.data()), s.size()); }

std::string make_token(const std::string &secret) {
    std::string head = b64url(std::string("{\"alg\":\"HS256\",\"typ\":\"JWT\"}"));
    std::string claims = "{\"userId\":\"bench\",\"sub\":\"bench\",\"permissions\":{\"canRead\":[\"*\"],"
                         "\"canWrite\":[\"*\"],\"isAdmin\":true},\"exp\":" +
                         std::to_string(wall_ms() / 1000 + 3600) + "}";
    std::string input = head + "." + b64url(claims);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    HMAC(EVP_sha256(), secret.data(), int(secret.size()), reinterpret_cast<const unsigned char *>(input.data()),
         input.size(), mac, &maclen);
    return input + "." + b64url(mac, maclen);
}

// ---- options
std::string g_mode, g_path = "/ws", g_doc = "fan", g_bind = "127.0.0.2", g_secret;
int g_port = 0, g_clients = 1000, g_count = 200, g_rss_pid = 0, g_writers = 4, g_docs = 1, g_window = 8;
double g_rate = 20, g_settle = 2, g_timeout = 10, g_seconds = 10;
bool g_subscribe = true;
std::string g_pad;  // --value-bytes: padding in each fan-out value

// ---- connections
enum Role { Receiver, Writer };
enum State { Connecting, Handshake, Open, Closed };

struct Conn {
    int fd = -1;
    int idx = 0;
    Role role = Receiver;
    State state = Connecting;
    bool synced = false;  // SYNC_RESPONSE seen (or no subscribe)
    std::string in, out;
    size_t out_off = 0;
    bool want_out = false;
    std::string message;
    int message_opcode = 0;
    // writer (throughput)
    long sent = 0, acked = 0;
    int outstanding = 0;
    std::unordered_map<long, int64_t> pending;  // message number → send time
};

int g_ep = -1;
std::vector<std::unique_ptr<Conn>> g_conns;
std::unordered_map<int, Conn *> g_by_fd;
uint32_t g_rng = 0x9e3779b9u;
uint32_t rnd() {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 17;
    g_rng ^= g_rng << 5;
    return g_rng;
}

// counters
long g_connect_failures = 0, g_closed = 0, g_errors = 0, g_acks = 0, g_deltas_in = 0, g_other_in = 0;
long g_handshake_fail = 0;
int g_errors_logged = 0;
std::string g_first_error;
int g_synced = 0, g_opened = 0;
std::string g_run;  // marker of this run, in every value we send

void set_out(Conn *c, bool want) {
    if (c->want_out == want || c->state == Closed) return;
    c->want_out = want;
    epoll_event ev{};
    ev.events = EPOLLIN | (want || c->state == Connecting ? uint32_t(EPOLLOUT) : 0u);
    ev.data.fd = c->fd;
    epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev);
}

void close_conn(Conn *c) {
    if (c->state == Closed) return;
    if (c->state == Open) g_closed++;
    else g_connect_failures++;
    epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, nullptr);
    close(c->fd);
    g_by_fd.erase(c->fd);
    c->state = Closed;
}

void flush(Conn *c) {
    while (c->out_off < c->out.size()) {
        ssize_t n = write(c->fd, c->out.data() + c->out_off, c->out.size() - c->out_off);
        if (n > 0) {
            c->out_off += size_t(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_out(c, true);
            return;
        }
        close_conn(c);
        return;
    }
    c->out.clear();
    c->out_off = 0;
    set_out(c, false);
}

// A masked client frame.
void send_ws(Conn *c, int opcode, const std::string &payload) {
    if (c->state == Closed) return;
    std::string &o = c->out;
    if (c->out_off == o.size()) {
        o.clear();
        c->out_off = 0;
    }
    size_t len = payload.size();
    o.push_back(char(0x80 | opcode));
    if (len < 126) o.push_back(char(0x80 | len));
    else if (len <= 0xFFFF) {
        o.push_back(char(0x80 | 126));
        o.push_back(char(len >> 8));
        o.push_back(char(len & 0xFF));
    } else {
        o.push_back(char(0x80 | 127));
        for (int i = 7; i >= 0; i--) o.push_back(char((uint64_t(len) >> (8 * i)) & 0xFF));
    }
    uint32_t m = rnd();
    unsigned char mk[4] = {uint8_t(m), uint8_t(m >> 8), uint8_t(m >> 16), uint8_t(m >> 24)};
    o.append(reinterpret_cast<char *>(mk), 4);
    size_t at = o.size();
    o.append(payload);
    for (size_t i = 0; i < len; i++) o[at + i] ^= char(mk[i & 3]);
    flush(c);
}

void send_sk(Conn *c, int type, const std::string &json) {
    std::string f(13, '\0');
    f[0] = char(type);
    int64_t ts = wall_ms();
    for (int i = 0; i < 8; i++) f[1 + i] = char((uint64_t(ts) >> (8 * (7 - i))) & 0xFF);
    uint32_t n = uint32_t(json.size());
    for (int i = 0; i < 4; i++) f[9 + i] = char((n >> (8 * (3 - i))) & 0xFF);
    f.append(json);
    send_ws(c, 0x2, f);
}

int tcp_connect() {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (!g_bind.empty()) {
        // Let connect() choose the port by the whole 4-tuple: a bind() to port 0 searches the
        // range for a port free of every socket, TIME_WAIT included, and after a run of 10,000
        // clients that took the load generator 13 s of system time per 10,000 connects.
#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        sockaddr_in b{};
        b.sin_family = AF_INET;
        inet_pton(AF_INET, g_bind.c_str(), &b.sin_addr);
        if (bind(fd, reinterpret_cast<sockaddr *>(&b), sizeof b) < 0) {
            close(fd);
            return -1;
        }
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(g_port));
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

Conn *open_conn(Role role, int idx) {
    auto c = std::make_unique<Conn>();
    c->role = role;
    c->idx = idx;
    c->fd = tcp_connect();
    Conn *p = c.get();
    g_conns.push_back(std::move(c));
    if (p->fd < 0) {
        p->state = Closed;
        g_connect_failures++;
        return p;
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.fd = p->fd;
    epoll_ctl(g_ep, EPOLL_CTL_ADD, p->fd, &ev);
    g_by_fd[p->fd] = p;
    return p;
}

void start_handshake(Conn *c) {
    c->state = Handshake;
    char key_raw[16];
    for (char &k : key_raw) k = char(rnd());
    std::string key = b64url(reinterpret_cast<unsigned char *>(key_raw), 16);
    while (key.size() % 4) key.push_back('=');
    std::string req = "GET " + g_path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(g_port) +
                      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                      "Sec-WebSocket-Key: " + key + "\r\n\r\n";
    c->out.append(req);
    flush(c);
}

// ---- fan-out bookkeeping
struct DeltaStat {
    int64_t sent_us = 0;
    int got = 0;
    int64_t max_us = 0;
    int64_t min_us = INT64_MAX;
};
std::vector<DeltaStat> g_delta;
std::vector<int64_t> g_lat;  // one per (delta, receiver)
std::vector<int64_t> g_ack_lat;  // fan-out: the writer's send → ACK
long g_stale = 0;            // deltas of an earlier value (the replay after SYNC_RESPONSE)

void log_error(const char *what, const std::string &payload) {
    g_errors++;
    if (g_first_error.empty()) g_first_error = payload.substr(0, 300);
    if (g_errors_logged < 5) {
        g_errors_logged++;
        fprintf(stderr, "skload: %s: %.300s\n", what, payload.c_str());
    }
}

void writer_send_next(Conn *c);

// One SyncKit frame arrived on c.
void on_sk(Conn *c, const std::string &m) {
    if (m.size() < 13) {
        log_error("short frame", m);
        return;
    }
    int type = static_cast<unsigned char>(m[0]);
    std::string json = m.substr(13);
    if (type == 0x13) {
        if (!c->synced) {
            c->synced = true;
            g_synced++;
        }
    } else if (type == 0x20) {
        g_deltas_in++;
        if (c->role != Receiver) return;
        // our values are strings "skb:<run>:<seq>"; the send time is kept here
        std::string mark = "skb:" + g_run + ":";
        size_t p = json.find(mark);
        if (p == std::string::npos) {
            g_stale++;
            return;
        }
        // "skb:<run>:<seq>:<send time, monotonic us>:<padding>" (the writer is another process)
        char *end = nullptr;
        long seq = strtol(json.c_str() + p + mark.size(), &end, 10);
        int64_t sent = (end && *end == ':') ? strtoll(end + 1, nullptr, 10) : 0;
        if (seq < 0 || size_t(seq) >= g_delta.size() || sent <= 0) {
            g_stale++;
            return;
        }
        int64_t lat = now_us() - sent;
        g_lat.push_back(lat);
        DeltaStat &d = g_delta[seq];
        d.got++;
        d.max_us = std::max(d.max_us, lat);
        d.min_us = std::min(d.min_us, lat);
    } else if (type == 0x21) {
        g_acks++;
        if (c->role == Writer && g_mode == "fanout") {
            // {"messageId":"m-<seq>"}: ACK time = the commit as the writer sees it
            size_t p = json.find("\"m-");
            long seq = p == std::string::npos ? -1 : atol(json.c_str() + p + 3);
            if (seq >= 0 && size_t(seq) < g_delta.size() && g_delta[seq].sent_us)
                g_ack_lat.push_back(now_us() - g_delta[seq].sent_us);
        }
        if (c->role == Writer && g_mode == "throughput") {
            // {"messageId":"w<i>-<n>"}
            size_t p = json.find("\"w");
            if (p != std::string::npos) {
                size_t dash = json.find('-', p);
                long n = dash == std::string::npos ? -1 : atol(json.c_str() + dash + 1);
                auto it = c->pending.find(n);
                if (it != c->pending.end()) {
                    g_lat.push_back(now_us() - it->second);
                    c->pending.erase(it);
                }
            }
            c->acked++;
            c->outstanding--;
            writer_send_next(c);
        }
    } else if (type == 0xFF || type == 0x03) {
        log_error(type == 0xFF ? "ERROR frame" : "AUTH_ERROR frame", json);
    } else {
        g_other_in++;
    }
}

void on_readable(Conn *c) {
    char buf[65536];
    bool eof = false;
    for (;;) {
        ssize_t r = read(c->fd, buf, sizeof buf);
        if (r > 0) {
            c->in.append(buf, size_t(r));
            if (r < ssize_t(sizeof buf)) break;
            continue;
        }
        if (r == 0) eof = true;
        else if (errno == EINTR) continue;
        else if (errno != EAGAIN && errno != EWOULDBLOCK) eof = true;
        break;
    }
    if (c->state == Handshake) {
        size_t end = c->in.find("\r\n\r\n");
        if (end != std::string::npos) {
            if (c->in.compare(0, 12, "HTTP/1.1 101") != 0) {
                g_handshake_fail++;
                if (g_handshake_fail <= 3) fprintf(stderr, "skload: handshake refused: %.200s\n", c->in.c_str());
                close_conn(c);
                return;
            }
            c->in.erase(0, end + 4);
            c->state = Open;
            g_opened++;
            if (c->role == Receiver) {
                if (g_subscribe) send_sk(c, 0x10, "{\"documentId\":\"" + g_doc + "\"}");
                else {
                    c->synced = true;
                    g_synced++;
                }
            }
        }
    }
    if (c->state == Open) {
        size_t off = 0;
        for (;;) {
            size_t avail = c->in.size() - off;
            if (avail < 2) break;
            auto b = reinterpret_cast<const unsigned char *>(c->in.data() + off);
            bool fin = b[0] & 0x80;
            int opcode = b[0] & 0x0F;
            bool masked = b[1] & 0x80;
            uint64_t len = b[1] & 0x7F;
            size_t h = 2;
            if (len == 126) {
                if (avail < 4) break;
                len = (uint64_t(b[2]) << 8) | b[3];
                h = 4;
            } else if (len == 127) {
                if (avail < 10) break;
                len = 0;
                for (int i = 0; i < 8; i++) len = (len << 8) | b[2 + i];
                h = 10;
            }
            size_t mk = h;
            if (masked) h += 4;
            if (avail < h + len) break;
            std::string payload(c->in.data() + off + h, size_t(len));
            if (masked)
                for (size_t i = 0; i < payload.size(); i++) payload[i] ^= b[mk + (i & 3)];
            off += h + size_t(len);
            if (opcode == 0x9) {
                send_ws(c, 0xA, payload);
            } else if (opcode == 0x8) {
                unsigned code = payload.size() >= 2 ? (unsigned(uint8_t(payload[0])) << 8) | uint8_t(payload[1]) : 0;
                if (g_closed < 3) fprintf(stderr, "skload: server closed connection %d: code %u %s\n", c->idx, code,
                                          payload.size() > 2 ? payload.substr(2).c_str() : "");
                close_conn(c);
                return;
            } else if (opcode == 0x0 || opcode == 0x1 || opcode == 0x2) {
                if (opcode != 0) {
                    c->message_opcode = opcode;
                    c->message.clear();
                }
                c->message.append(payload);
                if (fin) {
                    std::string msg;
                    msg.swap(c->message);
                    if (c->message_opcode == 0x2) on_sk(c, msg);
                    else log_error("text frame", msg);
                    if (c->state == Closed) return;
                }
            }
        }
        c->in.erase(0, off);
    }
    if (eof) close_conn(c);
}

void poll_once(int timeout_ms) {
    epoll_event evs[512];
    int n = epoll_wait(g_ep, evs, 512, timeout_ms);
    for (int i = 0; i < n; i++) {
        auto it = g_by_fd.find(evs[i].data.fd);
        if (it == g_by_fd.end()) continue;
        Conn *c = it->second;
        if (c->state == Connecting) {
            if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
                close_conn(c);
                continue;
            }
            if (evs[i].events & EPOLLOUT) {
                int err = 0;
                socklen_t l = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
                if (err) {
                    close_conn(c);
                    continue;
                }
                c->want_out = true;  // set_out below drops EPOLLOUT
                start_handshake(c);
                if (c->state != Closed && c->out_off == c->out.size()) set_out(c, false);
            }
            continue;
        }
        if (evs[i].events & EPOLLOUT) flush(c);
        if (c->state == Closed) continue;
        if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
    }
}

double pct(std::vector<int64_t> &v, double p) {
    if (v.empty()) return 0;
    size_t k = size_t(p * double(v.size() - 1) + 0.5);
    std::nth_element(v.begin(), v.begin() + long(k), v.end());
    return double(v[k]) / 1000.0;
}

// ---- fan-out
int run_fanout() {
    g_delta.assign(size_t(g_count), DeltaStat{});
    long rss_before = rss_kb(g_rss_pid);
    int64_t t0 = now_us();
    // Connect in waves of at most 100 pending handshakes/subscribes.
    int started = 0;
    int64_t deadline = t0 + 120 * 1000000LL;  // connecting and subscribing: at most 2 min
    while (now_us() < deadline) {
        int done = 0;
        for (auto &c : g_conns) done += c->synced || c->state == Closed;
        if (started == g_clients && done == started) break;
        while (started < g_clients && started - done < 100) {
            open_conn(Receiver, started);
            started++;
            done += g_conns.back()->state == Closed;
        }
        poll_once(5);
    }
    int64_t t_conn = now_us();
    fprintf(stderr, "skload: %d of %d receivers subscribed in %.2f s\n", g_synced, g_clients, (t_conn - t0) / 1e6);
    // Let the replayed fields and the server's own bookkeeping settle.
    int64_t settle_end = now_us() + int64_t(g_settle * 1e6);
    while (now_us() < settle_end) poll_once(20);
    long rss_parked = rss_kb(g_rss_pid);

    // The writer runs in a child process with its own loop, so that neither its sends nor the
    // ACKs it reads wait behind this process's 1,000 receivers (both processes use the same
    // monotonic clock: the send time travels in the value).
    int live = 0;
    for (auto &c : g_conns)
        if (c->role == Receiver && c->state == Open && c->synced) live++;
    long expected = long(live) * g_count;
    int pfd[2];
    if (pipe(pfd) < 0) return 1;
    fflush(stdout);
    fflush(stderr);
    pid_t child = fork();
    if (child == 0) {
        close(pfd[0]);
        g_ep = epoll_create1(0);  // the receivers' sockets stay with the parent
        g_by_fd.clear();
        g_acks = 0;
        Conn *w = open_conn(Writer, -1);
        int64_t wdl = now_us() + 10000000;
        while (w->state != Open && w->state != Closed && now_us() < wdl) poll_once(5);
        std::string res;
        if (w->state != Open) {
            res = "writer_failed=1\n";
        } else {
            int64_t interval = int64_t(1e6 / g_rate);
            int64_t next = now_us();
            int64_t last_ts = 0;
            for (int s = 0; s < g_count; s++) {
                while (now_us() < next) poll_once(int(std::max<int64_t>(0, (next - now_us()) / 1000)));
                int64_t ts = std::max(wall_ms(), last_ts + 1);
                last_ts = ts;
                int64_t sent = now_us();
                std::string json = "{\"type\":\"set\",\"documentId\":\"" + g_doc + "\",\"field\":\"f\",\"value\":\"skb:" +
                                   g_run + ":" + std::to_string(s) + ":" + std::to_string(sent) + ":" + g_pad +
                                   "\",\"clock\":{\"bench-writer\":" + std::to_string(s + 1) +
                                   "},\"clientId\":\"bench-writer\",\"timestamp\":" + std::to_string(ts) +
                                   ",\"messageId\":\"m-" + std::to_string(s) + "\"}";
                g_delta[size_t(s)].sent_us = sent;
                send_sk(w, 0x20, json);
                next += interval;
            }
            // The last ACKs (a server that ACKs nothing, the ceiling, gets 1 s).
            int64_t t_last = now_us();
            int64_t end = t_last + int64_t(g_timeout * 1e6);
            while (now_us() < end && g_acks < g_count && !(g_acks == 0 && now_us() > t_last + 1000000)) poll_once(20);
            char b[256];
            snprintf(b, sizeof b, "acks=%ld\nack_p50_ms=%.2f\nack_p99_ms=%.2f\n", g_acks, pct(g_ack_lat, 0.5),
                     pct(g_ack_lat, 0.99));
            res = b;
            if (!g_first_error.empty()) res += "writer_error=" + g_first_error + "\n";
        }
        if (write(pfd[1], res.data(), res.size()) < 0) _exit(1);
        _exit(0);  // no cleanup: the receivers' sockets are the parent's
    }
    close(pfd[1]);
    fcntl(pfd[0], F_SETFL, O_NONBLOCK);
    std::string wres;
    bool child_done = false;
    int64_t end = now_us() + int64_t((g_count / g_rate + 10 + g_timeout) * 1e6);
    while (now_us() < end && (long(g_lat.size()) < expected || !child_done)) {
        poll_once(20);
        char b[1024];
        ssize_t n;
        while ((n = read(pfd[0], b, sizeof b)) > 0) wres.append(b, size_t(n));
        if (n == 0) child_done = true;
    }
    if (!child_done) kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    close(pfd[0]);
    long rss_after = rss_kb(g_rss_pid);
    if (wres.find("writer_failed=1") != std::string::npos) fprintf(stderr, "skload: the writer could not connect\n");

    std::vector<int64_t> all, first;
    int complete = 0;
    for (auto &d : g_delta) {
        if (d.got > 0) first.push_back(d.min_us);
        if (d.got >= live && live > 0) {
            complete++;
            all.push_back(d.max_us);
        }
    }
    long delivered = long(g_lat.size());
    printf("clients=%d\nclients_subscribed=%d\nconnect_seconds=%.2f\nconnect_failures=%ld\nhandshake_failures=%ld\n",
           g_clients, g_synced, (t_conn - t0) / 1e6, g_connect_failures, g_handshake_fail);
    printf("rss_before_kb=%ld\nrss_parked_kb=%ld\nrss_after_kb=%ld\n", rss_before, rss_parked, rss_after);
    printf("deltas_sent=%d\nreceivers_live=%d\ndelivered=%ld\nexpected=%ld\ncomplete_deltas=%d\n", g_count, live,
           delivered, expected, complete);
    printf("%s", wres.c_str());  // acks, ack_p50_ms, ack_p99_ms from the writer
    printf("lat_p50_ms=%.2f\nlat_p95_ms=%.2f\nlat_p99_ms=%.2f\nlat_max_ms=%.2f\n", pct(g_lat, 0.5), pct(g_lat, 0.95),
           pct(g_lat, 0.99), pct(g_lat, 1.0));
    printf("all_p50_ms=%.2f\nall_p99_ms=%.2f\nall_max_ms=%.2f\n", pct(all, 0.5), pct(all, 0.99), pct(all, 1.0));
    printf("first_p50_ms=%.2f\nfirst_p99_ms=%.2f\n", pct(first, 0.5), pct(first, 0.99));
    printf("stale_deltas=%ld\nerrors=%ld\nclosed_by_server=%ld\n", g_stale, g_errors, g_closed);
    if (!g_first_error.empty()) printf("first_error=%s\n", g_first_error.c_str());
    return delivered == expected && live == g_clients && child_done ? 0 : 1;
}

// ---- throughput
long g_doc_rr = 0;
int64_t g_stop_sending = INT64_MAX;
void writer_send_next(Conn *c) {
    if (c->state != Open || now_us() >= g_stop_sending) return;
    while (c->outstanding < g_window) {
        long n = c->sent++;
        std::string doc;
        if (g_docs <= 1) doc = g_doc;
        else doc = g_doc + "-" + std::to_string((g_doc_rr++) % g_docs);
        std::string field = "w" + std::to_string(c->idx) + "f" + std::to_string(n % 10);
        std::string json = "{\"type\":\"set\",\"documentId\":\"" + doc + "\",\"field\":\"" + field +
                           "\",\"value\":\"skb:" + g_run + ":" + std::to_string(n) + "\",\"clock\":{\"bench-w" +
                           std::to_string(c->idx) + "\":" + std::to_string(n + 1) + "},\"clientId\":\"bench-w" +
                           std::to_string(c->idx) + "\",\"timestamp\":" + std::to_string(wall_ms()) +
                           ",\"messageId\":\"w" + std::to_string(c->idx) + "-" + std::to_string(n) + "\"}";
        c->pending[n] = now_us();
        c->outstanding++;
        send_sk(c, 0x20, json);
        if (c->state != Open) return;
    }
}

int run_throughput() {
    for (int i = 0; i < g_writers; i++) open_conn(Writer, i);
    int64_t dl = now_us() + 10000000;
    while (now_us() < dl && g_opened + g_connect_failures + g_handshake_fail < g_writers) poll_once(5);
    if (g_opened < g_writers) fprintf(stderr, "skload: only %d of %d writers connected\n", g_opened, g_writers);
    // One second of warm-up, then the measured window.
    int64_t t_start = now_us();
    for (auto &c : g_conns) writer_send_next(c.get());
    while (now_us() < t_start + 1000000) poll_once(5);
    long acks0 = g_acks;
    g_lat.clear();
    int64_t t0 = now_us();
    int64_t t1 = t0 + int64_t(g_seconds * 1e6);
    while (now_us() < t1) poll_once(5);
    long acks = g_acks - acks0;
    double secs = (now_us() - t0) / 1e6;
    std::vector<int64_t> lat = g_lat;
    // Drain what is outstanding (not counted).
    g_stop_sending = now_us();
    int64_t drain = now_us() + 5000000;
    for (;;) {
        long out = 0;
        for (auto &c : g_conns)
            if (c->state == Open) out += c->outstanding;
        if (out == 0 || now_us() > drain) break;
        poll_once(10);
    }
    long open = 0;
    for (auto &c : g_conns) open += c->state == Open;
    printf("writers=%d\nwriters_open=%ld\nwindow=%d\ndocs=%d\nacks=%ld\nseconds=%.3f\nrate=%.1f\n", g_writers, open,
           g_window, g_docs, acks, secs, acks / secs);
    printf("ack_p50_ms=%.2f\nack_p99_ms=%.2f\n", pct(lat, 0.5), pct(lat, 0.99));
    printf("errors=%ld\nclosed_by_server=%ld\nconnect_failures=%ld\nhandshake_failures=%ld\n", g_errors, g_closed,
           g_connect_failures, g_handshake_fail);
    if (!g_first_error.empty()) printf("first_error=%s\n", g_first_error.c_str());
    return acks > 0 && g_errors == 0 && open == g_writers ? 0 : 1;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: skload fanout|throughput [options] (see the head of skload.cpp)\n");
        return 2;
    }
    g_mode = argv[1];
    for (int i = 2; i < argc; i++) {
        std::string a = argv[i];
        auto val = [&]() -> std::string {
            if (i + 1 >= argc) {
                fprintf(stderr, "skload: %s needs a value\n", a.c_str());
                exit(2);
            }
            return argv[++i];
        };
        if (a == "--port") g_port = atoi(val().c_str());
        else if (a == "--path") g_path = val();
        else if (a == "-n") g_clients = atoi(val().c_str());
        else if (a == "--doc") g_doc = val();
        else if (a == "--rate") g_rate = atof(val().c_str());
        else if (a == "--count") g_count = atoi(val().c_str());
        else if (a == "--settle") g_settle = atof(val().c_str());
        else if (a == "--timeout") g_timeout = atof(val().c_str());
        else if (a == "--rss-pid") g_rss_pid = atoi(val().c_str());
        else if (a == "--no-subscribe") g_subscribe = false;
        else if (a == "--value-bytes") g_pad.assign(size_t(atol(val().c_str())), 'x');
        else if (a == "--writers") g_writers = atoi(val().c_str());
        else if (a == "--docs") g_docs = atoi(val().c_str());
        else if (a == "--window") g_window = atoi(val().c_str());
        else if (a == "--seconds") g_seconds = atof(val().c_str());
        else if (a == "--bind") g_bind = val();
        else if (a == "--secret") g_secret = val();
        else {
            fprintf(stderr, "skload: unknown option %s\n", a.c_str());
            return 2;
        }
    }
    if (g_port <= 0) {
        fprintf(stderr, "skload: --port is required\n");
        return 2;
    }
    if (!g_secret.empty())
        g_path += std::string(g_path.find('?') == std::string::npos ? "?" : "&") + "token=" + make_token(g_secret);
    signal(SIGPIPE, SIG_IGN);
    g_rng ^= uint32_t(now_us());
    g_run = std::to_string(wall_ms() % 100000000);
    g_ep = epoll_create1(0);
    int rc = 2;
    if (g_mode == "fanout") rc = run_fanout();
    else if (g_mode == "throughput") rc = run_throughput();
    else fprintf(stderr, "skload: unknown mode %s\n", g_mode.c_str());
    fflush(stdout);
    // Reset the connections (no TIME_WAIT: thousands of them on 127.0.0.2 would leave too few
    // ports for the next run's clients).
    linger lg{1, 0};
    for (auto &c : g_conns)
        if (c->state != Closed) {
            setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            close(c->fd);
        }
    return rc;
}
