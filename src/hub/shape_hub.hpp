// In-memory view of the shapes the HTTP side serves: definition, snapshot chunks, the live log
// with its chunk boundaries, and the requests waiting for it. Written by the worker's main thread
// (after its transaction commits) and by DB-pool jobs; read by HTTP I/O threads. Pure C++.
#pragma once
#include "core/electric/electric.hpp"
#include "core/electric/shape_description.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace es::svc {

using electric::LogOffset;

// Milliseconds of a monotonic clock (snapshot cache recency).
int64_t now_ms();

struct LogEntry {
    LogOffset off;
    bool chunk_end = false;  // last entry of a log chunk (always at a transaction end)
    std::string json;  // the encoded message
};

// The one way a shape's stored log is read back, by the engine (SPI) and the pool (libpq): the
// query (parameter: shape id) and its row, as text, turned into an entry.
inline constexpr const char *kReadShapeLogSql =
    "SELECT lsn, op, chunk_end, entry FROM electric_sync._shape_log_read($1::bigint)";
LogEntry log_entry_from_row(const std::string &lsn, const std::string &op, const std::string &chunk_end,
                            std::string entry);

// What the hub keeps of a shape's description (core/electric/shape_description.hpp): only what
// serving needs, so an idle shape stays small (no column or parameter lists here).
struct ShapeInfo {
    int64_t id = 0;
    std::string handle;
    std::string schema_name, table_name;
    std::string schema_json;  // electric-schema header value
    std::string def;  // normalized request definition (electric::normalized_definition)
    bool changes_only = false;

    static ShapeInfo of(const electric::ShapeDescription &d, std::string def = {}) {
        ShapeInfo i;
        i.id = d.id;
        i.handle = d.handle;
        i.schema_name = d.schema;
        i.table_name = d.table;
        i.schema_json = d.schema_json;
        i.def = std::move(def);
        i.changes_only = d.changes_only;
        return i;
    }
};

// What a request at some offset gets from the log.
struct LogSlice {
    std::vector<const std::string *> entries;  // valid while the caller holds the shape's lock
    LogOffset last;  // offset of the last entry (or the request offset)
    bool up_to_date = false;  // the slice reaches the end of the log
};

class Shape {
public:
    // Failed: the snapshot could not be taken; the shape was removed from the hub (the next
    // request resolves it again and retries) and waiting requests get failure().
    enum class Status { Loading, Ready, Gone, Failed };

    explicit Shape(ShapeInfo info) : info_(std::move(info)) {}
    const ShapeInfo &info() const { return info_; }

    std::mutex &mutex() const { return mu_; }
    // All accessors below require mutex() held.
    Status status() const { return status_; }
    // Snapshot chunks: held in memory, or (evicted to stay within the snapshot memory budget,
    // or never loaded after a restart) only counted and read from the database when requested.
    size_t snapshot_count() const { return snapshot_count_; }
    // Chunk k if it is in memory (marks the snapshot used), else nullptr.
    const std::string *snapshot_chunk(size_t k, int64_t now_ms);
    size_t snapshot_bytes() const { return snapshot_bytes_; }
    int64_t snapshot_used_ms() const { return snapshot_used_ms_; }
    const std::vector<LogEntry> &log() const { return log_; }
    LogOffset log_end() const;  // last entry offset, or 0_inf when the log is empty
    // Entries strictly after `after` up to the end of the chunk holding the first of them.
    LogSlice slice_after(const LogOffset &after) const;

