// Row change -> Electric messages (see row_change.hpp).
#include "core/electric/row_change.hpp"

#include <algorithm>

namespace es::electric {
namespace {

std::optional<std::string_view> value_at(const RowValues &r, int ci) {
    return ci >= 0 && static_cast<size_t>(ci) < r.size() ? r[ci] : std::nullopt;
}

std::string key_of(const ShapeColumns &s, const RowValues &r) {
    std::string key;
    append_key_prefix(key, s.schema, s.table);
    for (int ci : *s.pk_index) append_key_part(key, value_at(r, ci));
    return key;
}

ColumnValues values_of(const std::vector<std::string> &names, const std::vector<int> &index, const RowValues &r) {
    ColumnValues v;
    v.reserve(names.size());
    for (size_t i = 0; i < names.size(); i++) v.emplace_back(names[i], value_at(r, index[i]));
    return v;
}

ColumnValues delete_values(const ShapeColumns &s, const RowValues &r) {
    return s.full ? values_of(*s.columns, *s.column_index, r) : values_of(*s.pk_columns, *s.pk_index, r);
}

struct Emitter {
    const ShapeColumns &s;
    const RowChange &c;
    std::vector<OffsetMessage> &out;

    void operator()(Operation op, const std::string &key, const ColumnValues &value, const ColumnValues *old,
                    uint64_t op_position, const std::string *key_change_to = nullptr,
                    const std::string *key_change_from = nullptr) const {
        LiveHeaders lh;
        lh.lsn = c.commit_lsn;
        lh.op_position = static_cast<int64_t>(op_position);
        lh.txids = {c.xid};
        ChangeMessage m;
        m.schema = s.schema;
        m.table = s.table;
        m.op = op;
        m.key = key;
        m.value = &value;
        m.old_value = old;
        m.live = &lh;
        if (key_change_to) m.key_change_to = *key_change_to;
        if (key_change_from) m.key_change_from = *key_change_from;
        std::string msg;
        append_change_message(msg, m);
        out.emplace_back(LogOffset::at(c.commit_lsn, op_position), std::move(msg));
    }
};

// An update that stays inside the shape.
void update_messages(const ShapeColumns &s, const RowChange &c, const Emitter &emit) {
    const RowValues &newr = *c.new_row;
    const RowValues &oldr = *c.old_row;
    std::string nk = key_of(s, newr);
    std::string ok = c.old_full ? key_of(s, oldr) : nk;
    if (ok != nk) {
        emit(Operation::Delete, ok, delete_values(s, oldr), nullptr, c.op_base, &nk);
        emit(Operation::Insert, nk, values_of(*s.columns, *s.column_index, newr), nullptr, c.op_base + 1, nullptr, &ok);
        return;
    }
    ColumnValues v, oldv;
    bool any = false;
    for (size_t i = 0; i < s.columns->size(); i++) {
        int ci = (*s.column_index)[i];
        if (ci < 0) continue;
        const std::string &name = (*s.columns)[i];
        auto nv = value_at(newr, ci);
        auto ov = c.old_full ? value_at(oldr, ci) : nv;
        bool changed = !c.old_full || nv != ov;
        bool is_pk = std::find(s.pk_columns->begin(), s.pk_columns->end(), name) != s.pk_columns->end();
        if (changed) {
            any = true;
            if (s.full) oldv.emplace_back(name, ov);
        }
        if (s.full || changed || is_pk) v.emplace_back(name, nv);
    }
    if (any) emit(Operation::Update, nk, v, s.full ? &oldv : nullptr, c.op_base);
}

}  // namespace

void row_change_messages(const ShapeColumns &s, const RowChange &c, std::vector<OffsetMessage> &out) {
    if (!c.new_matches && !c.old_matches) return;
    Emitter emit{s, c, out};
    if (c.op == RowOp::Insert || (c.op == RowOp::Update && c.new_matches && !c.old_matches)) {
        const RowValues &r = *c.new_row;
        emit(Operation::Insert, key_of(s, r), values_of(*s.columns, *s.column_index, r), nullptr, c.op_base);
    } else if (c.op == RowOp::Delete || !c.new_matches) {
        const RowValues &r = c.op == RowOp::Delete || c.old_full ? *c.old_row : *c.new_row;
        emit(Operation::Delete, key_of(s, r), delete_values(s, r), nullptr, c.op_base);
    } else {
        update_messages(s, c, emit);
    }
}

void mark_last(std::string &message) {
    if (message.size() < 2) return;
    message.resize(message.size() - 2);
    message += ",\"last\":true}}";
}

}  // namespace es::electric
