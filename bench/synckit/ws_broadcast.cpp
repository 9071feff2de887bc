// ws_broadcast: the ceiling for bench/synckit/run.sh. A plain single-threaded epoll WebSocket
// server: a minimal RFC 6455 handshake (Sec-WebSocket-Accept = base64(SHA-1(key + GUID)) with
// OpenSSL), then every binary message received from one client is re-sent, as one unmasked
// binary frame, to every connected client (the sender included). Pings get pongs, a close is
// answered and the socket closed. No Postgres, no JSON: what a WebSocket fan-out of the same
// frames costs on this machine.
//
// Usage: ws_broadcast --port N [--lifetime SECONDS]
// Build: g++ -std=c++17 -O2 -o ws_broadcast ws_broadcast.cpp -lcrypto
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

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

struct Conn {
    int fd = -1;
    bool open = false;      // handshake done
    bool closing = false;   // close frame sent: drop after the output drains
    std::string in;
    std::string out;
    size_t out_off = 0;
    std::string message;    // fragments of the message being received
    int message_opcode = 0;
    bool want_out = false;  // EPOLLOUT armed
};

int g_ep = -1;
std::unordered_map<int, std::unique_ptr<Conn>> g_conns;
std::vector<Conn *> g_open;  // connections past the handshake (broadcast targets)

std::string accept_key(const std::string &key) {
    std::string s = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char *>(s.data()), s.size(), digest);
    unsigned char b64[64];
    int n = EVP_EncodeBlock(b64, digest, SHA_DIGEST_LENGTH);
    return std::string(reinterpret_cast<char *>(b64), n);
}

void frame_header(std::string &out, int opcode, size_t len) {
    out.push_back(static_cast<char>(0x80 | opcode));
    if (len < 126) {
        out.push_back(static_cast<char>(len));
    } else if (len <= 0xFFFF) {
        out.push_back(126);
        out.push_back(static_cast<char>(len >> 8));
        out.push_back(static_cast<char>(len & 0xFF));
    } else {
        out.push_back(127);
        for (int i = 7; i >= 0; i--) out.push_back(static_cast<char>((uint64_t(len) >> (8 * i)) & 0xFF));
    }
}

void set_out_interest(Conn *c, bool want) {
    if (c->want_out == want) return;
    c->want_out = want;
    epoll_event ev{};
    ev.events = EPOLLIN | (want ? uint32_t(EPOLLOUT) : 0u);
    ev.data.fd = c->fd;
    epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev);
}

void drop(Conn *c) {
    int fd = c->fd;
    if (c->open) {
        for (size_t i = 0; i < g_open.size(); i++)
            if (g_open[i] == c) {
                g_open[i] = g_open.back();
                g_open.pop_back();
                break;
            }
    }
    epoll_ctl(g_ep, EPOLL_CTL_DEL, fd, nullptr);
    close(fd);
    g_conns.erase(fd);
}

