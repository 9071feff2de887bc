// Query strings, ShapeRequest parsing/validation and the 400 error map (§2, §6.3, §9).
#include "core/electric/electric.hpp"
#include "core/common/json_limits.hpp"
#include "core/common/utf8.hpp"

#include <nlohmann/json.hpp>

namespace es::electric {

namespace {

int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool is_blank(std::string_view s) {
    for (char c : s)
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v') return false;
    return true;
}

// Value of key unless absent or blank (Ecto treats "" / whitespace as "not given").
std::optional<std::string> nonblank(const QueryParams &q, std::string_view key) {
    const std::string *v = find_param(q, key);
    if (!v || is_blank(*v)) return std::nullopt;
    return *v;
}

void append_message_list(std::string &out, const std::vector<std::string> &msgs) {
    out += '[';
    for (size_t i = 0; i < msgs.size(); ++i) {
        if (i) out += ',';
        append_json_string(out, msgs[i]);
    }
    out += ']';
}

// Ecto :integer cast of a string: optional sign, digits, whole string.
std::optional<int64_t> cast_integer(std::string_view s) {
    bool neg = false;
    if (!s.empty() && (s.front() == '-' || s.front() == '+')) {
        neg = s.front() == '-';
        s.remove_prefix(1);
    }
    if (s.empty() || s.size() > 18) return std::nullopt;
    int64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + (c - '0');
    }
    return neg ? -v : v;
}

std::string json_scalar_to_string(const nlohmann::json &v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_null()) return "";
    return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Text that reaches Postgres or a JSON encoder must be valid UTF-8 without NUL bytes
// (nlohmann's dump throws type_error 316 on invalid UTF-8; libpq cuts a value at a NUL).
std::optional<std::string> text_error(std::string_view v) {
    if (!utf8::valid(v)) return std::string("must be valid UTF-8");
    if (utf8::has_nul(v)) return std::string("must not contain NUL bytes");
    return std::nullopt;
}

void validate_subset(const QueryParams &q, ShapeRequest &out, ValidationErrors &errs) {
    constexpr std::string_view prefix = "subset__";
    for (auto &kv : q)
        if (kv.first.compare(0, prefix.size(), prefix) == 0) out.subset.present = true;
    if (!out.subset.present) return;
    SubsetRequest &s = out.subset;
    bool bad_text = false;
    for (const char *key : {"where", "order_by", "params", "limit", "offset"}) {
        const std::string *v = find_param(q, std::string("subset__") + key);
        if (!v) continue;
        if (auto err = text_error(*v)) {
            errs.add_subset(key, *err);
            bad_text = true;
        }
    }
    if (bad_text) return;
    s.where = nonblank(q, "subset__where");
    s.order_by = nonblank(q, "subset__order_by");
    bool limit_changed = false, offset_changed = false;
    if (auto raw = nonblank(q, "subset__limit")) {
        if (auto v = cast_integer(*raw)) {
            s.limit = *v;
            limit_changed = true;
            if (*v <= 0) errs.add_subset("limit", "must be greater than 0");
        } else {
            errs.add_subset("limit", "is invalid");
        }
    }
    if (auto raw = nonblank(q, "subset__offset")) {
        if (auto v = cast_integer(*raw)) {
            s.offset = *v;
            offset_changed = true;
            if (*v < 0) errs.add_subset("offset", "must be greater than or equal to 0");
        } else {
            errs.add_subset("offset", "is invalid");
        }
    }
    std::optional<std::string> params_err;
    if (auto raw = nonblank(q, "subset__params")) params_err = parse_params_json(*raw, s.params);
    if ((limit_changed || offset_changed) && !s.order_by)
        errs.add_subset("order_by", "order_by is required when limit or offset is present");
    if (params_err) errs.add_subset("params", *params_err);
}

}  // namespace

std::string percent_decode(std::string_view s, bool plus_as_space) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '%' && i + 2 < s.size()) {
            int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
            if (h >= 0 && l >= 0) {
                out += char(h * 16 + l);
                i += 2;
                continue;
            }
        }
        out += (c == '+' && plus_as_space) ? ' ' : c;
    }
    return out;
}

QueryParams parse_query(std::string_view query) {
    QueryParams out;
    size_t start = 0;
    while (start <= query.size()) {
        size_t amp = query.find('&', start);
        if (amp == std::string_view::npos) amp = query.size();
        std::string_view item = query.substr(start, amp - start);
        if (!item.empty()) {
            size_t eq = item.find('=');
            if (eq == std::string_view::npos)
                out.emplace_back(percent_decode(item), std::string());
            else
                out.emplace_back(percent_decode(item.substr(0, eq)), percent_decode(item.substr(eq + 1)));
        }
        start = amp + 1;
    }
    return out;
}

