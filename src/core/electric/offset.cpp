// Log offsets (§4.1): "-1", "<tx>_<op>", "<tx>_inf"; the request-only alias "now".
#include "core/electric/electric.hpp"

namespace es::electric {

namespace {

// Digits only, no sign, at most kMaxLogOffsetPart (INT64_MAX): LSNs and op positions are
// stored as bigint and a snapshot chunk number is incremented, so a larger part would wrap.
bool parse_u64(std::string_view s, uint64_t &out) {
    if (s.empty() || s.size() > 19) return false;
    uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        uint64_t d = uint64_t(c - '0');
        if (v > (kMaxLogOffsetPart - d) / 10) return false;
        v = v * 10 + d;
    }
    out = v;
    return true;
}

}  // namespace

void LogOffset::append_to(std::string &out) const {
    if (before_all) {
        out += "-1";
        return;
    }
    append_uint(out, tx);
    out += '_';
    if (op_inf)
        out += "inf";
    else
        append_uint(out, op);
}

std::string LogOffset::to_string() const {
    std::string s;
    append_to(s);
    return s;
}

int compare(const LogOffset &a, const LogOffset &b) {
    if (a.before_all || b.before_all) return a.before_all == b.before_all ? 0 : (a.before_all ? -1 : 1);
    if (a.tx != b.tx) return a.tx < b.tx ? -1 : 1;
    if (a.op_inf || b.op_inf) return a.op_inf == b.op_inf ? 0 : (a.op_inf ? 1 : -1);
    if (a.op != b.op) return a.op < b.op ? -1 : 1;
    return 0;
}

bool operator==(const LogOffset &a, const LogOffset &b) { return compare(a, b) == 0; }
bool operator!=(const LogOffset &a, const LogOffset &b) { return compare(a, b) != 0; }
bool operator<(const LogOffset &a, const LogOffset &b) { return compare(a, b) < 0; }
bool operator<=(const LogOffset &a, const LogOffset &b) { return compare(a, b) <= 0; }
bool operator>(const LogOffset &a, const LogOffset &b) { return compare(a, b) > 0; }
bool operator>=(const LogOffset &a, const LogOffset &b) { return compare(a, b) >= 0; }

std::optional<LogOffset> parse_log_offset(std::string_view s) {
    if (s == "-1") return LogOffset::make_before_all();
    auto us = s.find('_');
    if (us == std::string_view::npos) return std::nullopt;
    std::string_view tx_s = s.substr(0, us), op_s = s.substr(us + 1);
    LogOffset o;
    if (!parse_u64(tx_s, o.tx)) return std::nullopt;
    if (op_s == "inf")
        o.op_inf = true;
    else if (!parse_u64(op_s, o.op))
        return std::nullopt;
    return o;
}

std::optional<RequestOffset> parse_request_offset(std::string_view s) {
    RequestOffset r;
    if (s == "now") {
        r.kind = RequestOffset::Now;
        return r;
    }
    auto o = parse_log_offset(s);
    if (!o) return std::nullopt;
    r.offset = *o;
    r.kind = o->before_all ? RequestOffset::BeforeAll : RequestOffset::At;
    return r;
}

std::string RequestOffset::to_string() const {
    if (kind == Now) return "now";
    if (kind == BeforeAll) return "-1";
    return offset.to_string();
}

}  // namespace es::electric
