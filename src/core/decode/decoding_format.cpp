// Parser of the electric_sync output plugin format (docs/decoding-format.md).
#include "core/decode/decoding_format.hpp"

#include <limits>
#include <type_traits>

namespace es::decoding {

const char *to_string(RecordKind k) {
    switch (k) {
    case RecordKind::Begin: return "BEGIN";
    case RecordKind::Commit: return "COMMIT";
    case RecordKind::Relation: return "RELATION";
    case RecordKind::Insert: return "INSERT";
    case RecordKind::Update: return "UPDATE";
    case RecordKind::Delete: return "DELETE";
    case RecordKind::Truncate: return "TRUNCATE";
    case RecordKind::Message: return "MESSAGE";
    }
    return "?";
}

std::vector<size_t> RelationInfo::pk_columns() const {
    std::vector<size_t> out;
    int n = 0;
    for (const auto &c : columns)
        if (c.pk_position > n) n = c.pk_position;
    out.reserve(n);
    for (int p = 1; p <= n; p++)
        for (size_t i = 0; i < columns.size(); i++)
            if (columns[i].pk_position == p) out.push_back(i);
    return out;
}

int RelationInfo::column_index(std::string_view n) const {
    for (size_t i = 0; i < columns.size(); i++)
        if (columns[i].name == n) return static_cast<int>(i);
    return -1;
}

namespace {

// A cursor over one record. Fields are separated by exactly one space.
class Cursor {
public:
    explicit Cursor(std::string_view s) : s_(s) {}

    [[noreturn]] void fail(const char *what) const {
        std::string msg = "electric_sync decoding format: ";
        msg += what;
        msg += " at offset " + std::to_string(pos_) + " in record \"";
        msg += s_.substr(0, 80);
        if (s_.size() > 80) msg += "...";
        msg += "\"";
        throw ParseError(msg);
    }

    bool at_end() const { return pos_ >= s_.size(); }
    size_t remaining() const { return at_end() ? 0 : s_.size() - pos_; }
    char peek() const { return at_end() ? '\0' : s_[pos_]; }
    // Next field starts with a lowercase letter and is a key=value field.
    bool at_kv() const {
        if (at_end() || s_[pos_] < 'a' || s_[pos_] > 'z') return false;
        for (size_t i = pos_; i < s_.size() && s_[i] != ' '; i++)
            if (s_[i] == '=') return true;
        return false;
    }

    char kind() {
        if (s_.empty()) fail("empty record");
        char k = s_[0];
        pos_ = 1;
        return k;
    }

    // Consumes the separator before the next field.
    void sep() {
        if (at_end() || s_[pos_] != ' ') fail("expected a space");
        pos_++;
        if (at_end()) fail("expected a field after the space");
    }
    bool try_sep() {
        if (at_end()) return false;
        sep();
        return true;
    }
    void end() {
        if (!at_end()) fail("unexpected trailing data");
    }
    void field_end() const {
        if (!at_end() && s_[pos_] != ' ') fail("unexpected character after field");
    }

    std::string_view token() {
        size_t start = pos_;
        while (pos_ < s_.size() && s_[pos_] != ' ') pos_++;
        if (pos_ == start) fail("empty field");
        return s_.substr(start, pos_ - start);
    }

    template <typename T>
    static bool to_uint(std::string_view t, T &out) {
        if (t.empty() || t.size() > 20) return false;
        uint64_t v = 0;
        for (char c : t) {
            if (c < '0' || c > '9') return false;
            uint64_t d = static_cast<uint64_t>(c - '0');
            if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) return false;
            v = v * 10 + d;
        }
        if (v > std::numeric_limits<T>::max()) return false;
        out = static_cast<T>(v);
        return true;
    }
    template <typename T>
    static bool to_int(std::string_view t, T &out) {
        bool neg = !t.empty() && t[0] == '-';
        uint64_t mag;
        if (!to_uint<uint64_t>(neg ? t.substr(1) : t, mag)) return false;
        using U = std::make_unsigned_t<T>;
        if (neg) {
            if (mag > static_cast<uint64_t>(std::numeric_limits<T>::max()) + 1) return false;
            out = static_cast<T>(static_cast<U>(0) - static_cast<U>(mag));
        } else {
            if (mag > static_cast<uint64_t>(std::numeric_limits<T>::max())) return false;
            out = static_cast<T>(mag);
        }
        return true;
    }

