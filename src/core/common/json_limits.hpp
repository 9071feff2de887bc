// Bounded JSON parsing for request input (pure C++). Every JSON text that comes from a client
// (POST subset bodies, the `params` JSON form, JWT header and payload, oversync bodies) is
// parsed through parse_bounded(), never through nlohmann::json::parse directly.
//
// Why: nlohmann's parser itself is iterative, but a deeply nested value is not safe to keep:
// dump(), copies, operator== and our own walks recurse once per level, so a body of 100,000
// nested arrays overflows the stack of the thread that touches it. parse_bounded() uses the
// SAX interface with its own DOM builder and stops at the first container that would exceed
// the depth limit, so a too-deep value is never built.
//
// Limits (documented in docs/fuzzing.md):
//   kMaxDepth = 64 nested arrays/objects (a scalar at top level has depth 0, `[]` depth 1).
//     Every recursive routine in src/core over a parsed value therefore recurses at most 64
//     levels. Electric's subset bodies and oversync rows need a handful of levels; 64 leaves
//     room for nested jsonb payload columns.
//   max_bytes: per call site (kDefaultMaxBytes = 1 MiB unless the caller passes another).
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace es::json_limits {

inline constexpr int kMaxDepth = 64;
inline constexpr size_t kDefaultMaxBytes = size_t(1) << 20;  // 1 MiB

struct Limits {
    int max_depth = kMaxDepth;
    size_t max_bytes = kDefaultMaxBytes;
};

enum class Status {
    Ok,
    Syntax,  // not valid JSON (strict: no trailing data, no comments)
    TooDeep,  // more than max_depth nested containers
    TooLarge,  // text longer than max_bytes (checked before parsing)
};

struct Result {
    Status status = Status::Ok;
    nlohmann::json value;  // the document when ok(), null otherwise
    std::string message;  // why it failed (nlohmann's parse error text for Syntax)
    bool ok() const { return status == Status::Ok; }
};

// Parses `text` as one JSON document within the limits. Never throws (allocation failure is
// reported as Syntax with the exception's message).
Result parse_bounded(std::string_view text, const Limits &limits = {});

// Nesting depth of an already built value, computed without recursion (used by tests and to
// check values that did not come from parse_bounded).
int depth_of(const nlohmann::json &value);

}  // namespace es::json_limits
