// oversync request parsing and validation (pure C++, no database). Mirrors the checks the Go
// server makes before touching the database (docs/protocols/oversync.md §4, §5.2).
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace es::oversync {

// A contract error: HTTP status, error code, message, optional extra members of the body.
struct ApiError : std::runtime_error {
    int status;
    std::string code;
    nlohmann::json extra;  // object or null
    ApiError(int status, std::string code, const std::string &message, nlohmann::json extra = nullptr)
        : std::runtime_error(message), status(status), code(std::move(code)), extra(std::move(extra)) {}
};

// {"error":code,"message":msg,...extra}\n
std::string error_body(const std::string &code, const std::string &message, const nlohmann::json &extra = nullptr);

bool valid_identifier(std::string_view s);  // ^[a-z0-9_]+$
bool is_canonical_uuid(std::string_view s);  // lowercase, dashed
std::string lower(std::string_view s);
std::string trim(std::string_view s);

// Query string: name -> percent-decoded value (first occurrence wins).
std::map<std::string, std::string> parse_query(std::string_view query);
// Strict base-10 int64 ("" or junk -> nullopt).
std::optional<int64_t> parse_int64(std::string_view s);

// Every body is parsed with json_limits::parse_bounded: at most kMaxBodyBytes (413 beyond,
// a backstop behind the route's configurable limit) and 64 levels of nesting (400 beyond).
inline constexpr size_t kMaxBodyBytes = size_t(64) << 20;  // 64 MiB

struct ConnectRequest {
    bool has_local_pending_rows = false;
};
ConnectRequest parse_connect(std::string_view body);

struct PushCreateRequest {
    int64_t source_bundle_id = 0;
    int64_t planned_row_count = 0;
    std::optional<std::string> initialization_id;
};
PushCreateRequest parse_push_create(std::string_view body);

struct PushChunkRequest {
    int64_t start_row_ordinal = 0;
    nlohmann::json rows;  // normalized rows: schema, table, key, op, base_row_version, payload
};
PushChunkRequest parse_push_chunk(std::string_view body, int max_rows);

struct SnapshotCreateRequest {
    nlohmann::json source_replacement;  // null or {previous_source_id,new_source_id,reason}
};
SnapshotCreateRequest parse_snapshot_create(std::string_view body, const std::string &source_id);

}  // namespace es::oversync
