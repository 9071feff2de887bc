// The SyncKit server's pure rules: permissions, rate window, outgoing payloads, awareness and
// chunk reassembly (server.hpp).
#include "core/synckit/server.hpp"

#include <algorithm>

namespace es::synckit {

using json = nlohmann::json;

namespace {

std::string jstr(std::string_view s) { return json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace); }

constexpr size_t kMaxPatterns = 1000;
constexpr size_t kMaxPatternBytes = 256;

bool string_list(const json &obj, const char *name, std::vector<std::string> &out, std::string &error) {
    auto it = obj.find(name);
    if (it == obj.end() || it->is_null()) return true;
    if (!it->is_array()) {
        error = std::string("permissions.") + name + " must be an array of strings";
        return false;
    }
    if (it->size() > kMaxPatterns) {
        error = std::string("permissions.") + name + " has too many entries";
        return false;
    }
    for (auto &e : *it) {
        if (!e.is_string() || e.get_ref<const std::string &>().size() > kMaxPatternBytes) {
            error = std::string("permissions.") + name + " must hold strings of at most 256 bytes";
            return false;
        }
        out.push_back(e.get<std::string>());
    }
    return true;
}

bool any_matches(const std::vector<std::string> &patterns, std::string_view doc) {
    for (auto &p : patterns)
        if (pattern_matches(p, doc)) return true;
    return false;
}

}  // namespace

bool pattern_matches(std::string_view pattern, std::string_view doc) {
    if (pattern == "*") return true;
    if (!pattern.empty() && pattern.back() == '*') {
        auto prefix = pattern.substr(0, pattern.size() - 1);
        return doc.size() >= prefix.size() && doc.compare(0, prefix.size(), prefix) == 0;
    }
    return pattern == doc;
}

bool can_read(const Permissions &p, std::string_view doc) {
    return p.admin || any_matches(p.can_read, doc) || any_matches(p.can_write, doc);
}

bool can_write(const Permissions &p, std::string_view doc) { return p.admin || any_matches(p.can_write, doc); }

json permissions_json(const Permissions &p) {
    return json{{"canRead", p.can_read}, {"canWrite", p.can_write}, {"isAdmin", p.admin}};
}

Identity identity_from_claims(const json &claims) {
    Identity id;
    if (!claims.is_object()) {
        id.error = "the token's claims are not an object";
        return id;
    }
    for (const char *name : {"userId", "sub"}) {
        auto it = claims.find(name);
        if (it != claims.end() && it->is_string() && !it->get_ref<const std::string &>().empty()) {
            id.user_id = it->get<std::string>();
            break;
        }
    }
    if (id.user_id.empty()) {
        id.error = "the token has no userId (or sub)";
        return id;
    }
    if (id.user_id.size() > kMaxPatternBytes) {
        id.error = "the token's userId is longer than 256 bytes";
        return id;
    }
    auto p = claims.find("permissions");
    if (p != claims.end() && !p->is_null()) {
        if (!p->is_object()) {
            id.error = "permissions must be an object";
            return id;
        }
        if (!string_list(*p, "canRead", id.permissions.can_read, id.error)) return id;
        if (!string_list(*p, "canWrite", id.permissions.can_write, id.error)) return id;
        auto a = p->find("isAdmin");
        if (a != p->end() && !a->is_null()) {
            if (!a->is_boolean()) {
                id.error = "permissions.isAdmin must be a boolean";
                return id;
            }
            id.permissions.admin = a->get<bool>();
        }
    }
    id.ok = true;
    return id;
}

Identity anonymous_identity() {
    Identity id;
    id.ok = true;
    id.anonymous = true;
    id.user_id = "anonymous";
    id.permissions.can_read = {"*"};
    id.permissions.can_write = {"*"};
    return id;
}

bool client_id_orderable(std::string_view id) {
    // U+E000..U+FFFF are the three-byte sequences led by 0xEE or 0xEF; in valid UTF-8 those
    // bytes appear only as lead bytes.
    for (char ch : id) {
        unsigned char c = static_cast<unsigned char>(ch);
        if (c == 0xEE || c == 0xEF) return false;
    }
    return true;
}

uint64_t clock_max(const VectorClock &clock) {
    uint64_t m = 0;
    for (auto &[k, v] : clock) m = std::max(m, v);
    return m;
}

bool RateWindow::allow(int64_t now_ms) {
    if (limit_ == 0) return true;
    int64_t b = now_ms / 60000;
    if (b != bucket_) {
        prev_ = (b == bucket_ + 1) ? cur_ : 0;
        cur_ = 0;
        bucket_ = b;
    }
    // The part of the previous bucket still inside the last 60 s.
    double weight = 1.0 - static_cast<double>(now_ms % 60000) / 60000.0;
    double estimate = prev_ * weight + cur_ + 1;
    if (estimate > limit_) return false;
    cur_++;
    return true;
}

