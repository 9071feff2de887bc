// Messages to the engine. They travel through the WAL as transactional logical decoding
// messages (prefix "electric_sync"), so the engine sees them in commit order with the changes
// they concern. Content: "<kind> <shape id>[ <detail>]". Written by the SQL API (create_shape,
// and electric_sync._emit_message for delete_shape / _invalidate_shape) and by the snapshot
// jobs; read by the engine. This file is the only definition of the kinds and the format.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace es::engine_message {

inline constexpr const char *kPrefix = "electric_sync";

enum class Kind {
    ShapeCreated,  // a new shape: route its changes
    ShapeSnapshot,  // its snapshot is stored: filter the log against it and serve
    ShapeDeleted,  // DELETE /v1/shape or delete_shape(): stop and remove its log
    ShapeInvalidated,  // DDL, TRUNCATE, a disallowed function: stop and remove its log
    DevicesChanged,  // revoke_device(): reload the revoked devices (shape id 0, detail: the device)
};

const char *name(Kind k);
std::optional<Kind> kind_named(std::string_view name);
std::string encode(Kind k, int64_t shape_id, std::string_view detail = {});

struct Message {
    Kind kind;
    int64_t shape_id;
};
// nullopt: not one of ours (anyone may emit a message with our prefix).
std::optional<Message> parse(std::string_view content);

}  // namespace es::engine_message
