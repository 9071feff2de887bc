// SlotReader: in-process logical decoding of the worker's slot, walsender style. The slot is
// acquired once and one decoding context is kept across batches, so every WAL record is decoded
// once (pg_logical_slot_peek_changes restarts at the slot's restart point on every call, and
// pg_replication_slot_advance decodes the same WAL again). Main thread only.
#pragma once
#include "pg/compat.hpp"

#include <string>
#include <utility>
#include <vector>

struct LogicalDecodingContext;

namespace es {

class SlotReader {
public:
    explicit SlotReader(std::string slot) : slot_(std::move(slot)) {}
    ~SlotReader();
    SlotReader(const SlotReader &) = delete;
    SlotReader &operator=(const SlotReader &) = delete;

    // Appends the plugin's output rows for the WAL after the previous read (the first read
    // starts at the slot's restart point and skips what the slot confirmed) up to the WAL
    // flushed now, stopping after the record that reaches max_rows rows (so whole transactions,
    // as the plugin writes a transaction at its commit). Must run inside a transaction. Options
    // are the plugin's; other options than the open context's reopen it.
    // On any error (exception) the context is closed: the next read starts over from the slot.
    void read(const std::vector<std::pair<std::string, std::string>> &options, int max_rows,
              std::vector<std::string> &out);
    // Moves the slot's confirmed position (and, when possible, its restart point) to lsn.
    // Call only once what was read up to lsn is durably stored.
    void confirm(uint64_t lsn);
    // Frees the decoding context and releases the slot (idempotent). After an error too.
    void close();
    // Makes the next read() start over from the slot (no Postgres call: safe in any state).
    void invalidate() {
        if (ctx_ != nullptr) broken_ = true;
    }
    bool is_open() const { return ctx_ != nullptr; }
    // Incremented by every open: the plugin describes relations again in a new context.
    uint64_t generation() const { return generation_; }

private:
    void open(const std::vector<std::pair<std::string, std::string>> &options);

    std::string slot_;
    LogicalDecodingContext *ctx_ = nullptr;
    MemoryContext mcxt_ = nullptr;  // the options list and the decoding context
    bool broken_ = false;  // an error interrupted a batch: reopen before reading
    uint64_t generation_ = 0;
    std::vector<std::pair<std::string, std::string>> options_;
    std::vector<std::string> *out_ = nullptr;  // target of the write callback during read()
    bool write_failed_ = false;
    friend struct SlotReaderCallbacks;
};

}  // namespace es