std::string delta_payload(std::string_view doc, const FieldState &f) {
    std::string out;
    out.reserve(160 + doc.size() + f.field.size() + f.value_json.size() + f.client_id.size());
    out += f.deleted ? "{\"type\":\"delete\",\"documentId\":" : "{\"type\":\"set\",\"documentId\":";
    out += jstr(doc);
    out += ",\"field\":";
    out += jstr(f.field);
    out += ",\"value\":";
    out += f.deleted ? std::string("{\"__deleted\":true}") : (f.value_json.empty() ? std::string("null") : f.value_json);
    out += ",\"clock\":{\"";
    out += kServerClockKey;
    out += "\":";
    out += std::to_string(f.counter);
    out += "},\"clientId\":";
    out += jstr(f.client_id);
    out += ",\"timestamp\":";
    out += std::to_string(f.ts);
    out += ",\"messageId\":\"srv-";
    out += std::to_string(f.counter);
    out += "\"}";
    return out;
}

std::string sync_response_payload(std::string_view doc, std::string_view request_id,
                                  const std::vector<FieldState> &fields, int64_t counter) {
    std::string out = "{\"documentId\":" + jstr(doc);
    if (!request_id.empty()) out += ",\"requestId\":" + jstr(request_id);
    out += ",\"state\":{";
    bool first = true;
    for (auto &f : fields) {
        if (f.deleted) continue;
        if (!first) out += ',';
        first = false;
        out += jstr(f.field);
        out += ':';
        out += f.value_json.empty() ? std::string("null") : f.value_json;
    }
    out += "},\"clock\":{\"";
    out += kServerClockKey;
    out += "\":" + std::to_string(counter) + "},\"deltas\":[]}";
    return out;
}

std::string ack_payload(std::string_view message_id, std::optional<size_t> count, std::string_view chunk_id) {
    std::string out = "{\"messageId\":" + jstr(message_id);
    if (count) out += ",\"count\":" + std::to_string(*count);
    if (!chunk_id.empty()) out += ",\"chunkId\":" + jstr(chunk_id);
    out += '}';
    return out;
}

std::string auth_success_payload(const Identity &id) {
    return json{{"userId", id.user_id}, {"permissions", permissions_json(id.permissions)}}.dump(
        -1, ' ', false, json::error_handler_t::replace);
}

std::string request_id_of(const json &payload) {
    if (!payload.is_object()) return {};
    for (const char *name : {"requestId", "id"}) {
        auto it = payload.find(name);
        if (it != payload.end() && it->is_string() && it->get_ref<const std::string &>().size() <= 256)
            return it->get<std::string>();
    }
    return {};
}

// ---------------------------------------------------------------------------------------------
// Awareness
// ---------------------------------------------------------------------------------------------

namespace {
std::string awareness_update_payload(std::string_view doc, std::string_view client, std::string_view state_json,
                                     uint64_t clock) {
    std::string out = "{\"documentId\":" + jstr(doc) + ",\"clientId\":" + jstr(client) + ",\"state\":";
    out += state_json.empty() ? std::string_view("null") : state_json;
    out += ",\"clock\":" + std::to_string(clock) + "}";
    return out;
}
}  // namespace

std::string AwarenessStore::update(const AwarenessUpdate &u, uint64_t owner, int64_t now_ms, int64_t ttl_ms) {
    {
        auto d = docs_.find(u.document_id);
        if (d != docs_.end()) {
            auto e = d->second.find(u.client_id);
            if (e != d->second.end() && e->second.owner != owner && e->second.expires_ms > now_ms) return {};
        }
    }
    if (u.state.is_null()) {
        auto d = docs_.find(u.document_id);
        if (d != docs_.end()) {
            d->second.erase(u.client_id);
            if (d->second.empty()) docs_.erase(d);
        }
        return awareness_update_payload(u.document_id, u.client_id, "", u.clock);
    }
    std::string state = u.state.dump(-1, ' ', false, json::error_handler_t::replace);
    auto &doc = docs_[u.document_id];
    if (doc.size() >= kMaxPerDocument && doc.find(u.client_id) == doc.end()) {
        // The entry closest to expiry makes room.
        auto oldest = std::min_element(doc.begin(), doc.end(), [](auto &a, auto &b) {
            return a.second.expires_ms < b.second.expires_ms;
        });
        doc.erase(oldest);
    }
    auto &e = doc[u.client_id];
    e.state_json = state;
    e.clock = u.clock;
    e.expires_ms = now_ms + ttl_ms;
    e.owner = owner;
    return awareness_update_payload(u.document_id, u.client_id, state, u.clock);
}

