// The shape log store (table electric_sync.shape_log, docs/read-path.md): the engine's only way
// to write, filter, read and remove shape logs. Main thread only, inside the batch transaction.
#pragma once
#include "hub/shape_hub.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace es::logstore {

// Entries a batch appends, in arrival order (append() sorts them by shape and offset).
struct Pending {
    std::vector<int64_t> ids, lsns, xids;
    std::vector<int32_t> ops;
    std::vector<bool> chunk_ends;
    std::vector<std::string> entries;

    void add(int64_t shape_id, const electric::LogOffset &off, uint32_t xid, bool chunk_end, std::string entry);
    size_t size() const { return ids.size(); }
    bool empty() const { return ids.empty(); }
    void clear();
};

// Appends the pending entries as log segments (multi-insert, no executor) and clears them.
void append(Pending &p);
// Drops the entries of transactions the shape's snapshot saw (electric_sync._shape_log_apply_snapshot).
void apply_snapshot(int64_t shape_id);
// The shape's log, in offset order (kReadShapeLogSql).
std::vector<svc::LogEntry> read(int64_t shape_id);
// Bytes of the shape's stored log (rotation).
int64_t bytes(int64_t shape_id);
// Removes everything stored for the shape: log, snapshot chunks, runtime row.
void remove(int64_t shape_id);

}  // namespace es::logstore