    template <typename T>
    T uint() {
        T v;
        if (!to_uint(token(), v)) fail("expected an unsigned integer");
        return v;
    }
    template <typename T>
    T sint() {
        T v;
        if (!to_int(token(), v)) fail("expected an integer");
        return v;
    }
    bool flag() {
        std::string_view t = token();
        if (t == "t") return true;
        if (t == "f") return false;
        fail("expected t or f");
    }
    char ch() {
        std::string_view t = token();
        if (t.size() != 1) fail("expected a single character");
        return t[0];
    }

    // "<len>:<bytes>"
    std::string_view str() {
        size_t start = pos_;
        size_t len = 0;
        while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
            if (len > (s_.size() / 10) + 1) fail("string length too large");
            len = len * 10 + static_cast<size_t>(s_[pos_] - '0');
            pos_++;
        }
        if (pos_ == start || pos_ >= s_.size() || s_[pos_] != ':') fail("expected <len>:<bytes>");
        pos_++;
        if (len > s_.size() - pos_) fail("string runs past the end of the record");
        std::string_view v = s_.substr(pos_, len);
        pos_ += len;
        field_end();
        return v;
    }

    Value value() {
        char c = peek();
        if (c == 'n' || c == 'u' || c == '-') {
            pos_++;
            field_end();
            return Value{c == 'n'       ? Value::Kind::Null
                             : c == 'u' ? Value::Kind::UnchangedToast
                                        : Value::Kind::Absent,
                         {}};
        }
        return Value{Value::Kind::Text, str()};
    }

    // key=value; returns the key, sets `val`.
    std::string_view kv(std::string_view &val) {
        std::string_view t = token();
        size_t eq = t.find('=');
        if (eq == std::string_view::npos || eq == 0) fail("expected key=value");
        val = t.substr(eq + 1);
        return t.substr(0, eq);
    }

private:
    std::string_view s_;
    size_t pos_ = 0;
};

void parse_txn(Cursor &c, TxnInfo &t) {
    t = TxnInfo{};
    while (c.try_sep()) {
        std::string_view v;
        std::string_view k = c.kv(v);
        bool ok = true;
        if (k == "x") {
            uint32_t x = 0;
            ok = Cursor::to_uint(v, x);
            t.xid = x;
        } else if (k == "lsn") {
            uint64_t l = 0;
            ok = Cursor::to_uint(v, l);
            t.commit_lsn = l;
        } else if (k == "end") {
            uint64_t l = 0;
            ok = Cursor::to_uint(v, l);
            t.end_lsn = l;
        } else if (k == "t") {
            int64_t ts = 0;
            ok = Cursor::to_int(v, ts);
            t.commit_time_us = ts;
        }  // unknown keys are ignored (forward compatibility)
        if (!ok) c.fail("malformed number in BEGIN/COMMIT field");
    }
}

void parse_relation(Cursor &c, RelationInfo &r) {
    c.sep();
    r.oid = c.uint<uint32_t>();
    c.sep();
    r.schema = std::string(c.str());
    c.sep();
    r.name = std::string(c.str());
    c.sep();
    r.replica_identity = c.ch();
    c.sep();
    uint32_t n = c.uint<uint32_t>();
    if (n > 1664) c.fail("too many columns");
    // A column is 10 fields, each " <x>": at least 20 bytes. Check before sizing the vector
    // (a short record claiming 1664 columns made 1664 Column objects first).
    if (n > c.remaining() / 20) c.fail("column count exceeds the record");
    r.columns.resize(n);
    for (uint32_t i = 0; i < n; i++) {
        Column &col = r.columns[i];
        c.sep();
        col.name = std::string(c.str());
        c.sep();
        col.type_oid = c.uint<uint32_t>();
        c.sep();
        col.typmod = c.sint<int32_t>();
        c.sep();
        col.type_name = std::string(c.str());
        c.sep();
        col.type_kind = c.ch();
        c.sep();
        col.dims = c.sint<int>();
        c.sep();
        col.not_null = c.flag();
        c.sep();
        col.pk_position = c.sint<int>();
        c.sep();
        col.ident_position = c.sint<int>();
    }
    c.end();
}

