// Pure C++ core of the ElectricSQL `/v1/shape` read path (no Postgres headers, no libpq).
//
// Wire contract: Electric's HTTP shape API (https://electric-sql.com/docs/api/http); "the doc"
// and its sections (§N) below refer to our notes on it: docs/protocols/electric.md.
// Everything here is deterministic and allocation-light; callers (HTTP handler, worker) own I/O,
// clocks and randomness and pass them in.
//
// Subset order_by parsing: core/electric/order_by.hpp. Bounded JSON: core/common/json_limits.hpp.
//
// Files: query.cpp (query strings, ShapeRequest, 400 errors), ident.cpp
// (identifiers), offset.cpp (LogOffset), json.cpp (JSON escaping, keys,
// messages, electric-schema), http.cpp (cursor, etag, cache-control, CORS, bodies,
// handles, hashing).
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace es::electric {

// =============================================================================================
// Query strings (query.cpp)
// =============================================================================================

using QueryParams = std::vector<std::pair<std::string, std::string>>;

// Decodes %XX (either hex case) and, when plus_as_space, '+' as ' '. A '%' not followed by two
// hex digits is kept literally (like URLSearchParams). The result may be any bytes.
std::string percent_decode(std::string_view s, bool plus_as_space = true);

// Splits an undecoded query string (no leading '?') on '&'; each item is "key=value" or "key"
// (value ""). Keys and values are percent-decoded with '+' as space. Empty items are skipped.
// Repeated keys are kept, in order.
QueryParams parse_query(std::string_view query);

// Value for key, or nullptr. When a key is repeated the LAST value wins (Plug's query parser
// semantics, which is what Electric validates).
const std::string *find_param(const QueryParams &q, std::string_view key);

// 400 "Invalid request" error map (§6.3). Field keys are serialized sorted (as Electric/Jason
// does); messages keep insertion order. Subset errors are nested under "subset".
struct ValidationErrors {
    std::map<std::string, std::vector<std::string>> fields;
    std::map<std::string, std::vector<std::string>> subset;

    void add(const std::string &field, std::string message) { fields[field].push_back(std::move(message)); }
    void add_subset(const std::string &field, std::string message) { subset[field].push_back(std::move(message)); }
    bool empty() const { return fields.empty() && subset.empty(); }
    // {"message":"Invalid request","errors":{"offset":["has invalid format"]}}
    std::string to_body() const;
};

enum class Replica { Default, Full };
enum class LogMode { Full, ChangesOnly };

const char *to_string(Replica r);  // "default" | "full"
const char *to_string(LogMode m);  // "full" | "changes_only"

// Offset as a log position (§4.1). `before_all` is "-1" and sorts before everything;
// op_inf means the op part is "inf" (0_inf = end of snapshot), greater than any number.
struct LogOffset {
    uint64_t tx = 0;
    uint64_t op = 0;
    bool op_inf = false;
    bool before_all = false;

    static LogOffset make_before_all() {
        LogOffset o;
        o.before_all = true;
        return o;
    }
    static LogOffset at(uint64_t tx, uint64_t op) {
        LogOffset o;
        o.tx = tx;
        o.op = op;
        return o;
    }
    static LogOffset snapshot_chunk(uint64_t n) { return at(0, n); }  // 0_<n>
    static LogOffset snapshot_end() {
        LogOffset o;
        o.op_inf = true;
        return o;
    }  // 0_inf

    // "-1", "<tx>_<op>" or "<tx>_inf".
    std::string to_string() const;
    void append_to(std::string &out) const;
};

// -1 / 0 / +1 ordering: before_all < everything; then tx; then op, inf > any number.
int compare(const LogOffset &a, const LogOffset &b);
bool operator==(const LogOffset &a, const LogOffset &b);
bool operator!=(const LogOffset &a, const LogOffset &b);
bool operator<(const LogOffset &a, const LogOffset &b);
bool operator<=(const LogOffset &a, const LogOffset &b);
bool operator>(const LogOffset &a, const LogOffset &b);
bool operator>=(const LogOffset &a, const LogOffset &b);

// Parses "-1" or "<tx>_<op|inf>" (digits only, no sign, no spaces). "now" -> nullopt.
// Each part is at most kMaxLogOffsetPart (INT64_MAX): internally LSNs and op positions are
// int64 (bigint) and chunk numbers are incremented, so 0_18446744073709551615 is rejected
// rather than wrapping to chunk 0.
inline constexpr uint64_t kMaxLogOffsetPart = uint64_t(INT64_MAX);
std::optional<LogOffset> parse_log_offset(std::string_view s);

// A request's offset: -1, now, or a real position.
struct RequestOffset {
    enum Kind { BeforeAll, Now, At } kind = BeforeAll;
    LogOffset offset = LogOffset::make_before_all();  // meaningful for At (and BeforeAll)
    bool is_before_all() const { return kind == BeforeAll; }
    bool is_now() const { return kind == Now; }
    std::string to_string() const;  // "-1" | "now" | "<tx>_<op>"
};
std::optional<RequestOffset> parse_request_offset(std::string_view s);

// Subset snapshot parameters (§9), from subset__* query params or a POST body.
struct SubsetRequest {
    bool present = false;  // any subset__* param (or body) given
    std::optional<std::string> where;
    std::map<int, std::string> params;  // from the JSON object string, keys 1..n
    std::optional<int64_t> limit;  // > 0
    std::optional<int64_t> offset;  // >= 0
    std::optional<std::string> order_by;
};

// A parsed + validated GET/POST /v1/shape request.
struct ShapeRequest {
    std::optional<std::string> table;  // raw `table` param (non-empty)
    std::string table_schema;  // parsed (default "public"), set when valid
    std::string table_name;
    std::optional<std::string> where;  // raw SQL (non-empty), not parsed here
    std::map<int, std::string> params;  // params[N], keys exactly 1..n
    std::optional<std::string> columns_raw;  // raw `columns`
    std::vector<std::string> columns;  // parsed identifiers (empty = all columns)
    Replica replica = Replica::Default;
    LogMode log = LogMode::Full;
    RequestOffset offset;
    std::optional<std::string> handle;  // dropped (nullopt) when offset is -1 / now
    bool live = false;  // present and != "false"
    bool live_sse = false;  // live_sse, else experimental_live_sse; != "false"
    std::optional<std::string> cursor;  // raw, may be "" (cursor=)
    std::optional<std::string> secret;  // `secret`, else `api_secret`
    SubsetRequest subset;
};

// Builds and validates a ShapeRequest from decoded params, in Electric's order (§2.2, params.ex):
//  1. casts: replica/log ("is invalid"), params (plain `params=` -> "is invalid"), columns
//     (identifier errors); `offset` required ("can't be blank"). Empty values count as absent.
//     Text checks: table, where, handle, cursor, replica, log, columns and params[N] values
//     must be valid UTF-8 ("must be valid UTF-8") without NUL bytes ("must not contain NUL
//     bytes"); the same for subset__where/order_by/params/limit/offset, under "subset".
//  2. offset format ("has invalid format")
//  3. handle ("can't be blank when offset != -1"; dropped for -1/now)
//  4. live with -1 ("can't be true when offset == -1") / now ("can't be true when offset is 'now'")
//  5. live_sse without live ("can't be true unless live is also true")
//  6. table (required "can't be blank", identifier errors), params numbering
//  7. subset (nested under "subset": limit "must be greater than 0", offset "must be greater
//     than or equal to 0", non-integers "is invalid", "order_by is required when limit or
//     offset is present", params "params must be valid JSON" / "params must be a JSON object")
// Each stage runs only if the previous ones produced no error (as Ecto changesets do).
// Unknown params are ignored. Returns the errors (empty = valid); `out` is filled either way
// as far as parsing got.
ValidationErrors parse_shape_request(const QueryParams &q, ShapeRequest &out);

// POST subset body (§9): a JSON object whose subset keys (where, params, limit, offset,
// order_by; at top level or inside "subset") are merged into q as subset__* params, replacing
// query ones. `params` may be an object (re-serialized) or a JSON string. On a bad body returns
// false and sets error_body to {"error":"Request body must be a JSON object"} or
// {"error":"Invalid JSON in request body","details":"..."} (both 400). An empty body is OK.
// The body is parsed with json_limits::parse_bounded: at most kMaxSubsetBodyBytes and
// json_limits::kMaxDepth (64) levels of nesting; deeper -> 400 "Invalid JSON in request body"
// (details say why), larger -> {"error":"Request body too large",...} with error_status 413.
// The three-argument form is kept for existing callers (they answer 400 for every error).
inline constexpr size_t kMaxSubsetBodyBytes = size_t(4) << 20;  // 4 MiB
bool merge_subset_body(std::string_view body, QueryParams &q, std::string &error_body);
bool merge_subset_body(std::string_view body, QueryParams &q, std::string &error_body, int &error_status);

// Parses a `params` JSON object string ({"1":"a","2":"b"}) into a map, checking numbering.
// Bounded like the POST body (kMaxSubsetBodyBytes, 64 levels; each is a message here).
// Returns an error message (for field params) or nullopt on success.
std::optional<std::string> parse_params_json(std::string_view json, std::map<int, std::string> &out);

// Validates raw param keys ("1","2",...) -> map; error message or nullopt.
//   non-integer key -> "Parameter keys must be positive integers"
//   gap / not starting at 1 -> "Parameters must be numbered sequentially, starting from 1"
std::optional<std::string> number_params(const std::vector<std::pair<std::string, std::string>> &raw,
                                         std::map<int, std::string> &out);

// =============================================================================================
// Identifiers (ident.cpp)
// =============================================================================================

// One identifier (Electric Identifiers.parse semantics, slightly more permissive):
//   "Quoted ""x"""  -> Quoted "x"   (case kept; "" -> ")
//   Unquoted       -> ASCII lower-cased; must match [A-Za-z_\x80-\xff][A-Za-z0-9_$\x80-\xff]*
// Errors (message text, exactly Electric's):
//   "Invalid zero-length delimited identifier"
//   "Invalid unquoted identifier contains special characters: <ident>"
//   "Invalid identifier with unescaped quote: <inner>"
// Returns the error message or nullopt; on success sets out.
std::optional<std::string> parse_identifier(std::string_view ident, std::string &out);

struct QualifiedName {
    std::string schema = "public";
    std::string name;
};

// `foo`, `schema.foo`, `"Quoted Name"`, `"s"."T"` (dots inside quotes are part of the name).
// More than two parts -> "Invalid table name, too many parts: <input>". Error message or nullopt.
std::optional<std::string> parse_table(std::string_view table, QualifiedName &out);

// `"id","title","Mixed Case"` or `id,name`: split on commas outside quotes (Electric's
// regex semantics), each part parsed with parse_identifier (no whitespace trimming).
// Empty string -> "Invalid zero-length delimited identifier". Error message or nullopt.
std::optional<std::string> parse_columns(std::string_view columns, std::vector<std::string> &out);

// Always double-quotes (simple and keyword-safe): foo -> "foo", a"b -> "a""b".
std::string quote_ident(std::string_view ident);
// "schema"."name"
std::string quote_qualified(std::string_view schema, std::string_view name);

// =============================================================================================
// JSON encoding for the hot path (json.cpp)
// =============================================================================================

// Appends a JSON string literal ("..."). Escapes '"', '\\', control chars (\b \f \n \r \t
// short forms, others \u00xx); valid UTF-8 passes through; each byte of an invalid UTF-8
// sequence becomes \ufffd, so the output is valid JSON for any input.
void append_json_string(std::string &out, std::string_view s);
void append_uint(std::string &out, uint64_t v);
void append_int(std::string &out, int64_t v);

// Electric key (§7.4): "<schema>"."<table>" ('/'->'//', '.'->'..' in names), then per PK part
// /"<value>" ('/' doubled, quotes NOT escaped) or /_ for NULL.
void append_key_prefix(std::string &out, std::string_view schema, std::string_view table);
void append_key_part(std::string &out, std::optional<std::string_view> value);
std::string make_key(std::string_view schema, std::string_view table,
                     const std::vector<std::optional<std::string>> &pk_values);

enum class Operation { Insert, Update, Delete };
const char *to_string(Operation op);  // "insert" | "update" | "delete"

// Ordered (column name, text value or NULL) pairs; views must outlive the call.
using ColumnValues = std::vector<std::pair<std::string_view, std::optional<std::string_view>>>;

// Headers of replication-derived entries (§7.1).
struct LiveHeaders {
    uint64_t lsn = 0;  // commit LSN, emitted as a decimal string
    int64_t op_position = 0;
    std::vector<uint32_t> txids;  // 32-bit xids, emitted as JSON numbers
    bool last = false;  // emitted only when true
};

struct ChangeMessage {
    std::string_view schema;
    std::string_view table;
    Operation op = Operation::Insert;
    std::string_view key;  // already built (make_key)
    const ColumnValues *value = nullptr;  // required (may be empty -> {})
    const ColumnValues *old_value = nullptr;  // replica=full updates only
    const LiveHeaders *live = nullptr;  // null for snapshot rows
    std::optional<int64_t> snapshot_mark;  // subset responses only
    std::optional<std::string_view> key_change_to;  // PK-changing update, delete half
    std::optional<std::string_view> key_change_from;  // PK-changing update, insert half
};

// {"key":..,"value":{..}[,"old_value":{..}],"headers":{"operation":..,"relation":[s,t]
//   [,"snapshot_mark":n][,"key_change_to"|"key_change_from":..]
//   [,"lsn":"..","op_position":n,"txids":[..][,"last":true]]}}
void append_change_message(std::string &out, const ChangeMessage &m);
std::string change_message(const ChangeMessage &m);

// {"headers":{"control":"up-to-date","global_last_seen_lsn":"<lsn>"}}
void append_up_to_date(std::string &out, uint64_t global_last_seen_lsn);
// {"headers":{"control":"must-refetch"}}
void append_must_refetch(std::string &out);
// {"headers":{"control":"snapshot-end","xmin":"..","xmax":"..","xip_list":[".."]}}
void append_snapshot_end(std::string &out, uint64_t xmin, uint64_t xmax, const std::vector<uint64_t> &xip_list);

// "[" e1 "," e2 ... "]" from already-encoded JSON entries.
void append_json_array(std::string &out, const std::vector<std::string> &entries);
std::string join_json_array(const std::vector<std::string> &entries);

// SSE event for one encoded message: "data: <json>\n\n"; keep-alive comment ": keep-alive\n\n".
void append_sse_event(std::string &out, std::string_view json);
inline constexpr std::string_view kSseKeepAlive = ": keep-alive\n\n";

// Subset response body (§9): {"metadata":{"xmin":"..","xmax":"..","xip_list":[..],
//   "snapshot_mark":n,"database_lsn":".."},"data":[entries...]}
std::string subset_response_body(uint64_t xmin, uint64_t xmax, const std::vector<uint64_t> &xip_list,
                                 int64_t snapshot_mark, uint64_t database_lsn, const std::vector<std::string> &entries);

// electric-schema header (§12).
struct SchemaColumn {
    std::string name;
    std::string type;  // typname; element typname for arrays
    int dims = 0;  // emitted only when > 0
    int pk_index = -1;  // emitted when >= 0
    bool not_null = false;  // emitted only when true
    std::optional<int64_t> max_length;  // varchar
    std::optional<int64_t> length;  // bpchar, bit, varbit
    std::optional<int64_t> precision;  // time types, numeric, interval
    std::optional<int64_t> scale;  // numeric
    std::optional<std::string> fields;  // interval, e.g. "YEAR TO MONTH"
    std::optional<int64_t> type_mod;  // other types with a typmod
};

// Fills max_length/length/precision/scale/fields/type_mod from (col.type, atttypmod) the way
// Electric does; typmod < 0 means none and sets nothing.
void apply_typmod(SchemaColumn &col, int32_t typmod);

// {"id":{"type":"int4","pk_index":0,"not_null":true},"tags":{"type":"text","dims":1}} — columns
// in the given order; per column: type, dims, pk_index, not_null, max_length, length,
// precision, scale, fields, type_mod.
std::string schema_header(const std::vector<SchemaColumn> &columns);

// =============================================================================================
// HTTP helpers (http.cpp)
// =============================================================================================

inline constexpr int64_t kCursorEpoch = 1728432000;  // 2024-10-09T00:00:00Z

// §4.4: next = ceil((now - epoch)/timeout)*timeout (0 when timeout <= 0). If request_cursor is
// a decimal integer >= next, returns cursor + 1 + (random % 3600) instead (strictly increases).
// `random` is any uniformly random 64-bit value supplied by the caller.
int64_t next_cursor(int64_t now_seconds, int64_t long_poll_timeout_s, std::string_view request_cursor, uint64_t random);

// §5: "\"<handle>:<req offset>:<resp offset>[:<suffix>]\"" (quotes included).
std::string make_etag(std::string_view handle, std::string_view request_offset, std::string_view response_offset,
                      std::string_view suffix = {});

// §5.2: If-None-Match value (comma-split, trimmed, W/ and quotes stripped) contains etag
// (compared without its quotes).
bool if_none_match_matches(std::string_view if_none_match, std::string_view etag);

struct CacheConfig {
    int max_age = 60;
    int stale_age = 300;
    int sse_timeout_s = 60;
};

struct CacheInput {
    std::string_view method = "GET";  // HEAD counts as GET
    int status = 200;
    bool offset_before_all = false;  // request offset == -1
    bool live = false;
    bool sse = false;
    bool subset = false;
    bool has_handle = true;  // 409 only: a new handle is known
};

struct CacheHeaders {
    std::string cache_control;
    bool surrogate_no_store = false;  // also send `surrogate-control: no-store`
};

// §5.1, first matching rule wins.
CacheHeaders select_cache_control(const CacheInput &in, const CacheConfig &cfg);

inline constexpr std::string_view kExposeHeaders =
    "electric-cursor,electric-handle,electric-has-data,electric-offset,electric-schema,"
    "electric-up-to-date,electric-internal-known-error,retry-after";
inline constexpr std::string_view kAllowMethods = "GET, POST, HEAD, DELETE, OPTIONS";

// access-control-allow-origin "*", -expose-headers, -allow-methods, in that order. Always "*",
// never the request's Origin: no API takes cookies (readers and writers send a bearer token,
// which "*" allows once the preflight lists Authorization), and an echoed Origin would need
// Vary: Origin on every response, splitting shared caches per site.
std::vector<std::pair<std::string, std::string>> cors_headers();

// OPTIONS: requested access-control-request-headers filtered to those the APIs read
// (authorization, content-type, if-none-match, oversync-source-id, traceparent;
// case-insensitive, lower-cased, joined with ", ").
std::string preflight_allow_headers(std::string_view requested);

// The whole answer to a CORS preflight of any route (204, no authentication): cors_headers(),
// the allowed request headers (when some were asked for), max-age one day, cacheable, varying on
// the requested headers. requested: the access-control-request-headers value, or nullptr.
std::vector<std::pair<std::string, std::string>> preflight_headers(const std::string *requested);

// Bodies.
std::string message_body(std::string_view message);  // {"message":"..."}
std::string error_body(std::string_view error);  // {"error":"..."}
std::string invalid_request_body(const std::string &field, std::string message);
std::string must_refetch_body();  // [{"headers":{"control":"must-refetch"}}]
std::string unauthorized_body();  // {"message":"Unauthorized - Invalid API secret"}
std::string shape_definition_mismatch_body();
// Table "s"."t" does not exist. If the table name contains capitals or special characters you must quote it.
std::string table_not_found_message(std::string_view schema, std::string_view table);

// Constant-time comparison for API secrets.
bool secret_equals(std::string_view a, std::string_view b);

// Handles (§3): "<hash>-<unix microseconds>".
std::string make_shape_handle(uint64_t definition_hash, int64_t unix_micros);
uint64_t fnv1a64(std::string_view data);

// Canonical, unambiguous definition string for hashing (length-prefixed fields; params in key
// order; columns in the given order).
std::string normalized_definition(std::string_view schema, std::string_view table, std::string_view where,
                                  const std::map<int, std::string> &params, const std::vector<std::string> &columns,
                                  Replica replica, LogMode log);

}  // namespace es::electric
