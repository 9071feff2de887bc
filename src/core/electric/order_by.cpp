#include "core/electric/order_by.hpp"

#include "core/electric/electric.hpp"
#include "core/common/utf8.hpp"

namespace es::electric {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool ident_start(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80; }
bool ident_cont(unsigned char c) { return ident_start(c) || (c >= '0' && c <= '9') || c == '$'; }

bool iequals(std::string_view word, std::string_view kw) {
    if (word.size() != kw.size()) return false;
    for (size_t i = 0; i < word.size(); ++i) {
        char c = word[i];
        if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
        if (c != kw[i]) return false;
    }
    return true;
}

struct Token {
    enum Kind { End, Comma, Word, Quoted, Bad } kind = End;
    std::string text;  // Word: as written; Quoted: unescaped
    size_t pos = 0;  // byte offset of the token (1-based in messages)
    std::string error;  // Bad
};

class Scanner {
public:
    explicit Scanner(std::string_view s) : s_(s) {}

    Token next() {
        while (i_ < s_.size() && is_space(s_[i_])) ++i_;
        Token t;
        t.pos = i_;
        if (i_ >= s_.size()) return t;
        unsigned char c = s_[i_];
        if (c == ',') {
            ++i_;
            t.kind = Token::Comma;
            return t;
        }
        if (c == '"') {
            ++i_;
            for (;;) {
                if (i_ >= s_.size()) return bad(t, "unterminated quoted identifier");
                char d = s_[i_];
                if (d == '"') {
                    if (i_ + 1 < s_.size() && s_[i_ + 1] == '"') {
                        t.text += '"';
                        i_ += 2;
                    } else {
                        ++i_;
                        break;
                    }
                } else if (d == '\0') {
                    return bad(t, "identifier contains a NUL byte");
                } else {
                    t.text += d;
                    ++i_;
                }
                if (t.text.size() > kOrderByMaxNameBytes) return too_long(t);
            }
            if (t.text.empty()) return bad(t, "zero-length quoted identifier");
            t.kind = Token::Quoted;
            return t;
        }
        if (ident_start(c)) {
            size_t start = i_;
            while (i_ < s_.size() && ident_cont((unsigned char)s_[i_])) ++i_;
            if (i_ - start > kOrderByMaxNameBytes) return too_long(t);
            t.kind = Token::Word;
            t.text.assign(s_.substr(start, i_ - start));
            return t;
        }
        return bad(t, "unexpected character");
    }

private:
    std::string_view s_;
    size_t i_ = 0;

    Token bad(Token &t, const std::string &why) {
        t.kind = Token::Bad;
        t.error = why + " at position " + std::to_string(t.pos + 1);
        i_ = s_.size();
        return t;
    }
    Token too_long(Token &t) {
        return bad(t, "column name longer than " + std::to_string(kOrderByMaxNameBytes) + " bytes");
    }
};

std::string expected(const Token &t, const char *what) {
    if (t.kind == Token::Bad) return t.error;
    std::string got = t.kind == Token::End ? "end of input" : t.kind == Token::Comma ? "','" : "a name";
    return std::string("expected ") + what + " at position " + std::to_string(t.pos + 1) + ", got " + got;
}

}  // namespace

OrderByResult parse_order_by(std::string_view input) {
    OrderByResult r;
    auto fail = [&](std::string msg) {
        r.items.clear();
        r.error = "invalid order_by: " + msg;
        return r;
    };
    if (input.size() > kOrderByMaxBytes) return fail("longer than " + std::to_string(kOrderByMaxBytes) + " bytes");
    if (!utf8::valid(input)) return fail("not valid UTF-8");
    Scanner sc(input);
    Token t = sc.next();
    for (;;) {
        // name
        if (t.kind != Token::Word && t.kind != Token::Quoted) return fail(expected(t, "a column name"));
        if (r.items.size() == kOrderByMaxItems)
            return fail("more than " + std::to_string(kOrderByMaxItems) + " columns");
        OrderByItem item;
        item.column = std::move(t.text);
        if (t.kind == Token::Word)
            for (char &c : item.column)
                if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
        t = sc.next();
        // [ASC | DESC]
        if (t.kind == Token::Word && (iequals(t.text, "asc") || iequals(t.text, "desc"))) {
            item.descending = iequals(t.text, "desc");
            t = sc.next();
        }
        // [NULLS FIRST | LAST]
        if (t.kind == Token::Word && iequals(t.text, "nulls")) {
            t = sc.next();
            if (t.kind == Token::Word && iequals(t.text, "first"))
                item.nulls_first = true;
            else if (t.kind == Token::Word && iequals(t.text, "last"))
                item.nulls_first = false;
            else
                return fail(expected(t, "FIRST or LAST after NULLS"));
            t = sc.next();
        }
        r.items.push_back(std::move(item));
        if (t.kind == Token::End) return r;
        if (t.kind != Token::Comma) return fail(expected(t, "',' or end of input"));
        t = sc.next();
    }
}

std::string order_by_sql(const std::vector<OrderByItem> &items) {
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += ", ";
        out += quote_ident(items[i].column);
        if (items[i].descending) out += " DESC";
        if (items[i].nulls_first) out += *items[i].nulls_first ? " NULLS FIRST" : " NULLS LAST";
    }
    return out;
}

}  // namespace es::electric