void parse_tuple(Cursor &c, std::vector<Value> &vals) {
    c.sep();
    uint32_t n = c.uint<uint32_t>();
    if (n > 1664) c.fail("too many values");
    if (n > c.remaining() / 2) c.fail("value count exceeds the record");  // each value: " <v>"
    vals.resize(n);
    for (uint32_t i = 0; i < n; i++) {
        c.sep();
        vals[i] = c.value();
    }
}

void parse_change(Cursor &c, RecordKind kind, Change &ch) {
    c.sep();
    ch.relid = c.uint<uint32_t>();
    ch.has_new = false;
    ch.old_kind = OldKind::None;
    ch.new_values.clear();
    ch.old_values.clear();
    bool seen_new = false, seen_old = false;
    while (c.try_sep()) {
        char sec = c.ch();
        if (sec == 'N') {
            if (seen_new || kind == RecordKind::Delete) c.fail("unexpected new tuple");
            seen_new = true;
            ch.has_new = true;
            parse_tuple(c, ch.new_values);
        } else if (sec == 'K' || sec == 'O') {
            if (seen_old || seen_new || kind == RecordKind::Insert) c.fail("unexpected old tuple");
            seen_old = true;
            ch.old_kind = sec == 'K' ? OldKind::Key : OldKind::Full;
            parse_tuple(c, ch.old_values);
        } else {
            c.fail("expected tuple section N, K or O");
        }
    }
    if (kind != RecordKind::Delete && !seen_new) c.fail("INSERT/UPDATE without new tuple");
    for (const Value &v : ch.new_values)
        if (v.is_absent()) c.fail("absent value in new tuple");
    if (ch.old_kind == OldKind::Full)
        for (const Value &v : ch.old_values)
            if (v.is_absent()) c.fail("absent value in full old tuple");
}

void parse_truncate(Cursor &c, Truncate &t) {
    t.cascade = false;
    t.restart_identity = false;
    t.relids.clear();
    c.sep();
    while (c.at_kv()) {
        std::string_view v;
        std::string_view k = c.kv(v);
        if (k == "cascade" || k == "restart") {
            if (v != "t" && v != "f") c.fail("expected t or f");
            (k == "cascade" ? t.cascade : t.restart_identity) = v == "t";
        }
        c.sep();
    }
    uint32_t n = c.uint<uint32_t>();
    if (n == 0) c.fail("TRUNCATE without relations");
    // Each relation takes at least 2 bytes (" <oid>"): a count larger than the rest of the
    // record is malformed (and must not reserve up to 16 GiB first).
    if (n > c.remaining() / 2) c.fail("TRUNCATE relation count exceeds the record");
    t.relids.reserve(n);
    for (uint32_t i = 0; i < n; i++) {
        c.sep();
        t.relids.push_back(c.uint<uint32_t>());
    }
    c.end();
}

int hexval(char h) {
    if (h >= '0' && h <= '9') return h - '0';
    if (h >= 'a' && h <= 'f') return h - 'a' + 10;
    if (h >= 'A' && h <= 'F') return h - 'A' + 10;
    return -1;
}

