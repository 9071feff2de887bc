// Strict UTF-8 validation (pure C++): what Postgres accepts for text in a UTF8 database and
// what nlohmann::json can dump without throwing (type_error 316).
#pragma once
#include <string_view>

namespace es::utf8 {

// True if s is well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates (U+D800..DFFF),
// nothing above U+10FFFF, no truncated sequences. NUL bytes are valid UTF-8 (see has_nul).
bool valid(std::string_view s);

// True if s contains a NUL byte (Postgres text cannot hold one; libpq would cut the value).
inline bool has_nul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

}  // namespace es::utf8
