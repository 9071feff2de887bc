// HTTP-level helpers: live cursor, etag, cache-control, CORS, error bodies, shape handles.
#include "core/electric/electric.hpp"

#include <climits>

namespace es::electric {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

std::string_view strip_quotes(std::string_view s) {
    while (!s.empty() && s.front() == '"') s.remove_prefix(1);
    while (!s.empty() && s.back() == '"') s.remove_suffix(1);
    return s;
}

// Optional '-' then 1..19 digits, no overflow.
bool parse_i64(std::string_view s, int64_t &out) {
    bool neg = false;
    if (!s.empty() && s.front() == '-') {
        neg = true;
        s.remove_prefix(1);
    }
    if (s.empty() || s.size() > 19) return false;
    int64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        int d = c - '0';
        if (v > (INT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    out = neg ? -v : v;
    return true;
}

template <typename F>
void split_commas(std::string_view s, F &&f) {
    size_t start = 0;
    while (start <= s.size()) {
        size_t comma = s.find(',', start);
        if (comma == std::string_view::npos) comma = s.size();
        f(trim(s.substr(start, comma - start)));
        start = comma + 1;
    }
}

void append_lenpref(std::string &out, char tag, std::string_view v) {
    out += tag;
    append_uint(out, v.size());
    out += ':';
    out += v;
    out += '|';
}

}  // namespace

int64_t next_cursor(int64_t now_seconds, int64_t long_poll_timeout_s, std::string_view request_cursor,
                    uint64_t random) {
    if (long_poll_timeout_s <= 0) return 0;
    int64_t diff = now_seconds - kCursorEpoch;
    int64_t q = diff / long_poll_timeout_s;
    if (diff > 0 && diff % long_poll_timeout_s != 0) ++q;  // ceil (truncation already ceils < 0)
    int64_t next = q * long_poll_timeout_s;
    int64_t cursor;
    if (parse_i64(request_cursor, cursor) && cursor >= next && cursor <= INT64_MAX - 3600)
        return cursor + 1 + int64_t(random % 3600);
    return next;
}

std::string make_etag(std::string_view handle, std::string_view request_offset, std::string_view response_offset,
                      std::string_view suffix) {
    std::string e;
    e.reserve(handle.size() + request_offset.size() + response_offset.size() + suffix.size() + 5);
    e += '"';
    e += handle;
    e += ':';
    e += request_offset;
    e += ':';
    e += response_offset;
    if (!suffix.empty()) {
        e += ':';
        e += suffix;
    }
    e += '"';
    return e;
}

bool if_none_match_matches(std::string_view if_none_match, std::string_view etag) {
    std::string_view want = strip_quotes(etag);
    bool found = false;
    split_commas(if_none_match, [&](std::string_view tag) {
        if (tag.size() >= 2 && (tag[0] == 'W' || tag[0] == 'w') && tag[1] == '/') tag.remove_prefix(2);
        tag = strip_quotes(trim(tag));
        if (!tag.empty() && tag == want) found = true;
    });
    return found;
}

CacheHeaders select_cache_control(const CacheInput &in, const CacheConfig &cfg) {
    CacheHeaders h;
    bool get_like = in.method == "GET" || in.method == "HEAD" || in.method == "OPTIONS";
    if (!get_like || in.subset) {
        h.cache_control = "no-cache";
    } else if (in.status == 409) {
        h.cache_control = in.has_handle ? "public, max-age=60, must-revalidate" : "public, max-age=1, must-revalidate";
    } else if (in.status >= 400) {
        h.cache_control = "no-store";
        h.surrogate_no_store = true;
    } else if (in.offset_before_all) {
        h.cache_control = "public, max-age=604800, s-maxage=3600, stale-while-revalidate=2629746";
    } else if (in.live && in.sse) {
        h.cache_control = "public, max-age=" + std::to_string(cfg.sse_timeout_s > 1 ? cfg.sse_timeout_s - 1 : 0);
    } else if (in.live) {
        h.cache_control = "public, max-age=5, stale-while-revalidate=5";
    } else {
        h.cache_control = "public, max-age=" + std::to_string(cfg.max_age) +
            ", stale-while-revalidate=" + std::to_string(cfg.stale_age);
    }
    return h;
}

std::vector<std::pair<std::string, std::string>> cors_headers() {
    return {
        {"access-control-allow-origin", "*"},
        {"access-control-expose-headers", std::string(kExposeHeaders)},
        {"access-control-allow-methods", std::string(kAllowMethods)},
    };
}

std::string preflight_allow_headers(std::string_view requested) {
    std::string out;
    split_commas(requested, [&](std::string_view h) {
        std::string lower(h);
        for (char &c : lower)
            if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
        if (lower == "authorization" || lower == "content-type" || lower == "if-none-match" ||
            lower == "oversync-source-id" || lower == "traceparent") {
            if (!out.empty()) out += ", ";
            out += lower;
        }
    });
    return out;
}

std::vector<std::pair<std::string, std::string>> preflight_headers(const std::string *requested) {
    auto h = cors_headers();
    if (requested) {
        std::string allowed = preflight_allow_headers(*requested);
        if (!allowed.empty()) h.emplace_back("access-control-allow-headers", allowed);
    }
    h.emplace_back("access-control-max-age", "86400");
    h.emplace_back("cache-control", "public, max-age=86400");
    h.emplace_back("vary", "Access-Control-Request-Headers");
    return h;
}

std::string message_body(std::string_view message) {
    std::string s = "{\"message\":";
    append_json_string(s, message);
    s += '}';
    return s;
}

std::string error_body(std::string_view error) {
    std::string s = "{\"error\":";
    append_json_string(s, error);
    s += '}';
    return s;
}

std::string invalid_request_body(const std::string &field, std::string message) {
    ValidationErrors e;
    e.add(field, std::move(message));
    return e.to_body();
}

std::string must_refetch_body() { return "[{\"headers\":{\"control\":\"must-refetch\"}}]"; }

std::string unauthorized_body() { return message_body("Unauthorized - Invalid API secret"); }

std::string shape_definition_mismatch_body() {
    return message_body(
        "The specified shape definition and handle do not match. Please ensure the shape definition is correct "
        "or omit the shape handle from the request to obtain a new one.");
}

std::string table_not_found_message(std::string_view schema, std::string_view table) {
    return "Table " + quote_qualified(schema, table) +
        " does not exist. If the table name contains capitals or special characters you must quote it.";
}

bool secret_equals(std::string_view a, std::string_view b) {
    size_t n = a.size() > b.size() ? a.size() : b.size();
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (size_t i = 0; i < n; ++i) {
        unsigned char x = i < a.size() ? (unsigned char)a[i] : 0;
        unsigned char y = i < b.size() ? (unsigned char)b[i] : 0;
        diff |= (unsigned char)(x ^ y);
    }
    return diff == 0;
}

std::string make_shape_handle(uint64_t definition_hash, int64_t unix_micros) {
    std::string h;
    append_uint(h, definition_hash);
    h += '-';
    append_int(h, unix_micros);
    return h;
}

uint64_t fnv1a64(std::string_view data) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : data) {
        h ^= c;
        h *= 0x100000001b3ULL;
    }
    return h;
}

std::string normalized_definition(std::string_view schema, std::string_view table, std::string_view where,
                                  const std::map<int, std::string> &params, const std::vector<std::string> &columns,
                                  Replica replica, LogMode log) {
    std::string s;
    append_lenpref(s, 's', schema);
    append_lenpref(s, 't', table);
    append_lenpref(s, 'w', where);
    for (auto &[k, v] : params) {
        s += 'p';
        append_uint(s, uint64_t(k));
        append_lenpref(s, '=', v);
    }
    for (auto &c : columns) append_lenpref(s, 'c', c);
    s += "r:";
    s += to_string(replica);
    s += "|l:";
    s += to_string(log);
    return s;
}

}  // namespace es::electric
