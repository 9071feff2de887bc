// Identifier parsing for `table` and `columns` (§2.2), and identifier quoting.
#include "core/electric/electric.hpp"

namespace es::electric {

namespace {

constexpr const char *kZeroLength = "Invalid zero-length delimited identifier";

bool ident_start(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80; }
bool ident_cont(unsigned char c) { return ident_start(c) || (c >= '0' && c <= '9') || c == '$'; }

}  // namespace

std::optional<std::string> parse_identifier(std::string_view ident, std::string &out) {
    if (ident.size() >= 1 && ident.front() == '"' && ident.back() == '"') {
        // A lone `"` both starts and ends with a quote: its inside is empty (as in Electric).
        std::string_view inner = ident.size() >= 2 ? ident.substr(1, ident.size() - 2) : std::string_view{};
        if (inner.empty()) return std::string(kZeroLength);
        std::string r;
        r.reserve(inner.size());
        for (size_t i = 0; i < inner.size(); ++i) {
            if (inner[i] == '"') {
                if (i + 1 < inner.size() && inner[i + 1] == '"') {
                    r += '"';
                    ++i;
                    continue;
                }
                return "Invalid identifier with unescaped quote: " + std::string(inner);
            }
            r += inner[i];
        }
        out = std::move(r);
        return std::nullopt;
    }
    if (ident.empty()) return std::string(kZeroLength);
    bool ok = ident_start((unsigned char)ident[0]);
    for (size_t i = 1; ok && i < ident.size(); ++i) ok = ident_cont((unsigned char)ident[i]);
    if (!ok) return "Invalid unquoted identifier contains special characters: " + std::string(ident);
    std::string r(ident);
    for (char &c : r)
        if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    out = std::move(r);
    return std::nullopt;
}

std::optional<std::string> parse_table(std::string_view table, QualifiedName &out) {
    std::vector<std::string_view> parts;
    bool in_quote = false;
    size_t start = 0;
    for (size_t i = 0; i < table.size(); ++i) {
        char c = table[i];
        if (c == '"')
            in_quote = !in_quote;
        else if (c == '.' && !in_quote) {
            parts.push_back(table.substr(start, i - start));
            start = i + 1;
        }
    }
    parts.push_back(table.substr(start));
    if (parts.size() > 2) return "Invalid table name, too many parts: " + std::string(table);
    std::vector<std::string> parsed(parts.size());
    for (size_t i = 0; i < parts.size(); ++i)
        if (auto err = parse_identifier(parts[i], parsed[i])) return err;
    if (parsed.size() == 2) {
        out.schema = std::move(parsed[0]);
        out.name = std::move(parsed[1]);
    } else {
        out.schema = "public";
        out.name = std::move(parsed[0]);
    }
    return std::nullopt;
}

std::optional<std::string> parse_columns(std::string_view columns, std::vector<std::string> &out) {
    // Electric splits with /,(?=(?:[^"]*"[^"]*")*[^"]*$)/: a comma is a separator when an even
    // number of quotes follows it. Count quotes from the end to reproduce that exactly.
    std::vector<bool> split_at(columns.size(), false);
    size_t quotes_after = 0;
    for (size_t i = columns.size(); i-- > 0;) {
        if (columns[i] == '"')
            ++quotes_after;
        else if (columns[i] == ',' && quotes_after % 2 == 0)
            split_at[i] = true;
    }
    std::vector<std::string> result;
    size_t start = 0;
    for (size_t i = 0; i <= columns.size(); ++i) {
        if (i == columns.size() || split_at[i]) {
            std::string ident;
            if (auto err = parse_identifier(columns.substr(start, i - start), ident)) return err;
            result.push_back(std::move(ident));
            start = i + 1;
        }
    }
    out = std::move(result);
    return std::nullopt;
}

std::string quote_ident(std::string_view ident) {
    std::string r;
    r.reserve(ident.size() + 2);
    r += '"';
    for (char c : ident) {
        if (c == '"') r += '"';
        r += c;
    }
    r += '"';
    return r;
}

std::string quote_qualified(std::string_view schema, std::string_view name) {
    return quote_ident(schema) + "." + quote_ident(name);
}

}  // namespace es::electric
