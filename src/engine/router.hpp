// Routing on the main thread: which shapes a decoded change may concern. Each table's shapes are
// kept as a scan list (where clauses that must be evaluated for every change) and an index
// attnum -> column text -> shapes for `col = const` / `col IN (...)` clauses, so a change costs
// work proportional to the shapes it can match.
#pragma once
#include "core/decode/decoding_format.hpp"
#include "core/electric/row_change.hpp"
#include "core/electric/shape_description.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace es {

class CompiledWhere;

// A shape as the engine routes it: its stored description, its compiled where clause and the
// engine's bookkeeping.
struct RoutedShape : electric::ShapeDescription {
    RoutedShape();
    ~RoutedShape();
    std::unique_ptr<CompiledWhere> compiled;
    bool filter_pending = false;  // snapshot not applied yet: entries stay unpublished
    // Transactions that changed the table and were decoded before the shape was created (so
    // none of their changes is in its log): if the snapshot still listed one of them as running,
    // the snapshot misses it too (see ShapeEngine::snapshot_applied).
    std::vector<uint32_t> committed_before;
    size_t chunk_acc = 0;  // bytes since the last chunk end
    uint64_t visit = 0;  // routing: already a candidate for this change
    int64_t log_bytes = 0;  // size of the stored log (rotation)
    bool stopped = false;  // its where exceeded where_eval_timeout: failed at batch end
};

// A table's attribute numbers against the decoded relation's column order.
struct RelAttrs {
    std::unordered_map<std::string, int> attnum;  // name -> attnum
    int natts = 0;  // max attnum (dropped included)
    std::vector<int> col_of_attnum;  // attnum -> column index in the decoded relation
};

class Router {
public:
    void add(RoutedShape *s);
    void remove(RoutedShape *s);
    void clear() { by_rel_.clear(); }
    // A table's shapes: all of them, the ones whose where must be evaluated for every change
    // (scan), and the index attnum -> column text -> shapes.
    struct RelRoute {
        std::vector<RoutedShape *> all, scan;
        std::unordered_map<int, std::unordered_map<std::string, std::vector<RoutedShape *>>> index;
    };
    // The table's shapes (nullptr: none).
    const RelRoute *table(uint32_t relid) const;
    // Candidates for one change of the table: every scan shape, plus the indexed shapes whose
    // key value the new or the old row has. Valid until the next call.
    const std::vector<RoutedShape *> &candidates(const RelRoute &rr, const RelAttrs &ra,
                                                 const electric::RowValues &newr, const electric::RowValues &oldr);

private:
    void consider(RoutedShape *s);
    std::unordered_map<uint32_t, RelRoute> by_rel_;
    uint64_t visit_stamp_ = 0;
    std::vector<RoutedShape *> cand_;
};

// RelAttrs per table, read from pg_attribute on first use in a batch and dropped when the
// decoder describes the relation again.
class AttrCache {
public:
    const RelAttrs &get(uint32_t relid, const decoding::RelationInfo &rel);
    void forget(uint32_t relid) { attrs_.erase(relid); }
    void clear() { attrs_.clear(); }

private:
    std::unordered_map<uint32_t, RelAttrs> attrs_;
};

}  // namespace es
