#include "core/oversync/request.hpp"
#include "core/common/json_limits.hpp"

#include <set>

namespace es::oversync {

using nlohmann::json;

std::string error_body(const std::string &code, const std::string &message, const json &extra) {
    nlohmann::ordered_json b;
    b["error"] = code;
    b["message"] = message;
    if (extra.is_object())
        for (auto it = extra.begin(); it != extra.end(); ++it) b[it.key()] = it.value();
    return b.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

bool valid_identifier(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
    return true;
}

bool is_canonical_uuid(std::string_view s) {
    if (s.size() != 36) return false;
    for (size_t i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

std::string lower(std::string_view s) {
    std::string o(s);
    for (auto &c : o)
        if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    return o;
}

std::string trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
        s.remove_suffix(1);
    return std::string(s);
}

static int hexv(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static std::string pct_decode(std::string_view s) {
    std::string o;
    for (size_t i = 0; i < s.size(); i++) {
        if (s[i] == '+')
            o += ' ';
        else if (s[i] == '%' && i + 2 < s.size() && hexv(s[i + 1]) >= 0 && hexv(s[i + 2]) >= 0) {
            o += char(hexv(s[i + 1]) * 16 + hexv(s[i + 2]));
            i += 2;
        } else
            o += s[i];
    }
    return o;
}

std::map<std::string, std::string> parse_query(std::string_view q) {
    std::map<std::string, std::string> m;
    while (!q.empty()) {
        size_t amp = q.find('&');
        std::string_view part = q.substr(0, amp);
        q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
        if (part.empty()) continue;
        size_t eq = part.find('=');
        std::string k = pct_decode(part.substr(0, eq));
        std::string v = eq == std::string_view::npos ? "" : pct_decode(part.substr(eq + 1));
        m.emplace(std::move(k), std::move(v));
    }
    return m;
}

std::optional<int64_t> parse_int64(std::string_view s) {
    if (s.empty() || s.size() > 20) return std::nullopt;
    size_t i = 0;
    bool neg = false;
    if (s[0] == '-' || s[0] == '+') {
        neg = s[0] == '-';
        i = 1;
    }
    if (i >= s.size()) return std::nullopt;
    __int128 v = 0;
    for (; i < s.size(); i++) {
        if (s[i] < '0' || s[i] > '9') return std::nullopt;
        v = v * 10 + (s[i] - '0');
        if (v > (__int128)INT64_MAX + 1) return std::nullopt;
    }
    if (neg) v = -v;
    if (v > INT64_MAX || v < INT64_MIN) return std::nullopt;
    return static_cast<int64_t>(v);
}

namespace {

// Bounded parse (json_limits): larger than kMaxBodyBytes -> 413, deeper than 64 levels or
// not JSON -> 400 with `code`.
json parse_body(std::string_view body, const char *code = "invalid_request") {
    auto r = json_limits::parse_bounded(body, {json_limits::kMaxDepth, kMaxBodyBytes});
    switch (r.status) {
    case json_limits::Status::Ok: return std::move(r.value);
    case json_limits::Status::TooLarge: throw ApiError(413, code, "request body too large");
    case json_limits::Status::TooDeep:
        throw ApiError(400, code,
                       "request body is nested more than " + std::to_string(json_limits::kMaxDepth) + " levels deep");
    default: throw ApiError(400, code, "request body is not valid JSON");
    }
}

json parse_object(std::string_view body, bool allow_empty) {
    if (allow_empty && trim(body).empty()) return json::object();
    json j = parse_body(body);
    if (!j.is_object()) throw ApiError(400, "invalid_request", "request body must be a JSON object");
    return j;
}

// An optional int64 member (Go int64 field: null = 0, non-integer = decode error).
int64_t int_member(const json &o, const char *name) {
    auto it = o.find(name);
    if (it == o.end() || it->is_null()) return 0;
    if (it->is_number_unsigned()) {  // (nlohmann: unsigned also counts as integer)
        uint64_t u = it->get<uint64_t>();
        if (u > uint64_t(INT64_MAX)) throw ApiError(400, "invalid_request", std::string(name) + " is out of range");
        return int64_t(u);
    }
    if (it->is_number_integer()) return it->get<int64_t>();
    throw ApiError(400, "invalid_request", std::string(name) + " must be an integer");
}

std::optional<std::string> string_member(const json &o, const char *name) {
    auto it = o.find(name);
    if (it == o.end() || it->is_null()) return std::nullopt;
    if (!it->is_string()) throw ApiError(400, "invalid_request", std::string(name) + " must be a string");
    return it->get<std::string>();
}

}  // namespace

ConnectRequest parse_connect(std::string_view body) {
    json o = parse_object(body, false);
    ConnectRequest r;
    auto it = o.find("has_local_pending_rows");
    if (it != o.end() && !it->is_null()) {
        if (!it->is_boolean()) throw ApiError(400, "invalid_request", "has_local_pending_rows must be a boolean");
        r.has_local_pending_rows = it->get<bool>();
    }
    return r;
}

PushCreateRequest parse_push_create(std::string_view body) {
    json o = parse_object(body, false);
    PushCreateRequest r;
    r.source_bundle_id = int_member(o, "source_bundle_id");
    r.planned_row_count = int_member(o, "planned_row_count");
    auto iid = string_member(o, "initialization_id");
    if (iid && !trim(*iid).empty()) r.initialization_id = trim(*iid);
    if (r.source_bundle_id <= 0) throw ApiError(400, "push_session_invalid", "source_bundle_id must be positive");
    if (r.planned_row_count <= 0) throw ApiError(400, "push_session_invalid", "planned_row_count must be positive");
    if (r.planned_row_count > 100000000) throw ApiError(400, "push_session_invalid", "planned_row_count is too large");
    return r;
}

PushChunkRequest parse_push_chunk(std::string_view body, int max_rows) {
    json o = parse_object(body, false);
    PushChunkRequest r;
    r.start_row_ordinal = int_member(o, "start_row_ordinal");
    auto rows = o.find("rows");
    if (rows != o.end() && !rows->is_null() && !rows->is_array())
        throw ApiError(400, "invalid_request", "rows must be an array");
    if (r.start_row_ordinal < 0) throw ApiError(400, "push_chunk_invalid", "start_row_ordinal must be >= 0");
    if (r.start_row_ordinal > 100000000) throw ApiError(400, "push_chunk_invalid", "start_row_ordinal is too large");
    if (rows == o.end() || rows->is_null() || rows->empty())
        throw ApiError(400, "push_chunk_invalid", "rows must not be empty");
    if (int64_t(rows->size()) > max_rows)
        throw ApiError(400, "push_chunk_invalid",
                       "chunk has " + std::to_string(rows->size()) + " rows, max is " + std::to_string(max_rows));
    r.rows = json::array();
    std::set<std::string> seen;
    int64_t i = r.start_row_ordinal;
    for (auto &row : *rows) {
        std::string at = "row " + std::to_string(i++) + ": ";
        if (!row.is_object()) throw ApiError(400, "invalid_request", at + "must be an object");
        auto schema = string_member(row, "schema");
        auto table = string_member(row, "table");
        auto op = string_member(row, "op");
        int64_t base = int_member(row, "base_row_version");
        std::string s = lower(trim(schema.value_or("")));
        if (s.empty()) s = "public";
        std::string t = lower(trim(table.value_or("")));
        if (!valid_identifier(s) || !valid_identifier(t))
            throw ApiError(400, "push_chunk_invalid", at + "invalid schema or table name");
        std::string opu;
        for (char c : trim(op.value_or(""))) opu += (c >= 'a' && c <= 'z') ? char(c - 'a' + 'A') : c;
        if (opu != "INSERT" && opu != "UPDATE" && opu != "DELETE")
            throw ApiError(400, "push_chunk_invalid", at + "op must be INSERT, UPDATE or DELETE");
        if (base < 0) throw ApiError(400, "push_chunk_invalid", at + "base_row_version must be >= 0");
        auto key = row.find("key");
        if (key == row.end() || !key->is_object() || key->empty())
            throw ApiError(400, "push_chunk_invalid", at + "key must be a non-empty object");
        json payload = row.contains("payload") ? row["payload"] : json();
        if (opu == "DELETE") {
            if (!payload.is_null()) throw ApiError(400, "push_chunk_invalid", at + "DELETE must not carry a payload");
        } else {
            if (!payload.is_object()) throw ApiError(400, "push_chunk_invalid", at + opu + " needs a payload object");
            for (auto it = payload.begin(); it != payload.end(); ++it) {
                if (it.key() == "_sync_scope_id")
                    throw ApiError(400, "push_chunk_invalid", at + "payload must not contain _sync_scope_id");
                if (!valid_identifier(it.key()))
                    throw ApiError(400, "push_chunk_invalid",
                                   at + "invalid payload column name " + json(it.key()).dump());
            }
        }
        std::string ident = s + "." + t + "\n" + key->dump();
        if (!seen.insert(ident).second)
            throw ApiError(400, "push_chunk_invalid", at + "duplicate row for " + s + "." + t + " " + key->dump());
        json n = {{"schema", s}, {"table", t}, {"key", *key}, {"op", opu}, {"base_row_version", base}};
        if (opu != "DELETE") n["payload"] = payload;
        r.rows.push_back(std::move(n));
    }
    return r;
}

SnapshotCreateRequest parse_snapshot_create(std::string_view body, const std::string &source_id) {
    SnapshotCreateRequest r;
    if (trim(body).empty()) return r;
    json o = parse_body(body, "snapshot_session_invalid");  // rejects trailing data
    if (!o.is_object()) throw ApiError(400, "snapshot_session_invalid", "request body must be a JSON object");
    for (auto it = o.begin(); it != o.end(); ++it)
        if (it.key() != "source_replacement")
            throw ApiError(400, "snapshot_session_invalid", "unknown field " + json(it.key()).dump());
    auto sr = o.find("source_replacement");
    if (sr == o.end() || sr->is_null()) return r;
    if (!sr->is_object()) throw ApiError(400, "snapshot_session_invalid", "source_replacement must be an object");
    static const std::set<std::string> fields = {"previous_source_id", "new_source_id", "reason"};
    for (auto it = sr->begin(); it != sr->end(); ++it) {
        if (!fields.count(it.key()))
            throw ApiError(400, "snapshot_session_invalid", "unknown field source_replacement." + it.key());
        if (!it->is_string())
            throw ApiError(400, "snapshot_session_invalid", "source_replacement." + it.key() + " must be a string");
    }
    std::string prev = trim(sr->value("previous_source_id", ""));
    std::string next = trim(sr->value("new_source_id", ""));
    std::string reason = trim(sr->value("reason", ""));
    if (prev != source_id)
        throw ApiError(400, "snapshot_session_invalid",
                       "source_replacement.previous_source_id must equal the Oversync-Source-ID header");
    if (next.empty()) throw ApiError(400, "snapshot_session_invalid", "source_replacement.new_source_id is required");
    if (next == prev)
        throw ApiError(400, "snapshot_session_invalid", "new_source_id must differ from previous_source_id");
    if (next.size() > 512) throw ApiError(400, "snapshot_session_invalid", "new_source_id is too long");
    static const std::set<std::string> reasons = {"history_pruned", "source_sequence_out_of_order",
                                                  "source_sequence_changed", "source_retired"};
    if (!reasons.count(reason)) throw ApiError(400, "snapshot_session_invalid", "invalid source_replacement.reason");
    r.source_replacement = {{"previous_source_id", prev}, {"new_source_id", next}, {"reason", reason}};
    return r;
}

}  // namespace es::oversync