const std::string *find_param(const QueryParams &q, std::string_view key) {
    const std::string *found = nullptr;
    for (auto &kv : q)
        if (kv.first == key) found = &kv.second;
    return found;
}

std::string ValidationErrors::to_body() const {
    std::map<std::string, std::string> encoded;  // sorted field -> encoded value
    for (auto &[field, msgs] : fields) append_message_list(encoded[field], msgs);
    if (!subset.empty()) {
        std::string &s = encoded["subset"];
        s.clear();
        s += '{';
        bool first = true;
        for (auto &[field, msgs] : subset) {
            if (!first) s += ',';
            first = false;
            append_json_string(s, field);
            s += ':';
            append_message_list(s, msgs);
        }
        s += '}';
    }
    std::string out = "{\"message\":\"Invalid request\",\"errors\":{";
    bool first = true;
    for (auto &[field, value] : encoded) {
        if (!first) out += ',';
        first = false;
        append_json_string(out, field);
        out += ':';
        out += value;
    }
    out += "}}";
    return out;
}

const char *to_string(Replica r) { return r == Replica::Full ? "full" : "default"; }
const char *to_string(LogMode m) { return m == LogMode::ChangesOnly ? "changes_only" : "full"; }

std::optional<std::string> number_params(const std::vector<std::pair<std::string, std::string>> &raw,
                                         std::map<int, std::string> &out) {
    std::map<int, std::string> m;
    for (auto &[k, v] : raw) {
        if (k.empty() || k.size() > 9) return std::string("Parameter keys must be positive integers");
        int n = 0;
        for (char c : k) {
            if (c < '0' || c > '9') return std::string("Parameter keys must be positive integers");
            n = n * 10 + (c - '0');
        }
        m[n] = v;  // repeated key: last wins
    }
    int expect = 1;
    for (auto &kv : m)
        if (kv.first != expect++) return std::string("Parameters must be numbered sequentially, starting from 1");
    out = std::move(m);
    return std::nullopt;
}

std::optional<std::string> parse_params_json(std::string_view json, std::map<int, std::string> &out) {
    auto parsed = json_limits::parse_bounded(json, {json_limits::kMaxDepth, kMaxSubsetBodyBytes});
    if (parsed.status == json_limits::Status::TooDeep)
        return "params JSON is nested more than " + std::to_string(json_limits::kMaxDepth) + " levels deep";
    if (parsed.status == json_limits::Status::TooLarge)
        return "params JSON is larger than " + std::to_string(kMaxSubsetBodyBytes) + " bytes";
    if (!parsed.ok()) return std::string("params must be valid JSON");
    const nlohmann::json &doc = parsed.value;
    if (!doc.is_object()) return std::string("params must be a JSON object");
    std::vector<std::pair<std::string, std::string>> raw;
    for (auto it = doc.begin(); it != doc.end(); ++it) raw.emplace_back(it.key(), json_scalar_to_string(it.value()));
    return number_params(raw, out);
}

