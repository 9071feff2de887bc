// Hot-path JSON: string escaping, Electric keys, change/control messages, electric-schema.
#include "core/common/json_escape.hpp"
#include "core/electric/electric.hpp"

#include <cstring>

namespace es::electric {

namespace {

// Length of the valid UTF-8 sequence starting at p (RFC 3629, no overlongs/surrogates), or 0.
size_t utf8_seq_len(const unsigned char *p, size_t avail) {
    unsigned char c = p[0];
    auto cont = [&](size_t i, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
        return i < avail && p[i] >= lo && p[i] <= hi;
    };
    if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
    if (c == 0xE0) return cont(1, 0xA0) && cont(2) ? 3 : 0;
    if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) return cont(1) && cont(2) ? 3 : 0;
    if (c == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
    if (c == 0xF0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
    if (c >= 0xF1 && c <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
    if (c == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
    return 0;
}

void append_value_object(std::string &out, const ColumnValues &cols) {
    out += '{';
    bool first = true;
    for (auto &[name, value] : cols) {
        if (!first) out += ',';
        first = false;
        append_json_string(out, name);
        out += ':';
        if (value)
            append_json_string(out, *value);
        else
            out += "null";
    }
    out += '}';
}

void append_quoted_uint(std::string &out, uint64_t v) {
    out += '"';
    append_uint(out, v);
    out += '"';
}

void append_quoted_uint_list(std::string &out, const std::vector<uint64_t> &vs) {
    out += '[';
    for (size_t i = 0; i < vs.size(); ++i) {
        if (i) out += ',';
        append_quoted_uint(out, vs[i]);
    }
    out += ']';
}

// '/' -> '//' and '.' -> '..' (schema/table names in keys).
void append_key_name(std::string &out, std::string_view s) {
    out += '"';
    for (char c : s) {
        if (c == '/' || c == '.') out += c;
        out += c;
    }
    out += '"';
}

}  // namespace

void append_json_string(std::string &out, std::string_view s) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = reinterpret_cast<const unsigned char *>(s.data());
    const size_t n = s.size();
    out.reserve(out.size() + n + 2);
    out += '"';
    size_t run = 0;  // start of the pending run of bytes copied verbatim
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            ++i;
            continue;
        }
        if (c >= 0x80) {
            size_t len = utf8_seq_len(p + i, n - i);
            if (len) {
                i += len;
                continue;
            }
        }
        out.append(s.data() + run, i - run);
        if (const char *e = json_short_escape(c)) {
            out += e;
        } else if (c < 0x20) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
            out.append(esc, 6);
        } else {
            out += "\\ufffd";  // invalid UTF-8 byte
        }
        ++i;
        run = i;
    }
    out.append(s.data() + run, n - run);
    out += '"';
}

void append_uint(std::string &out, uint64_t v) {
    char buf[20];
    size_t len = 0;
    do {
        buf[len++] = char('0' + v % 10);
        v /= 10;
    } while (v);
    while (len) out += buf[--len];
}

void append_int(std::string &out, int64_t v) {
    if (v < 0) {
        out += '-';
        append_uint(out, uint64_t(0) - uint64_t(v));
    } else {
        append_uint(out, uint64_t(v));
    }
}

void append_key_prefix(std::string &out, std::string_view schema, std::string_view table) {
    append_key_name(out, schema);
    out += '.';
    append_key_name(out, table);
}

void append_key_part(std::string &out, std::optional<std::string_view> value) {
    out += '/';
    if (!value) {
        out += '_';
        return;
    }
    out += '"';
    for (char c : *value) {
        if (c == '/') out += '/';
        out += c;
    }
    out += '"';
}

std::string make_key(std::string_view schema, std::string_view table,
                     const std::vector<std::optional<std::string>> &pk_values) {
    std::string k;
    append_key_prefix(k, schema, table);
    for (auto &v : pk_values) append_key_part(k, v ? std::optional<std::string_view>(*v) : std::nullopt);
    return k;
}

const char *to_string(Operation op) {
    switch (op) {
    case Operation::Insert: return "insert";
    case Operation::Update: return "update";
    case Operation::Delete: return "delete";
    }
    return "insert";
}

void append_change_message(std::string &out, const ChangeMessage &m) {
    out += "{\"key\":";
    append_json_string(out, m.key);
    out += ",\"value\":";
    if (m.value)
        append_value_object(out, *m.value);
    else
        out += "{}";
    if (m.old_value) {
        out += ",\"old_value\":";
        append_value_object(out, *m.old_value);
    }
    out += ",\"headers\":{\"operation\":\"";
    out += to_string(m.op);
    out += "\",\"relation\":[";
    append_json_string(out, m.schema);
    out += ',';
    append_json_string(out, m.table);
    out += ']';
    if (m.snapshot_mark) {
        out += ",\"snapshot_mark\":";
        append_int(out, *m.snapshot_mark);
    }
    if (m.key_change_to) {
        out += ",\"key_change_to\":";
        append_json_string(out, *m.key_change_to);
    }
    if (m.key_change_from) {
        out += ",\"key_change_from\":";
        append_json_string(out, *m.key_change_from);
    }
    if (m.live) {
        out += ",\"lsn\":";
        append_quoted_uint(out, m.live->lsn);
        out += ",\"op_position\":";
        append_int(out, m.live->op_position);
        out += ",\"txids\":[";
        for (size_t i = 0; i < m.live->txids.size(); ++i) {
            if (i) out += ',';
            append_uint(out, m.live->txids[i]);
        }
        out += ']';
        if (m.live->last) out += ",\"last\":true";
    }
    out += "}}";
}

