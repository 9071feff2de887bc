// fuzz-sources: src/http/framer.cpp
// libFuzzer target for the HTTP request framing (es::http::RequestFramer: Beast's request_parser
// with the server's header and body limits), fed the way Session::process feeds it: bytes arrive
// in pieces, the framer consumes what belongs to the current request, unconsumed bytes are passed
// again with the next piece, and finished requests are taken one after another (pipelining)
// until an error, which closes the connection.
//
// Found so far: Beast 1.74 asserted (n >= 5, parse_chunk_header) when an empty chunked body's
// last chunk arrived in pieces; the assertion aborted the worker (corpus: split_last_chunk).
//
// Input: byte 0 chooses the piece size (1..64, or all at once) and the limits (the server's
// defaults, or small ones to reach 413/431); the rest is the byte stream from the client.
#include "http/server.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const uint8_t ctl = data[0];
    data++;
    size--;
    es::http::ServerOptions defaults;
    const bool small = ctl & 0x80;
    const size_t max_body = small ? 64 : defaults.max_body;
    const size_t max_header = small ? 256 : defaults.max_header;
    const size_t piece = (ctl & 0x40) ? size + 1 : static_cast<size_t>(ctl & 0x3f) + 1;

    const unsigned long assertions = es::http::RequestFramer::internal_errors();
    es::http::RequestFramer framer(max_body, max_header);
    std::string buf;  // received, not yet consumed (Session's rbuf_)
    size_t pos = 0;
    bool closed = false;
    while (!closed && (pos < size || !buf.empty())) {
        if (pos < size) {
            size_t n = std::min(piece, size - pos);
            buf.append(reinterpret_cast<const char *>(data) + pos, n);
            pos += n;
        }
        // Session::process: parse as long as there is buffered input.
        while (!buf.empty()) {
            size_t used = 0;
            auto res = framer.put(buf.data(), buf.size(), used);
            if (used > buf.size()) std::abort();
            buf.erase(0, used);
            if (res == es::http::RequestFramer::Result::NeedMore) break;
            if (res == es::http::RequestFramer::Result::Error) {
                int st = framer.error_status();
                if (st != 400 && st != 413 && st != 431) std::abort();
                closed = true;
                break;
            }
            bool keep_alive = true;
            es::http::Request req = framer.take(keep_alive);
            if (req.method.empty()) std::abort();
            if (req.body.size() > max_body) std::abort();
            if (req.path.size() > req.target.size()) std::abort();
            for (auto &h : req.headers)
                for (char c : h.first)
                    if (c >= 'A' && c <= 'Z') std::abort();  // names are lower-cased
            if (!keep_alive) closed = true;  // the server closes after answering
        }
        if (pos >= size) break;  // no more input: a partial request just waits (timeout)
    }
    // An assertion inside Beast is answered 400 by the server, but is a bug all the same.
    if (es::http::RequestFramer::internal_errors() != assertions) std::abort();
    return 0;
}
