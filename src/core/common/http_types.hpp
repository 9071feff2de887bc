// Plain HTTP request/response values shared by the server, the route handlers and tests.
#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace es::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
    std::string method;  // "GET", "POST", ...
    std::string target;  // raw request target, e.g. "/v1/shape?table=t&offset=-1"
    std::string path;  // target up to '?', not decoded
    std::string query;  // target after '?', not decoded
    Headers headers;  // names lower-cased
    std::string body;
    std::string remote;  // peer address

    // First value of a header (name in lower case), or nullptr.
    const std::string *header(std::string_view name) const {
        for (auto &h : headers)
            if (h.first == name) return &h.second;
        return nullptr;
    }
};

struct Response {
    int status = 200;
    Headers headers;
    std::string body;

    // Replace (or add) a header.
    Response &set(std::string name, std::string value) {
        for (auto &h : headers)
            if (h.first == name) {
                h.second = std::move(value);
                return *this;
            }
        headers.emplace_back(std::move(name), std::move(value));
        return *this;
    }
    const std::string *header(std::string_view name) const {
        for (auto &h : headers)
            if (h.first == name) return &h.second;
        return nullptr;
    }
};

// A JSON response with the given status (body must already be JSON).
inline Response json_response(int status, std::string body) {
    Response r;
    r.status = status;
    r.set("content-type", "application/json");
    r.body = std::move(body);
    return r;
}

}  // namespace es::http
