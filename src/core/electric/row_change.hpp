// A decoded row change turned into the Electric messages one shape's clients receive (pure C++:
// the engine decides which shapes a change matches; this decides what each of them is told).
//
//   insert, or an update that moves the row into the shape    -> insert (the selected columns)
//   delete, or an update that moves the row out of the shape  -> delete (the key columns, or
//                                                                all selected with replica=full)
//   update inside the shape, key unchanged                    -> update (changed columns + key;
//                                                                all + old_value with replica=full)
//   update inside the shape that changes the key              -> delete of the old key then
//                                                                insert of the new one, linked by
//                                                                key_change_to / key_change_from
//   update that changes none of the selected columns          -> nothing
// The last message of a transaction for a shape gets "last": true (mark_last).
#pragma once
#include "core/electric/electric.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace es::electric {

// One tuple's values by column index of the decoded relation (nullopt: NULL or not sent).
using RowValues = std::vector<std::optional<std::string_view>>;

// What one shape selects, with each column's index in the decoded relation (-1: absent).
struct ShapeColumns {
    std::string_view schema, table;
    const std::vector<std::string> *columns = nullptr;  // selected, table order
    const std::vector<int> *column_index = nullptr;  // same order as columns
    const std::vector<std::string> *pk_columns = nullptr;
    const std::vector<int> *pk_index = nullptr;
    bool full = false;  // replica=full: old values on updates, whole rows on deletes
};

enum class RowOp { Insert, Update, Delete };

struct RowChange {
    RowOp op = RowOp::Insert;
    const RowValues *new_row = nullptr;  // insert and update
    const RowValues *old_row = nullptr;  // update and delete (may hold only the key columns)
    bool old_full = false;  // old_row has every column (REPLICA IDENTITY FULL)
    bool new_matches = false;  // the shape's where clause on the new row
    bool old_matches = false;  // ... on the old row (update, delete)
    uint64_t commit_lsn = 0;
    uint64_t op_base = 0;  // op position of the change: 2 * its index in the transaction
    uint32_t xid = 0;
};

using OffsetMessage = std::pair<LogOffset, std::string>;

// Appends the shape's messages for one change (0, 1 or 2) to out.
void row_change_messages(const ShapeColumns &shape, const RowChange &change, std::vector<OffsetMessage> &out);

// Marks an encoded change message as the last one of its transaction for the shape.
void mark_last(std::string &message);

}  // namespace es::electric