// Writes what it can; false if the connection was dropped.
bool flush(Conn *c) {
    while (c->out_off < c->out.size()) {
        ssize_t n = write(c->fd, c->out.data() + c->out_off, c->out.size() - c->out_off);
        if (n > 0) {
            c->out_off += size_t(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_out_interest(c, true);
            return true;
        }
        drop(c);
        return false;
    }
    c->out.clear();
    c->out_off = 0;
    set_out_interest(c, false);
    if (c->closing) {
        drop(c);
        return false;
    }
    return true;
}

void queue(Conn *c, const std::string &bytes) {
    if (c->out_off > 0 && c->out_off == c->out.size()) {
        c->out.clear();
        c->out_off = 0;
    }
    c->out.append(bytes);
}

void broadcast(const std::string &payload) {
    std::string frame;
    frame.reserve(payload.size() + 10);
    frame_header(frame, 0x2, payload.size());
    frame.append(payload);
    // Copy the target list: flush() may drop a connection and reorder g_open.
    std::vector<int> fds;
    fds.reserve(g_open.size());
    for (Conn *c : g_open) fds.push_back(c->fd);
    for (int fd : fds) {
        auto it = g_conns.find(fd);
        if (it == g_conns.end()) continue;
        Conn *c = it->second.get();
        bool was_empty = c->out_off == c->out.size();
        queue(c, frame);
        if (was_empty) flush(c);
    }
}

// Parses the handshake; false to drop.
bool handshake(Conn *c) {
    size_t end = c->in.find("\r\n\r\n");
    if (end == std::string::npos) return c->in.size() < 16384;
    std::string head = c->in.substr(0, end + 2);
    c->in.erase(0, end + 4);
    std::string key;
    size_t pos = 0;
    while (pos < head.size()) {
        size_t eol = head.find("\r\n", pos);
        if (eol == std::string::npos) break;
        std::string line = head.substr(pos, eol - pos);
        pos = eol + 2;
        size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string name = line.substr(0, colon);
        for (char &ch : name) ch = char(tolower(static_cast<unsigned char>(ch)));
        if (name != "sec-websocket-key") continue;
        size_t v = colon + 1;
        while (v < line.size() && line[v] == ' ') v++;
        size_t ve = line.size();
        while (ve > v && (line[ve - 1] == ' ' || line[ve - 1] == '\t')) ve--;
        key = line.substr(v, ve - v);
    }
    if (key.empty()) {
        queue(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        c->closing = true;
        flush(c);
        return false;
    }
    queue(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: " + accept_key(key) + "\r\n\r\n");
    c->open = true;
    g_open.push_back(c);
    return flush(c);
}

// Handles the complete frames in c->in; false if the connection was dropped.
bool frames(Conn *c) {
    size_t off = 0;
    const std::string &in = c->in;
    bool alive = true;
    while (alive) {
        if (in.size() - off < 2) break;
        auto b = reinterpret_cast<const unsigned char *>(in.data() + off);
        bool fin = b[0] & 0x80;
        int opcode = b[0] & 0x0F;
        bool masked = b[1] & 0x80;
        uint64_t len = b[1] & 0x7F;
        size_t h = 2;
        if (len == 126) {
            if (in.size() - off < 4) break;
            len = (uint64_t(b[2]) << 8) | b[3];
            h = 4;
        } else if (len == 127) {
            if (in.size() - off < 10) break;
            len = 0;
            for (int i = 0; i < 8; i++) len = (len << 8) | b[2 + i];
            h = 10;
        }
        if (len > (64u << 20)) return drop(c), false;
        size_t mask_at = h;
        if (masked) h += 4;
        if (in.size() - off < h + len) break;
        std::string payload(in.data() + off + h, size_t(len));
        if (masked)
            for (size_t i = 0; i < payload.size(); i++) payload[i] ^= b[mask_at + (i & 3)];
        off += h + size_t(len);
        if (opcode == 0x8) {  // close: answer it, then drop once written
            std::string f;
            frame_header(f, 0x8, payload.size() >= 2 ? 2 : 0);
            if (payload.size() >= 2) f.append(payload, 0, 2);
            queue(c, f);
            c->closing = true;
            c->in.erase(0, off);
            flush(c);
            return false;
        } else if (opcode == 0x9) {  // ping → pong
            std::string f;
            frame_header(f, 0xA, payload.size());
            f.append(payload);
            queue(c, f);
            alive = flush(c);
        } else if (opcode == 0xA) {
            // pong: nothing to do
        } else if (opcode == 0x0 || opcode == 0x1 || opcode == 0x2) {
            if (opcode != 0x0) {
                c->message_opcode = opcode;
                c->message.clear();
            }
            c->message.append(payload);
            if (fin) {
                int op = c->message_opcode;
                std::string msg;
                msg.swap(c->message);
                if (op == 0x2) {
                    int fd = c->fd;
                    broadcast(msg);
                    alive = g_conns.count(fd) > 0;
                }
            }
        }
    }
    if (!alive) return false;
    c->in.erase(0, off);
    return true;
}

}  // namespace

int main(int argc, char **argv) {
    int port = 0;
    double lifetime = 0;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--port" && i + 1 < argc) port = atoi(argv[++i]);
        else if (a == "--lifetime" && i + 1 < argc) lifetime = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: ws_broadcast --port N [--lifetime SECONDS]\n");
            return 2;
        }
    }
    if (port <= 0) {
        fprintf(stderr, "ws_broadcast: --port is required\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port));
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(lfd, reinterpret_cast<sockaddr *>(&a), sizeof a) < 0 || listen(lfd, 4096) < 0) {
        fprintf(stderr, "ws_broadcast: cannot listen on port %d: %s\n", port, strerror(errno));
        return 1;
    }
    g_ep = epoll_create1(0);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = lfd;
    epoll_ctl(g_ep, EPOLL_CTL_ADD, lfd, &ev);
    timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    std::vector<epoll_event> evs(1024);
    char buf[65536];
    for (;;) {
        int n = epoll_wait(g_ep, evs.data(), int(evs.size()), 500);
        if (lifetime > 0) {
            timespec t;
            clock_gettime(CLOCK_MONOTONIC, &t);
            if ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 > lifetime) break;
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                for (;;) {
                    int cfd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK);
                    if (cfd < 0) break;
                    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    auto c = std::make_unique<Conn>();
                    c->fd = cfd;
                    epoll_event cev{};
                    cev.events = EPOLLIN;
                    cev.data.fd = cfd;
                    epoll_ctl(g_ep, EPOLL_CTL_ADD, cfd, &cev);
                    g_conns[cfd] = std::move(c);
                }
                continue;
            }
            auto it = g_conns.find(fd);
            if (it == g_conns.end()) continue;
            Conn *c = it->second.get();
            if (evs[i].events & EPOLLOUT) {
                if (!flush(c)) continue;
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                bool eof = false;
                for (;;) {
                    ssize_t r = read(fd, buf, sizeof buf);
                    if (r > 0) {
                        c->in.append(buf, size_t(r));
                        continue;
                    }
                    if (r == 0) eof = true;
                    else if (errno == EINTR) continue;
                    else if (errno != EAGAIN && errno != EWOULDBLOCK) eof = true;
                    break;
                }
                bool alive = true;
                if (!c->open) alive = handshake(c);
                if (alive && c->open && !c->in.empty()) alive = frames(c);
                if (alive && eof) drop(c);
                else if (!alive && g_conns.count(fd)) {
                    Conn *d = g_conns[fd].get();
                    if (!d->closing) drop(d);
                }
            }
        }
    }
    return 0;
}
