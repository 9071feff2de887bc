// Between the HTTP server and its WebSocket connections (src/http only): a Session whose request
// was upgraded hands its socket to start_websocket, which runs the connection on the socket's
// strand until it ends.
#pragma once
#include "http/server.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <string>

namespace es::http {

// Takes over `sock` (already read up to the end of `req`'s head), answers the upgrade and runs
// the connection; `count` counts live WebSocket connections (incremented here, decremented when
// the connection is destroyed).
void start_websocket(boost::asio::ip::tcp::socket sock, std::string remote, WebSocketOptions options,
                     WebSocketSetup setup, std::atomic<size_t> &count, const Request &req);

}  // namespace es::http
