// Parser of the `electric_sync` output plugin's text format (docs/decoding-format.md).
// Pure C++: no Postgres headers (the worker and the unit tests both use it).
//
// Usage in the worker: one Decoder per pg_logical_slot_peek_changes() call; feed() each row's
// `data` column in order; feed() returns the parsed record. Values of change records are
// string_views into the text given to feed(): they are valid until that text goes away.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace es::decoding {

class ParseError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

enum class RecordKind : uint8_t { Begin, Commit, Relation, Insert, Update, Delete, Truncate, Message };

const char *to_string(RecordKind k);

// One column value of a tuple.
struct Value {
    enum class Kind : uint8_t {
        Null,  // SQL NULL                                        (wire: n)
        UnchangedToast,  // TOASTed value not changed by this UPDATE        (wire: u)
        Absent,  // column not part of the old key (old key tuples) (wire: -)
        Text,  // the column's Postgres text output               (wire: <len>:<bytes>)
    };
    Kind kind = Kind::Null;
    std::string_view text;  // Kind::Text only; points into the parsed record text

    bool is_null() const { return kind == Kind::Null; }
    bool is_text() const { return kind == Kind::Text; }
    bool is_unchanged_toast() const { return kind == Kind::UnchangedToast; }
    bool is_absent() const { return kind == Kind::Absent; }
    static Value null() { return Value{}; }
    static Value of(std::string_view t) { return Value{Kind::Text, t}; }
};

// BEGIN / COMMIT fields; each is absent when the matching include-* option is off.
struct TxnInfo {
    std::optional<uint32_t> xid;
    std::optional<uint64_t> commit_lsn;  // LSN of the commit record (Electric's "lsn")
    std::optional<uint64_t> end_lsn;  // end of the commit record (confirm/advance the slot here)
    std::optional<int64_t> commit_time_us;  // commit time, microseconds since 1970-01-01 UTC
};

struct Column {
    std::string name;
    uint32_t type_oid = 0;  // pg_attribute.atttypid (for arrays: the array type)
    int32_t typmod = -1;  // pg_attribute.atttypmod
    std::string type_name;  // pg_type.typname; for arrays the element type's name
    char type_kind = 'b';  // pg_type.typtype (of the element for arrays): b c d e m p r
    int dims = 0;  // array dimensions (0: not an array)
    bool not_null = false;  // attnotnull
    int pk_position = 0;  // 1-based position in the primary key, 0 = not in it
    int ident_position = 0;  // 1-based position in the replica identity index, 0 = not in it
};

struct RelationInfo {
    uint32_t oid = 0;
    std::string schema;
    std::string name;
    char replica_identity = 'd';  // d (default), n (nothing), f (full), i (index)
    std::vector<Column> columns;  // non-dropped columns in attnum order = tuple value order

    // Column indexes of the primary key in key order (empty: no primary key).
    std::vector<size_t> pk_columns() const;
    // Index of the column named `name`, or -1.
    int column_index(std::string_view name) const;
};

enum class OldKind : uint8_t {
    None,  // no old tuple (INSERT; UPDATE that kept the key; identity NOTHING / no key)
    Key,  // old key only (identity DEFAULT / USING INDEX): non-key columns are Absent
    Full,  // whole old row (REPLICA IDENTITY FULL)
};

struct Change {
    uint32_t relid = 0;
    bool has_new = false;  // INSERT, UPDATE
    std::vector<Value> new_values;
    OldKind old_kind = OldKind::None;
    std::vector<Value> old_values;  // empty when old_kind == None
};

struct Truncate {
    bool cascade = false;
    bool restart_identity = false;
    std::vector<uint32_t> relids;
};

struct Message {
    bool transactional = false;
    std::optional<uint64_t> lsn;
    std::string prefix;
    std::string content;  // decoded bytes
    bool binary = false;  // content was not valid text (sent hex-encoded)
};

struct Record {
    RecordKind kind = RecordKind::Begin;
    TxnInfo txn;  // Begin, Commit
    RelationInfo relation;  // Relation
    Change change;  // Insert, Update, Delete
    Truncate truncate;  // Truncate
    Message message;  // Message
};

// Parses one record (one `data` row). Throws ParseError. The overload taking `out` reuses its
// vectors' capacity (the fast path); fields not used by the record's kind keep stale contents.
void parse_record(std::string_view text, Record &out);
Record parse_record(std::string_view text);

// Stateful reader of one decoding call's output: remembers RELATION records, checks change
// records against them (known relation, value counts) and the BEGIN/COMMIT framing.
class Decoder {
public:
    // Parses the next record. Throws ParseError on malformed text, a change for a relation
    // not described in this call, a value count that does not match, or broken framing.
    const Record &feed(std::string_view text);

    const RelationInfo *relation(uint32_t oid) const;
    // The relation of the last change record (throws if unknown).
    const RelationInfo &relation_of(const Change &c) const;

    bool in_transaction() const { return in_txn_; }
    // Fields of the current (or last) transaction's BEGIN record.
    const TxnInfo &transaction() const { return txn_; }
    // 0-based position of the last change (I/U/D/T record) in its transaction.
    uint32_t change_index() const { return change_index_; }
    // Forget everything (a new pg_logical_slot_*_changes call starts a new decoding session).
    void reset();

private:
    Record rec_;
    std::unordered_map<uint32_t, RelationInfo> rels_;
    TxnInfo txn_;
    bool in_txn_ = false;
    uint32_t changes_ = 0;
    uint32_t change_index_ = 0;
};

}  // namespace es::decoding