void parse_message(Cursor &c, Message &m) {
    m = Message{};
    bool seen_trans = false;
    c.sep();
    while (c.at_kv()) {
        std::string_view v;
        std::string_view k = c.kv(v);
        if (k == "trans") {
            if (v != "t" && v != "f") c.fail("expected t or f");
            m.transactional = v == "t";
            seen_trans = true;
        } else if (k == "lsn") {
            uint64_t l;
            if (!Cursor::to_uint(v, l)) c.fail("malformed lsn");
            m.lsn = l;
        }
        c.sep();
    }
    if (!seen_trans) c.fail("MESSAGE without trans=");
    m.prefix = std::string(c.str());
    c.sep();
    if (c.peek() == 'x') {
        // "x<len>:<hex>"
        std::string_view t = c.token();
        size_t colon = t.find(':');
        size_t len;
        if (colon == std::string_view::npos || !Cursor::to_uint(t.substr(1, colon - 1), len) ||
            len > (t.size() - colon - 1) / 2 || t.size() - colon - 1 != len * 2)  // no len*2 wrap
            c.fail("malformed binary message content");
        m.content.resize(len);
        for (size_t i = 0; i < len; i++) {
            int hi = hexval(t[colon + 1 + 2 * i]), lo = hexval(t[colon + 2 + 2 * i]);
            if (hi < 0 || lo < 0) c.fail("malformed hex digit");
            m.content[i] = static_cast<char>(hi * 16 + lo);
        }
        m.binary = true;
    } else {
        m.content = std::string(c.str());
    }
    c.end();
}

}  // namespace

void parse_record(std::string_view text, Record &out) {
    Cursor c(text);
    char k = c.kind();
    switch (k) {
    case 'B':
    case 'C':
        out.kind = k == 'B' ? RecordKind::Begin : RecordKind::Commit;
        parse_txn(c, out.txn);
        break;
    case 'R':
        out.kind = RecordKind::Relation;
        parse_relation(c, out.relation);
        break;
    case 'I':
    case 'U':
    case 'D':
        out.kind = k == 'I' ? RecordKind::Insert : k == 'U' ? RecordKind::Update : RecordKind::Delete;
        parse_change(c, out.kind, out.change);
        break;
    case 'T':
        out.kind = RecordKind::Truncate;
        parse_truncate(c, out.truncate);
        break;
    case 'M':
        out.kind = RecordKind::Message;
        parse_message(c, out.message);
        break;
    default: c.fail("unknown record kind");
    }
}

Record parse_record(std::string_view text) {
    Record r;
    parse_record(text, r);
    return r;
}

// ---------------------------------------------------------------------------------------------

const RelationInfo *Decoder::relation(uint32_t oid) const {
    auto it = rels_.find(oid);
    return it == rels_.end() ? nullptr : &it->second;
}

const RelationInfo &Decoder::relation_of(const Change &c) const {
    const RelationInfo *r = relation(c.relid);
    if (r == nullptr)
        throw ParseError("electric_sync decoding format: change for relation " + std::to_string(c.relid) +
                         " that was not described");
    return *r;
}

void Decoder::reset() {
    rels_.clear();
    txn_ = TxnInfo{};
    in_txn_ = false;
    changes_ = 0;
    change_index_ = 0;
}

const Record &Decoder::feed(std::string_view text) {
    parse_record(text, rec_);
    auto framing = [&](const char *what) { throw ParseError(std::string("electric_sync decoding format: ") + what); };
    switch (rec_.kind) {
    case RecordKind::Begin:
        if (in_txn_) framing("BEGIN inside a transaction");
        in_txn_ = true;
        txn_ = rec_.txn;
        changes_ = 0;
        break;
    case RecordKind::Commit:
        if (!in_txn_) framing("COMMIT outside a transaction");
        in_txn_ = false;
        break;
    case RecordKind::Relation: rels_[rec_.relation.oid] = rec_.relation; break;
    case RecordKind::Insert:
    case RecordKind::Update:
    case RecordKind::Delete: {
        if (!in_txn_) framing("change outside a transaction");
        const RelationInfo &r = relation_of(rec_.change);
        size_t n = r.columns.size();
        if ((rec_.change.has_new && rec_.change.new_values.size() != n) ||
            (rec_.change.old_kind != OldKind::None && rec_.change.old_values.size() != n))
            framing("value count does not match the relation's columns");
        change_index_ = changes_++;
        break;
    }
    case RecordKind::Truncate:
        if (!in_txn_) framing("TRUNCATE outside a transaction");
        for (uint32_t oid : rec_.truncate.relids)
            if (relation(oid) == nullptr) framing("TRUNCATE of a relation that was not described");
        change_index_ = changes_++;
        break;
    case RecordKind::Message:
        if (rec_.message.transactional && !in_txn_) framing("transactional MESSAGE outside a transaction");
        break;
    }
    return rec_;
}

}  // namespace es::decoding
