#include "core/oversync/canonical.hpp"

#include "core/common/json_escape.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

namespace es::oversync {

namespace {

const char kHex[] = "0123456789abcdef";

// Decodes one UTF-8 sequence at s[i]. Returns the code point and its length; an invalid
// sequence gives (0xFFFD, 1) like Go's utf8.DecodeRuneInString.
std::pair<uint32_t, size_t> decode_rune(std::string_view s, size_t i) {
    unsigned char c0 = s[i];
    if (c0 < 0x80) return {c0, 1};
    size_t n = s.size() - i;
    auto cont = [&](size_t k) { return k < n && (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80; };
    if (c0 >= 0xC2 && c0 <= 0xDF) {
        if (cont(1)) return {((c0 & 0x1Fu) << 6) | (s[i + 1] & 0x3Fu), 2};
    } else if (c0 >= 0xE0 && c0 <= 0xEF) {
        if (cont(1) && cont(2)) {
            unsigned char c1 = s[i + 1];
            if ((c0 == 0xE0 && c1 < 0xA0) || (c0 == 0xED && c1 > 0x9F)) return {0xFFFD, 1};
            return {((c0 & 0x0Fu) << 12) | ((c1 & 0x3Fu) << 6) | (s[i + 2] & 0x3Fu), 3};
        }
    } else if (c0 >= 0xF0 && c0 <= 0xF4) {
        if (cont(1) && cont(2) && cont(3)) {
            unsigned char c1 = s[i + 1];
            if ((c0 == 0xF0 && c1 < 0x90) || (c0 == 0xF4 && c1 > 0x8F)) return {0xFFFD, 1};
            return {((c0 & 0x07u) << 18) | ((c1 & 0x3Fu) << 12) | ((s[i + 2] & 0x3Fu) << 6) | (s[i + 3] & 0x3Fu), 4};
        }
    }
    return {0xFFFD, 1};
}

void append_utf8(std::string &out, uint32_t cp) {
    if (cp < 0x80) {
        out += char(cp);
    } else if (cp < 0x800) {
        out += char(0xC0 | (cp >> 6));
        out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += char(0xE0 | (cp >> 12));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    } else {
        out += char(0xF0 | (cp >> 18));
        out += char(0x80 | ((cp >> 12) & 0x3F));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    }
}

// Generic JSON value (Go's interface{} after Unmarshal).
struct Value {
    enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
    bool b = false;
    double num = 0;
    bool num_overflow = false;  // keep `text` as written
    std::string text;  // string value, or number literal
    std::vector<Value> arr;
    std::map<std::string, Value> obj;  // bytewise key order (char_traits<char> compares unsigned)
};

class Parser {
public:
    explicit Parser(std::string_view s) : s_(s) {}

    Value parse_document() {
        Value v = parse_value(0);
        skip_ws();
        if (pos_ != s_.size()) fail("trailing data");
        return v;
    }

private:
    std::string_view s_;
    size_t pos_ = 0;

    [[noreturn]] void fail(const char *what) {
        throw JsonSyntaxError(std::string("invalid JSON: ") + what + " at offset " + std::to_string(pos_));
    }
    void skip_ws() {
        while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
            pos_++;
    }
    bool lit(std::string_view w) {
        if (s_.substr(pos_, w.size()) == w) {
            pos_ += w.size();
            return true;
        }
        return false;
    }

    Value parse_value(int depth) {
        if (depth > 1000) fail("exceeded max depth");  // Go allows 10000; we keep stacks small
        skip_ws();
        if (pos_ >= s_.size()) fail("unexpected end");
        Value v;
        char c = s_[pos_];
        if (c == '{') {
            pos_++;
            v.kind = Value::Object;
            skip_ws();
            if (pos_ < s_.size() && s_[pos_] == '}') {
                pos_++;
                return v;
            }
            for (;;) {
                skip_ws();
                if (pos_ >= s_.size() || s_[pos_] != '"') fail("expected object key");
                std::string key = parse_string();
                skip_ws();
                if (pos_ >= s_.size() || s_[pos_] != ':') fail("expected ':'");
                pos_++;
                v.obj[key] = parse_value(depth + 1);  // duplicate keys: last wins (Go map)
                skip_ws();
                if (pos_ < s_.size() && s_[pos_] == ',') {
                    pos_++;
                    continue;
                }
                if (pos_ < s_.size() && s_[pos_] == '}') {
                    pos_++;
                    return v;
                }
                fail("expected ',' or '}'");
            }
        }
        if (c == '[') {
            pos_++;
            v.kind = Value::Array;
            skip_ws();
            if (pos_ < s_.size() && s_[pos_] == ']') {
                pos_++;
                return v;
            }
            for (;;) {
                v.arr.push_back(parse_value(depth + 1));
                skip_ws();
                if (pos_ < s_.size() && s_[pos_] == ',') {
                    pos_++;
                    continue;
                }
                if (pos_ < s_.size() && s_[pos_] == ']') {
                    pos_++;
                    return v;
                }
                fail("expected ',' or ']'");
            }
        }
        if (c == '"') {
            v.kind = Value::String;
            v.text = parse_string();
            return v;
        }
        if (lit("true")) {
            v.kind = Value::Bool;
            v.b = true;
            return v;
        }
        if (lit("false")) {
            v.kind = Value::Bool;
            return v;
        }
        if (lit("null")) return v;
        if (c == '-' || (c >= '0' && c <= '9')) return parse_number();
        fail("unexpected character");
    }

    Value parse_number() {
        size_t start = pos_;
        if (s_[pos_] == '-') pos_++;
        if (pos_ >= s_.size()) fail("bad number");
        if (s_[pos_] == '0') {
            pos_++;
        } else if (s_[pos_] >= '1' && s_[pos_] <= '9') {
            while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') pos_++;
        } else {
            fail("bad number");
        }
        if (pos_ < s_.size() && s_[pos_] == '.') {
            pos_++;
            size_t d = pos_;
            while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') pos_++;
            if (d == pos_) fail("bad number");
        }
        if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
            pos_++;
            if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) pos_++;
            size_t d = pos_;
            while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') pos_++;
            if (d == pos_) fail("bad number");
        }
        Value v;
        v.kind = Value::Number;
        v.text = std::string(s_.substr(start, pos_ - start));
        double d = 0;
        auto r = std::from_chars(v.text.data(), v.text.data() + v.text.size(), d);
        if (r.ec == std::errc::result_out_of_range) {
            // Underflow rounds to 0 in Go; overflow is an error there: keep the literal.
            bool tiny = true;
            for (char ch : v.text) {
                if (ch == 'e' || ch == 'E') break;
                if (ch >= '1' && ch <= '9') {
                    tiny = false;
                    break;
                }
            }
            // Heuristic on the exponent sign decides overflow vs underflow.
            auto e = v.text.find_first_of("eE");
            bool neg_exp = e != std::string::npos && e + 1 < v.text.size() && v.text[e + 1] == '-';
            if (neg_exp || tiny) {
                d = v.text[0] == '-' ? -0.0 : 0.0;
            } else {
                v.num_overflow = true;
            }
        } else if (r.ec != std::errc()) {
            fail("bad number");
        }
        v.num = d;
        return v;
    }

