// Messages to the engine (see engine_message.hpp).
#include "core/common/engine_message.hpp"

#include <charconv>

namespace es::engine_message {

namespace {
struct Entry {
    Kind kind;
    const char *name;
};
constexpr Entry kKinds[] = {
    {Kind::ShapeCreated, "shape_created"},
    {Kind::ShapeSnapshot, "shape_snapshot"},
    {Kind::ShapeDeleted, "shape_deleted"},
    {Kind::ShapeInvalidated, "shape_invalidated"},
    {Kind::DevicesChanged, "devices_changed"},
};
}  // namespace

const char *name(Kind k) {
    for (const Entry &e : kKinds)
        if (e.kind == k) return e.name;
    return "";
}

std::optional<Kind> kind_named(std::string_view n) {
    for (const Entry &e : kKinds)
        if (n == e.name) return e.kind;
    return std::nullopt;
}

std::string encode(Kind k, int64_t shape_id, std::string_view detail) {
    std::string out = name(k);
    out += ' ';
    out += std::to_string(shape_id);
    if (!detail.empty()) {
        out += ' ';
        out += detail;
    }
    return out;
}

std::optional<Message> parse(std::string_view content) {
    size_t sp = content.find(' ');
    if (sp == std::string_view::npos) return std::nullopt;
    auto kind = kind_named(content.substr(0, sp));
    if (!kind) return std::nullopt;
    std::string_view rest = content.substr(sp + 1);
    size_t end = rest.find(' ');
    std::string_view id = rest.substr(0, end);
    int64_t v = 0;
    auto [p, ec] = std::from_chars(id.data(), id.data() + id.size(), v);
    if (ec != std::errc() || p != id.data() + id.size() || id.empty()) return std::nullopt;
    return Message{*kind, v};
}

}  // namespace es::engine_message