std::string AwarenessStore::state_payload(std::string_view document_id) const {
    std::string out = "{\"documentId\":" + jstr(document_id) + ",\"states\":[";
    auto d = docs_.find(std::string(document_id));
    bool first = true;
    if (d != docs_.end())
        for (auto &[client, e] : d->second) {
            if (!first) out += ',';
            first = false;
            out += "{\"clientId\":" + jstr(client) + ",\"state\":" + e.state_json + ",\"clock\":" +
                std::to_string(e.clock) + "}";
        }
    out += "]}";
    return out;
}

std::vector<std::pair<std::string, std::string>> AwarenessStore::expire(int64_t now_ms) {
    std::vector<std::pair<std::string, std::string>> out;
    for (auto d = docs_.begin(); d != docs_.end();) {
        for (auto e = d->second.begin(); e != d->second.end();) {
            if (e->second.expires_ms <= now_ms) {
                out.emplace_back(d->first, awareness_update_payload(d->first, e->first, "", e->second.clock));
                e = d->second.erase(e);
            } else {
                ++e;
            }
        }
        d = d->second.empty() ? docs_.erase(d) : std::next(d);
    }
    return out;
}

std::vector<std::pair<std::string, std::string>> AwarenessStore::drop_owner(uint64_t owner) {
    std::vector<std::pair<std::string, std::string>> out;
    for (auto d = docs_.begin(); d != docs_.end();) {
        for (auto e = d->second.begin(); e != d->second.end();) {
            if (e->second.owner == owner) {
                out.emplace_back(d->first, awareness_update_payload(d->first, e->first, "", e->second.clock));
                e = d->second.erase(e);
            } else {
                ++e;
            }
        }
        d = d->second.empty() ? docs_.erase(d) : std::next(d);
    }
    return out;
}

size_t AwarenessStore::size() const {
    size_t n = 0;
    for (auto &[k, d] : docs_) n += d.size();
    return n;
}

// ---------------------------------------------------------------------------------------------
// Chunks
// ---------------------------------------------------------------------------------------------

bool base64_decode(std::string_view in, std::string &out) {
    auto val = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == '/') return 63;
        return -1;
    };
    out.clear();
    if (in.size() % 4 != 0) return false;
    out.reserve(in.size() / 4 * 3);
    for (size_t i = 0; i < in.size(); i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            char c = in[i + k];
            if (c == '=') {
                if (i + 4 != in.size() || k < 2) return false;
                pad++;
                v[k] = 0;
            } else {
                if (pad) return false;
                v[k] = val(c);
                if (v[k] < 0) return false;
            }
        }
        uint32_t n = (uint32_t(v[0]) << 18) | (uint32_t(v[1]) << 12) | (uint32_t(v[2]) << 6) | uint32_t(v[3]);
        out += static_cast<char>((n >> 16) & 0xFF);
        if (pad < 2) out += static_cast<char>((n >> 8) & 0xFF);
        if (pad < 1) out += static_cast<char>(n & 0xFF);
    }
    return true;
}

ChunkAssembler::Result ChunkAssembler::add(const DeltaBatchChunk &c, int64_t now_ms) {
    Result r;
    for (auto it = sets_.begin(); it != sets_.end();)
        it = (now_ms - it->second.started_ms > kTtlMs) ? sets_.erase(it) : std::next(it);
    auto it = sets_.find(c.chunk_id);
    if (it == sets_.end()) {
        if (sets_.size() >= kMaxSets) {
            r.error = "too many chunked batches in progress on this connection";
            return r;
        }
        it = sets_.emplace(c.chunk_id, Set{}).first;
        it->second.total = c.total_chunks;
        it->second.started_ms = now_ms;
    }
    Set &s = it->second;
    if (s.total != c.total_chunks) {
        sets_.erase(it);
        r.error = "totalChunks differs from an earlier chunk of this chunkId";
        return r;
    }
    std::string bytes;
    if (!base64_decode(c.data, bytes)) {
        sets_.erase(it);
        r.error = "data is not base64";
        return r;
    }
    auto old = s.pieces.find(c.chunk_index);
    if (old != s.pieces.end()) s.bytes -= old->second.size();
    s.bytes += bytes.size();
    if (s.bytes > max_total_) {
        sets_.erase(it);
        r.error = "the chunked batch is larger than the limit";
        return r;
    }
    s.pieces[c.chunk_index] = std::move(bytes);
    if (s.pieces.size() == s.total) {
        r.complete = true;
        r.bytes.reserve(s.bytes);
        for (auto &[i, p] : s.pieces) r.bytes += p;
        sets_.erase(it);
    }
    return r;
}

}  // namespace es::synckit