ValidationErrors parse_shape_request(const QueryParams &q, ShapeRequest &out) {
    ValidationErrors errs;

    // ---- plain values (never errors) ----
    out.table = nonblank(q, "table");
    out.where = nonblank(q, "where");
    out.handle = nonblank(q, "handle");
    if (auto *c = find_param(q, "cursor")) out.cursor = *c;
    if (auto *s = find_param(q, "secret"))
        out.secret = *s;
    else if (auto *s2 = find_param(q, "api_secret"))
        out.secret = *s2;
    if (auto *l = find_param(q, "live")) out.live = *l != "false";
    if (auto *s = find_param(q, "live_sse"))
        out.live_sse = *s != "false";
    else if (auto *s2 = find_param(q, "experimental_live_sse"))
        out.live_sse = *s2 != "false";

    // ---- stage 1: casts (and text checks: values sent to Postgres or into JSON) ----
    for (const char *key : {"table", "where", "handle", "cursor", "replica", "log"}) {
        if (const std::string *v = find_param(q, key))
            if (auto err = text_error(*v)) errs.add(key, *err);
    }
    if (auto r = nonblank(q, "replica")) {
        if (*r == "default")
            out.replica = Replica::Default;
        else if (*r == "full")
            out.replica = Replica::Full;
        else
            errs.add("replica", "is invalid");
    }
    if (auto l = nonblank(q, "log")) {
        if (*l == "full")
            out.log = LogMode::Full;
        else if (*l == "changes_only")
            out.log = LogMode::ChangesOnly;
        else
            errs.add("log", "is invalid");
    }
    std::vector<std::pair<std::string, std::string>> raw_params;
    bool params_invalid = false;
    for (auto &[k, v] : q) {
        if (k.size() > 8 && k.compare(0, 7, "params[") == 0 && k.back() == ']') {
            std::string inner = k.substr(7, k.size() - 8);
            if (inner.empty() || inner.find_first_of("[]") != std::string::npos)
                params_invalid = true;
            else
                raw_params.emplace_back(std::move(inner), v);
        } else if (k == "params[]") {
            params_invalid = true;
        }
    }
    if (raw_params.empty() && nonblank(q, "params")) params_invalid = true;
    if (params_invalid) errs.add("params", "is invalid");
    for (auto &[k, v] : raw_params) {
        if (auto err = text_error(v)) {
            errs.add("params", *err);
            break;
        }
    }
    if (auto *c = find_param(q, "columns")) {
        out.columns_raw = *c;
        if (auto err = text_error(*c))
            errs.add("columns", *err);
        else if (auto err2 = parse_columns(*c, out.columns))
            errs.add("columns", *err2);
    }
    auto offset_raw = nonblank(q, "offset");
    if (!offset_raw) errs.add("offset", "can't be blank");
    if (!errs.empty()) return errs;

    // ---- stage 2: offset format ----
    auto off = parse_request_offset(*offset_raw);
    if (!off) {
        errs.add("offset", "has invalid format");
        return errs;
    }
    out.offset = *off;

    // ---- stage 3: handle ----
    if (out.offset.kind != RequestOffset::At)
        out.handle.reset();
    else if (!out.handle)
        errs.add("handle", "can't be blank when offset != -1");
    if (!errs.empty()) return errs;

    // ---- stage 4/5: live ----
    if (out.live && out.offset.is_before_all()) errs.add("live", "can't be true when offset == -1");
    if (out.live && out.offset.is_now()) errs.add("live", "can't be true when offset is 'now'");
    if (!errs.empty()) return errs;
    if (out.live_sse && !out.live) {
        errs.add("live_sse", "can't be true unless live is also true");
        return errs;
    }

    // ---- stage 6: shape definition ----
    if (!out.table) {
        errs.add("table", "can't be blank");
        return errs;
    }
    QualifiedName qn;
    if (auto err = parse_table(*out.table, qn)) {
        errs.add("table", *err);
        return errs;
    }
    out.table_schema = std::move(qn.schema);
    out.table_name = std::move(qn.name);
    if (auto err = number_params(raw_params, out.params)) {
        errs.add("params", *err);
        return errs;
    }

    // ---- stage 7: subset ----
    validate_subset(q, out, errs);
    return errs;
}

bool merge_subset_body(std::string_view body, QueryParams &q, std::string &error_body) {
    int status = 400;
    return merge_subset_body(body, q, error_body, status);
}

bool merge_subset_body(std::string_view body, QueryParams &q, std::string &error_body, int &error_status) {
    error_status = 400;
    if (is_blank(body)) return true;
    auto parsed = json_limits::parse_bounded(body, {json_limits::kMaxDepth, kMaxSubsetBodyBytes});
    if (parsed.status == json_limits::Status::TooLarge) {
        error_status = 413;
        error_body = "{\"error\":\"Request body too large\",\"details\":";
        append_json_string(error_body, parsed.message);
        error_body += '}';
        return false;
    }
    if (!parsed.ok()) {
        error_body = "{\"error\":\"Invalid JSON in request body\",\"details\":";
        append_json_string(error_body, parsed.message);
        error_body += '}';
        return false;
    }
    const nlohmann::json &doc = parsed.value;
    if (!doc.is_object()) {
        error_body = "{\"error\":\"Request body must be a JSON object\"}";
        return false;
    }
    const nlohmann::json *src = &doc;
    auto sub = doc.find("subset");
    if (sub != doc.end() && sub->is_object()) src = &*sub;
    static const char *const keys[] = {"where", "params", "limit", "offset", "order_by", "where_expr", "order_by_expr"};
    for (const char *key : keys) {
        auto it = src->find(key);
        if (it == src->end() || it->is_null()) continue;
        std::string name = std::string("subset__") + key;
        std::string value = it->is_string() ? it->get<std::string>()
                                            : it->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        QueryParams kept;
        kept.reserve(q.size() + 1);
        for (auto &kv : q)
            if (kv.first != name) kept.push_back(std::move(kv));
        kept.emplace_back(std::move(name), std::move(value));
        q = std::move(kept);
    }
    return true;
}

}  // namespace es::electric