    uint32_t hex4() {
        if (pos_ + 4 > s_.size()) fail("bad \\u escape");
        uint32_t v = 0;
        for (int i = 0; i < 4; i++) {
            char c = s_[pos_++];
            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= c - '0';
            else if (c >= 'a' && c <= 'f')
                v |= c - 'a' + 10;
            else if (c >= 'A' && c <= 'F')
                v |= c - 'A' + 10;
            else
                fail("bad \\u escape");
        }
        return v;
    }

    std::string parse_string() {
        pos_++;  // opening quote
        std::string out;
        for (;;) {
            if (pos_ >= s_.size()) fail("unterminated string");
            unsigned char c = s_[pos_];
            if (c == '"') {
                pos_++;
                return out;
            }
            if (c < 0x20) fail("control character in string");
            if (c == '\\') {
                pos_++;
                if (pos_ >= s_.size()) fail("bad escape");
                char e = s_[pos_++];
                switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    uint32_t cp = hex4();
                    if (cp >= 0xD800 && cp < 0xDC00) {
                        // Go: a valid pair combines; otherwise the lone surrogate is U+FFFD.
                        if (pos_ + 6 <= s_.size() && s_[pos_] == '\\' && s_[pos_ + 1] == 'u') {
                            size_t save = pos_;
                            pos_ += 2;
                            uint32_t lo = hex4();
                            if (lo >= 0xDC00 && lo < 0xE000) {
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                            } else {
                                pos_ = save;
                                cp = 0xFFFD;
                            }
                        } else {
                            cp = 0xFFFD;
                        }
                    } else if (cp >= 0xDC00 && cp < 0xE000) {
                        cp = 0xFFFD;
                    }
                    append_utf8(out, cp);
                    break;
                }
                default: fail("bad escape");
                }
                continue;
            }
            if (c < 0x80) {
                out += char(c);
                pos_++;
                continue;
            }
            auto [cp, len] = decode_rune(s_, pos_);
            if (cp == 0xFFFD && len == 1) {
                append_utf8(out, 0xFFFD);  // Go's decoder replaces invalid bytes
            } else {
                out.append(s_.substr(pos_, len));
            }
            pos_ += len;
        }
    }
};

