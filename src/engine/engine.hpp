// The read path's engine on the worker's main thread: consumes the slot (our output plugin),
// routes each change to the shapes whose where clause it matches, appends the encoded entries
// to the shape logs and records the processed LSN in the same transaction, publishes to the
// in-memory ShapeHub after the commit (waking waiting requests), then confirms the slot
// (throttled, after flushing the batch's WAL).
#pragma once
#include "core/decode/decoding_format.hpp"
#include "pg/compat.hpp"
#include "decode/slot_reader.hpp"
#include "hub/shape_hub.hpp"

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace es {

class CompiledWhere;

struct RoutedShape;

class ShapeEngine {
public:
    ShapeEngine(std::string slot, svc::ShapeHub &hub);
    ~ShapeEngine();
    // One batch; returns true when the batch was full (more is probably waiting).
    // max_log_bytes: rotate a shape whose log grows past it (0 = never).
    bool step(int batch_changes, int chunk_bytes, int64_t max_log_bytes);
    // Forget all state (the extension was dropped or re-created).
    void reset();

private:
    struct Batch;
    void load_all();
    RoutedShape *load_shape(int64_t id);
    void drop_shape(int64_t id, Batch &b, const char *reason, bool mark_invalid);
    void fail_shape(int64_t id, Batch &b);
    void on_message(const std::string &content, Batch &b);
    void flush_inserts(Batch &b);
    bool step_inner(int batch_changes, int chunk_bytes, int64_t max_log_bytes);

    std::string slot_;
    svc::ShapeHub &hub_;
    bool loaded_ = false;
    uint64_t processed_lsn_ = 0;  // recorded in engine_state (exactly-once skip point)
    uint64_t last_seen_lsn_ = 0;  // newest commit decoded (global_last_seen_lsn)
    uint64_t decoded_end_ = 0;    // end of the newest commit record decoded
    uint64_t pending_end_ = 0, advanced_end_ = 0;  // slot confirmation (throttled)
    int64_t last_advance_ = 0, last_standby_snapshot_ = 0;
    uint64_t engine_commit_end_ = 0;  // end of our newest commit record (flushed before confirming)
    std::unordered_map<int64_t, std::unique_ptr<RoutedShape>> shapes_;
    // Shapes of one table: all of them, the ones whose where must be evaluated for every change
    // (scan), and an index attnum -> column text -> shapes for `col = const` / `col IN (...)`.
    struct RelRoute {
        std::vector<RoutedShape *> all, scan;
        std::unordered_map<int, std::unordered_map<std::string, std::vector<RoutedShape *>>> index;
    };
    void route_add(RoutedShape *s);
    void route_remove(RoutedShape *s);
    std::unordered_map<uint32_t, RelRoute> by_rel_;
    uint64_t visit_stamp_ = 0;
    std::vector<RoutedShape *> cand_;  // routing scratch
    // Decoding: one context kept across batches (the plugin's options, incl. a skip-origin per
    // snapshot origin), its output rows and their parser (relations are described once per
    // context, so the parser lives as long as the context).
    SlotReader reader_;
    std::vector<std::pair<std::string, std::string>> decode_opts_;
    std::vector<std::string> rows_;
    decoding::Decoder dec_;
    uint64_t dec_generation_ = 0;
};

}  // namespace es