std::string change_message(const ChangeMessage &m) {
    std::string s;
    append_change_message(s, m);
    return s;
}

void append_up_to_date(std::string &out, uint64_t global_last_seen_lsn) {
    out += "{\"headers\":{\"control\":\"up-to-date\",\"global_last_seen_lsn\":";
    append_quoted_uint(out, global_last_seen_lsn);
    out += "}}";
}

void append_must_refetch(std::string &out) { out += "{\"headers\":{\"control\":\"must-refetch\"}}"; }

void append_snapshot_end(std::string &out, uint64_t xmin, uint64_t xmax, const std::vector<uint64_t> &xip_list) {
    out += "{\"headers\":{\"control\":\"snapshot-end\",\"xmin\":";
    append_quoted_uint(out, xmin);
    out += ",\"xmax\":";
    append_quoted_uint(out, xmax);
    out += ",\"xip_list\":";
    append_quoted_uint_list(out, xip_list);
    out += "}}";
}

void append_json_array(std::string &out, const std::vector<std::string> &entries) {
    size_t total = 2;
    for (auto &e : entries) total += e.size() + 1;
    out.reserve(out.size() + total);
    out += '[';
    for (size_t i = 0; i < entries.size(); ++i) {
        if (i) out += ',';
        out += entries[i];
    }
    out += ']';
}

std::string join_json_array(const std::vector<std::string> &entries) {
    std::string s;
    append_json_array(s, entries);
    return s;
}

void append_sse_event(std::string &out, std::string_view json) {
    out += "data: ";
    out += json;
    out += "\n\n";
}

std::string subset_response_body(uint64_t xmin, uint64_t xmax, const std::vector<uint64_t> &xip_list,
                                 int64_t snapshot_mark, uint64_t database_lsn,
                                 const std::vector<std::string> &entries) {
    std::string s = "{\"metadata\":{\"xmin\":";
    append_quoted_uint(s, xmin);
    s += ",\"xmax\":";
    append_quoted_uint(s, xmax);
    s += ",\"xip_list\":";
    append_quoted_uint_list(s, xip_list);
    s += ",\"snapshot_mark\":";
    append_int(s, snapshot_mark);
    s += ",\"database_lsn\":";
    append_quoted_uint(s, database_lsn);
    s += "},\"data\":";
    append_json_array(s, entries);
    s += '}';
    return s;
}

// ---- electric-schema (§12) ----

namespace {

std::optional<std::string> interval_fields(int32_t range) {
    constexpr int32_t MONTH = 1 << 1, YEAR = 1 << 2, DAY = 1 << 3, HOUR = 1 << 10, MINUTE = 1 << 11, SECOND = 1 << 12;
    switch (range) {
    case YEAR: return "YEAR";
    case MONTH: return "MONTH";
    case DAY: return "DAY";
    case HOUR: return "HOUR";
    case MINUTE: return "MINUTE";
    case SECOND: return "SECOND";
    case YEAR | MONTH: return "YEAR TO MONTH";
    case DAY | HOUR: return "DAY TO HOUR";
    case DAY | HOUR | MINUTE: return "DAY TO MINUTE";
    case DAY | HOUR | MINUTE | SECOND: return "DAY TO SECOND";
    case HOUR | MINUTE: return "HOUR TO MINUTE";
    case HOUR | MINUTE | SECOND: return "HOUR TO SECOND";
    case MINUTE | SECOND: return "MINUTE TO SECOND";
    default: return std::nullopt;
    }
}

}  // namespace

void apply_typmod(SchemaColumn &col, int32_t typmod) {
    if (typmod < 0) return;
    const std::string &t = col.type;
    if (t == "varchar") {
        col.max_length = int64_t(typmod) - 4;
    } else if (t == "bpchar") {
        col.length = int64_t(typmod) - 4;
    } else if (t == "bit" || t == "varbit") {
        col.length = typmod;
    } else if (t == "time" || t == "timetz" || t == "timestamp" || t == "timestamptz") {
        col.precision = typmod;
    } else if (t == "interval") {
        int32_t precision = typmod & 0xFFFF;
        int32_t range = (typmod >> 16) & 0x7FFF;
        if (precision != 0xFFFF) col.precision = precision;
        if (range != 0x7FFF) col.fields = interval_fields(range);
    } else if (t == "numeric") {
        int32_t tm = typmod - 4;
        col.precision = (tm >> 16) & 0xFFFF;
        col.scale = ((tm & 0x7FF) ^ 1024) - 1024;  // PG15+: scale may be negative
    } else {
        col.type_mod = typmod;
    }
}

std::string schema_header(const std::vector<SchemaColumn> &columns) {
    std::string s = "{";
    bool first = true;
    auto num = [&s](const char *key, const std::optional<int64_t> &v) {
        if (!v) return;
        s += ",\"";
        s += key;
        s += "\":";
        append_int(s, *v);
    };
    for (auto &c : columns) {
        if (!first) s += ',';
        first = false;
        append_json_string(s, c.name);
        s += ":{\"type\":";
        append_json_string(s, c.type);
        if (c.dims > 0) num("dims", c.dims);
        if (c.pk_index >= 0) num("pk_index", c.pk_index);
        if (c.not_null) s += ",\"not_null\":true";
        num("max_length", c.max_length);
        num("length", c.length);
        num("precision", c.precision);
        num("scale", c.scale);
        if (c.fields) {
            s += ",\"fields\":";
            append_json_string(s, *c.fields);
        }
        num("type_mod", c.type_mod);
        s += '}';
    }
    s += '}';
    return s;
}

}  // namespace es::electric
