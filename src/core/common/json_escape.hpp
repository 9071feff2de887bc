// The two-character JSON escapes (RFC 8259 §7), shared by every JSON writer of the core.
#pragma once

namespace es {

// "\\\"" for '"', "\\n" for a newline, ...; nullptr for a byte without a short escape.
inline const char *json_short_escape(unsigned char c) {
    switch (c) {
    case '"': return "\\\"";
    case '\\': return "\\\\";
    case '\b': return "\\b";
    case '\f': return "\\f";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    default: return nullptr;
    }
}

}  // namespace es