void write_value(std::string &out, const Value &v) {
    switch (v.kind) {
    case Value::Null: out += "null"; break;
    case Value::Bool: out += v.b ? "true" : "false"; break;
    case Value::Number: out += v.num_overflow ? v.text : go_format_float(v.num); break;
    case Value::String: go_quote(out, v.text); break;
    case Value::Array: {
        out += '[';
        bool first = true;
        for (auto &e : v.arr) {
            if (!first) out += ',';
            first = false;
            write_value(out, e);
        }
        out += ']';
        break;
    }
    case Value::Object: {
        out += '{';
        bool first = true;
        for (auto &[k, e] : v.obj) {
            if (!first) out += ',';
            first = false;
            go_quote(out, k);
            out += ':';
            write_value(out, e);
        }
        out += '}';
        break;
    }
    }
}

}  // namespace

void go_quote(std::string &out, std::string_view s) {
    out += '"';
    size_t i = 0;
    while (i < s.size()) {
        unsigned char c = s[i];
        if (c < 0x80) {
            if (const char *e = json_short_escape(c)) {
                out += e;
            } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
                out += "\\u00";
                out += kHex[c >> 4];
                out += kHex[c & 0xF];
            } else {
                out += char(c);
            }
            i++;
            continue;
        }
        auto [cp, len] = decode_rune(s, i);
        if (cp == 0xFFFD && len == 1) {
            out += "\\ufffd";
        } else if (cp == 0x2028 || cp == 0x2029) {
            out += cp == 0x2028 ? "\\u2028" : "\\u2029";
        } else {
            out.append(s.substr(i, len));
        }
        i += len;
    }
    out += '"';
}

std::string go_format_float(double v) {
    if (std::isnan(v) || std::isinf(v)) return "null";  // unreachable for decoded JSON
    if (v == 0) return std::signbit(v) ? "-0" : "0";
    // Shortest round-trip digits via scientific to_chars: "d.ddde+XX".
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
    std::string sci(buf, r.ptr);
    bool neg = sci[0] == '-';
    if (neg) sci.erase(0, 1);
    size_t epos = sci.find('e');
    std::string mant = sci.substr(0, epos);
    int exp10 = std::stoi(sci.substr(epos + 1));
    std::string digits;
    for (char c : mant)
        if (c != '.') digits += c;
    while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
    double a = std::fabs(v);
    std::string out = neg ? "-" : "";
    if (a < 1e-6 || a >= 1e21) {
        out += digits[0];
        if (digits.size() > 1) {
            out += '.';
            out.append(digits, 1, std::string::npos);
        }
        out += 'e';
        out += exp10 < 0 ? '-' : '+';
        int ae = exp10 < 0 ? -exp10 : exp10;
        std::string es = std::to_string(ae);
        // Go writes at least two exponent digits, then encoding/json trims "e-0X" to "e-X".
        if (es.size() < 2 && exp10 >= 0) es = "0" + es;
        out += es;
        return out;
    }
    // Plain decimal: value = 0.digits * 10^(exp10+1)
    int point = exp10 + 1;  // digits before the decimal point
    if (point <= 0) {
        out += "0.";
        out.append(size_t(-point), '0');
        out += digits;
    } else if (size_t(point) >= digits.size()) {
        out += digits;
        out.append(size_t(point) - digits.size(), '0');
    } else {
        out.append(digits, 0, size_t(point));
        out += '.';
        out.append(digits, size_t(point), std::string::npos);
    }
    return out;
}

std::string canonical_json(std::string_view json) {
    Parser p(json);
    Value v = p.parse_document();
    std::string out;
    out.reserve(json.size());
    write_value(out, v);
    return out;
}

std::string sha256_hex(std::string_view data) {
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char *>(data.data()), data.size(), md);
    std::string out;
    for (unsigned char c : md) {
        out += kHex[c >> 4];
        out += kHex[c & 0xF];
    }
    return out;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
              reinterpret_cast<const unsigned char *>(data.data()), data.size(), md, &len))
        throw std::runtime_error("HMAC-SHA256 failed");
    return std::string(reinterpret_cast<char *>(md), len);
}

}  // namespace es::oversync
