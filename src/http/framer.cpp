// HTTP/1.1 request framing (RequestFramer over Beast's request_parser: bounded header and body,
// Transfer-Encoding checked, fuzzed by test/fuzz/fuzz_http_request.cpp), reason phrases, and
// the Boost assertion handler.
#include "http/server.hpp"

// Boost's assertions are on in our builds (no NDEBUG): an assertion inside Beast's parser, hit by
// a client's bytes, would abort the worker and make the postmaster restart every backend. They
// throw instead (boost::assertion_failed below); the framer answers 400 and closes. Only the
// files of src/http include Boost.
#define BOOST_ENABLE_ASSERT_HANDLER 1
#include <boost/assert.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <optional>
#include <stdexcept>
#include <string>

namespace es::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

const char *reason_phrase(int s) {
    switch (s) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Status";
    }
}

}  // namespace es::http

namespace {
std::atomic<unsigned long> g_assertions{0};
struct BoostAssertion : std::logic_error {
    using std::logic_error::logic_error;
};
}  // namespace

namespace boost {
void assertion_failed(char const *expr, char const *, char const *file, long line) {
    es::http::g_internal_assertions_note();
    throw BoostAssertion(std::string(file) + ":" + std::to_string(line) + ": " + expr);
}
void assertion_failed_msg(char const *expr, char const *msg, char const *, char const *file, long line) {
    es::http::g_internal_assertions_note();
    throw BoostAssertion(std::string(file) + ":" + std::to_string(line) + ": " + expr + " (" + msg + ")");
}
}  // namespace boost

namespace es::http {

void g_internal_assertions_note() { g_assertions++; }
unsigned long RequestFramer::internal_errors() { return g_assertions.load(); }

struct RequestFramer::Impl {
    std::optional<bhttp::request_parser<bhttp::string_body>> parser;
};

RequestFramer::RequestFramer(size_t max_body, size_t max_header)
    : impl_(std::make_unique<Impl>()), max_body_(max_body), max_header_(max_header) {}
RequestFramer::~RequestFramer() = default;

RequestFramer::Result RequestFramer::put(const char *data, size_t n, size_t &used) {
    used = 0;
    auto &p = impl_->parser;
    if (!p) {
        p.emplace();
        p->body_limit(max_body_);
        p->header_limit(static_cast<std::uint32_t>(std::min<size_t>(max_header_, UINT32_MAX)));
        p->eager(true);
    }
    // Beast 1.74 asserts (n >= 5 in parse_chunk_header) when a chunked body's last chunk arrives
    // in pieces ("0\r\n", then "\r", ...). A chunked message cannot complete with fewer than 5
    // unconsumed bytes (the last chunk alone is "0\r\n\r\n" and Beast consumes no part of a
    // chunk header before it is whole), so wait for more instead.
    if (n < 5 && p->is_header_done() && p->chunked()) return Result::NeedMore;
    beast::error_code ec;
    try {
        used = p->put(boost::asio::const_buffer(data, n), ec);
    } catch (const BoostAssertion &) {
        used = 0;
        ec = bhttp::error::bad_chunk;  // any parse error: 400, close
    }
    if (!ec || ec == bhttp::error::need_more) {
        // Transfer codings: only a single "chunked" (RFC 9112 6.1: a server that does not know
        // a coding answers it, it must not guess a body). Together with Content-Length, or
        // repeated, it is a request-smuggling shape: refused too.
        if (p->is_header_done() && !te_checked_) {
            te_checked_ = true;
            auto &m = p->get();
            size_t n_te = m.count(bhttp::field::transfer_encoding);
            if (n_te > 0) {
                std::string v(m[bhttp::field::transfer_encoding]);
                while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.pop_back();
                size_t b = v.find_first_not_of(" \t");
                v = b == std::string::npos ? std::string() : v.substr(b);
                for (auto &ch : v) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
                if (n_te > 1 || v != "chunked" || m.count(bhttp::field::content_length) > 0) {
                    error_status_ = 400;
                    error_message_ = "Unsupported Transfer-Encoding (only chunked, without Content-Length)";
                    p.reset();
                    te_checked_ = false;
                    return Result::Error;
                }
            }
        }
    }
    if (ec == bhttp::error::need_more) return Result::NeedMore;
    if (ec) {
        error_status_ = 400;
        error_message_ = "Malformed HTTP request";
        if (ec == bhttp::error::body_limit) {
            error_status_ = 413;
            error_message_ = "Request body too large";
        }
        if (ec == bhttp::error::header_limit) {
            error_status_ = 431;
            error_message_ = "Request headers too large";
        }
        p.reset();
        te_checked_ = false;
        return Result::Error;
    }
    return p->is_done() ? Result::Done : Result::NeedMore;
}

Request RequestFramer::take(bool &keep_alive) {
    Request req;
    auto &p = impl_->parser;
    if (!p || !p->is_done()) {
        keep_alive = false;
        return req;
    }
    auto &m = p->get();
    req.method = std::string(m.method_string());
    req.target = std::string(m.target());
    auto q = req.target.find('?');
    req.path = req.target.substr(0, q);
    if (q != std::string::npos) req.query = req.target.substr(q + 1);
    for (auto &f : m) {
        std::string name(f.name_string());
        for (auto &c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        req.headers.emplace_back(std::move(name), std::string(f.value()));
    }
    req.body = std::move(m.body());
    keep_alive = m.keep_alive();
    p.reset();
    te_checked_ = false;
    return req;
}

}  // namespace es::http
