// The read path's engine on the worker's main thread: consumes the slot (our output plugin),
// routes each change to the shapes whose where clause it matches (router), turns it into each
// shape's Electric messages (core/electric/row_change), appends them to the shape logs and
// records the processed LSN in the same transaction (log_store), publishes to the in-memory
// ShapeHub after the commit (waking waiting requests), then confirms the slot (throttled, after
// flushing the batch's WAL).
#pragma once
#include "core/decode/decoding_format.hpp"
#include "decode/slot_reader.hpp"
#include "engine/router.hpp"
#include "hub/shape_hub.hpp"
#include "pg/compat.hpp"

#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <unordered_map>
#include <vector>

namespace es {

class ShapeEngine {
public:
    ShapeEngine(std::string slot, svc::ShapeHub &hub);
    ~ShapeEngine();
    // One batch; returns true when the batch was full (more is probably waiting).
    // max_log_bytes: rotate a shape whose log grows past it (0 = never).
    bool step(int batch_changes, int chunk_bytes, int64_t max_log_bytes);
    // Forget all state (the extension was dropped or re-created).
    void reset();
    // True once after a batch that decoded a devices_changed message (revoke_device).
    bool take_devices_changed() { return std::exchange(devices_changed_, false); }

private:
    struct Batch;
    // Loading shapes and the decoding options.
    void load_all();
    RoutedShape *load_shape(int64_t id);
    // The steps of one batch, in order.
    bool step_inner(int batch_changes, int chunk_bytes, int64_t max_log_bytes);
    void read_batch(int batch_changes);
    void apply(const decoding::Record &rec, Batch &b);
    void on_begin(const decoding::Record &rec, Batch &b);
    void on_commit(const decoding::Record &rec, Batch &b);
    void on_truncate(const decoding::Record &rec, Batch &b);
    void on_message(const std::string &content, Batch &b);
    void on_change(const decoding::Record &rec, Batch &b);
    void finish_batch(Batch &b);
    void publish(Batch &b);
    void confirm_slot(const Batch &b);
    // Shape lifecycle inside a batch.
    void drop_shape(int64_t id, Batch &b, const char *reason, bool mark_invalid);
    void fail_shape(int64_t id, Batch &b);
    void snapshot_applied(int64_t id, Batch &b);
    bool snapshot_missed_commit(int64_t id, const std::vector<uint32_t> &xids);
    bool where_matches(RoutedShape *s, const RelAttrs &ra, const electric::RowValues &r, Batch &b,
                       const decoding::RelationInfo &rel);

    std::string slot_;
    svc::ShapeHub &hub_;
    bool loaded_ = false;
    bool devices_changed_ = false;
    uint64_t processed_lsn_ = 0;  // recorded in engine_state (exactly-once skip point)
    uint64_t last_seen_lsn_ = 0;  // newest commit decoded (global_last_seen_lsn)
    uint64_t decoded_end_ = 0;  // end of the newest commit record decoded
    uint64_t pending_end_ = 0, advanced_end_ = 0;  // slot confirmation (throttled)
    int64_t last_advance_ = 0, last_standby_snapshot_ = 0;
    uint64_t engine_commit_end_ = 0;  // end of our newest commit record (flushed before confirming)
    std::unordered_map<int64_t, std::unique_ptr<RoutedShape>> shapes_;
    Router router_;
    AttrCache attrs_;
    // Decoding: one context kept across batches (the plugin's options, incl. a skip-origin per
    // snapshot origin), its output rows and their parser (relations are described once per
    // context, so the parser lives as long as the context).
    SlotReader reader_;
    std::vector<std::pair<std::string, std::string>> decode_opts_;
    std::vector<std::string> rows_;
    decoding::Decoder dec_;
    uint64_t dec_generation_ = 0;
    std::vector<std::optional<std::string>> wvals_;  // where evaluation scratch
    // The latest decoded commits, as (xid, table changed) pairs, for the snapshot race check.
    std::deque<std::pair<uint32_t, uint32_t>> recent_commits_;
    static constexpr size_t kRecentCommits = 16384;  // far beyond the race window; scanned per new shape
};

}  // namespace es