    // Mutators (take the lock themselves) wake the waiters. The shape is Ready once it has both
    // its snapshot chunks (from the snapshot job or a load) and its log (from the engine once
    // the snapshot's transactions are filtered out, or from a load).
    void set_snapshot(std::vector<std::string> chunks);
    // The snapshot has `count` chunks, stored in the database only.
    void set_snapshot_stored(size_t count);
    // Drops the in-memory chunks (they stay in the database); returns the bytes freed.
    size_t evict_snapshot();
    void set_log(std::vector<LogEntry> log);
    bool has_snapshot() const;
    // Appends entries with offsets above the current end (older ones are ignored: exactly once
    // when a load and the engine's publication overlap). Before set_log they are buffered.
    void append(std::vector<LogEntry> entries);
    void set_gone();
    // Loading -> Failed with the HTTP answer for the requests waiting on it.
    void set_failed(int http_status, std::string body);
    // Any state but Gone -> Failed (the engine stopped the shape): every request, waiting or
    // new, gets this answer.
    void set_stopped(int http_status, std::string body);
    // Under mutex(): the answer of a Failed shape.
    int failure_status() const { return failure_status_; }
    const std::string &failure_body() const { return failure_body_; }
    // Registers fn unless the shape already has log entries after `after` or is not Loading/
    // Ready-without-data (checked under the lock, so no wake-up is lost). Returns 0 when it did
    // not register (the caller should serve now).
    uint64_t wait_unless_data(const LogOffset &after, std::function<void()> fn);
    // fn runs once, on the next change of this shape (append, ready, gone). Returns an id.
    uint64_t wait(std::function<void()> fn);
    void cancel_wait(uint64_t id);
    size_t waiting() const;
    size_t log_bytes() const;

private:
    void wake_locked(std::vector<std::function<void()>> &out);

    ShapeInfo info_;
    mutable std::mutex mu_;
    Status status_ = Status::Loading;
    int failure_status_ = 0;
    std::string failure_body_;
    bool has_snapshot_ = false, has_log_ = false;
    std::vector<std::string> snapshot_;  // empty when evicted
    size_t snapshot_count_ = 0, snapshot_bytes_ = 0;
    int64_t snapshot_used_ms_ = 0;
    std::vector<LogEntry> log_;
    // Entries published before set_log (buffered, merged by set_log).
    std::vector<LogEntry> pending_;
    size_t log_bytes_ = 0;
    uint64_t next_wait_id_ = 1;
    std::vector<std::pair<uint64_t, std::function<void()>>> waiters_;
};

using ShapePtr = std::shared_ptr<Shape>;

class ShapeHub {
public:
    // Lookups (nullptr if unknown here).
    ShapePtr by_handle(const std::string &handle) const;
    ShapePtr by_id(int64_t id) const;
    // The current (not gone) shape for a request definition key, if known.
    ShapePtr by_definition(const std::string &def) const;

    // Registers a shape (or returns the existing one with that id).
    ShapePtr add(ShapeInfo info, const std::string &def);
    // Forget the definition -> shape mapping (after a 409, a new shape will be made).
    void forget_definition(const std::string &def, int64_t id);
    // Forget this shape object entirely (its snapshot failed: the next request starts over).
    void remove(const ShapePtr &s);

    // From the engine, after its commit.
    void publish_append(int64_t id, std::vector<LogEntry> entries);
    void publish_log(int64_t id, std::vector<LogEntry> log);
    void publish_gone(int64_t id);
    // The engine stopped the shape: its requests get this answer; the definition is forgotten,
    // so a new request of it starts a new shape.
    void publish_failed(int64_t id, int http_status, std::string body);
    void set_global_lsn(uint64_t lsn) { global_lsn_.store(lsn); }
    uint64_t global_lsn() const { return global_lsn_.load(); }

    std::vector<ShapePtr> all() const;
    // Evicts the least recently used in-memory snapshots until they hold at most budget bytes;
    // returns the bytes still held.
    size_t trim_snapshots(size_t budget);
    // Forget every shape (the extension was dropped): waiting requests are woken (409).
    void clear();

private:
    ShapePtr detach_definitions(int64_t id);
    mutable std::mutex mu_;
    std::unordered_map<std::string, ShapePtr> by_handle_;
    std::unordered_map<int64_t, ShapePtr> by_id_;
    std::unordered_map<std::string, int64_t> by_def_;
    std::atomic<uint64_t> global_lsn_{0};
};

}  // namespace es::svc
