// Routing (see router.hpp).
#include "pg/compat.hpp"
#include "engine/router.hpp"
#include "pg/spi.hpp"
#include "shape/where.hpp"

#include <algorithm>

namespace es {

RoutedShape::RoutedShape() = default;
RoutedShape::~RoutedShape() = default;

void Router::add(RoutedShape *s) {
    RelRoute &rr = by_rel_[s->relid];
    rr.all.push_back(s);
    if (s->compiled->eq_attnum() > 0) {
        auto &ix = rr.index[s->compiled->eq_attnum()];
        for (auto &v : s->compiled->eq_values()) {
            auto &lst = ix[v];
            if (std::find(lst.begin(), lst.end(), s) == lst.end()) lst.push_back(s);
        }
    } else {
        rr.scan.push_back(s);
    }
}

void Router::remove(RoutedShape *s) {
    auto it = by_rel_.find(s->relid);
    if (it == by_rel_.end()) return;
    RelRoute &rr = it->second;
    auto drop = [s](std::vector<RoutedShape *> &v) { v.erase(std::remove(v.begin(), v.end(), s), v.end()); };
    drop(rr.all);
    drop(rr.scan);
    for (auto ix = rr.index.begin(); ix != rr.index.end();) {
        for (auto kv = ix->second.begin(); kv != ix->second.end();) {
            drop(kv->second);
            kv = kv->second.empty() ? ix->second.erase(kv) : std::next(kv);
        }
        ix = ix->second.empty() ? rr.index.erase(ix) : std::next(ix);
    }
    if (rr.all.empty()) by_rel_.erase(it);
}

const Router::RelRoute *Router::table(uint32_t relid) const {
    auto it = by_rel_.find(relid);
    return it == by_rel_.end() || it->second.all.empty() ? nullptr : &it->second;
}

void Router::consider(RoutedShape *s) {
    if (s->visit == visit_stamp_) return;
    s->visit = visit_stamp_;
    cand_.push_back(s);
}

const std::vector<RoutedShape *> &Router::candidates(const RelRoute &rr, const RelAttrs &ra,
                                                     const electric::RowValues &newr, const electric::RowValues &oldr) {
    cand_.clear();
    ++visit_stamp_;
    for (RoutedShape *s : rr.scan) consider(s);
    for (auto &ix : rr.index) {
        int ci =
            ix.first > 0 && static_cast<size_t>(ix.first) < ra.col_of_attnum.size() ? ra.col_of_attnum[ix.first] : -1;
        if (ci < 0) {  // column not in this relation description: evaluate them all
            for (auto &kv : ix.second)
                for (RoutedShape *s : kv.second) consider(s);
            continue;
        }
        for (const electric::RowValues *r : {&newr, &oldr}) {
            if (static_cast<size_t>(ci) >= r->size() || !(*r)[ci]) continue;
            auto f = ix.second.find(std::string(*(*r)[ci]));
            if (f == ix.second.end()) continue;
            for (RoutedShape *s : f->second) consider(s);
        }
    }
    return cand_;
}

const RelAttrs &AttrCache::get(uint32_t relid, const decoding::RelationInfo &rel) {
    auto it = attrs_.find(relid);
    if (it != attrs_.end()) return it->second;
    RelAttrs ra;
    auto r = spi::exec("SELECT attname::text, attnum::text FROM pg_attribute WHERE attrelid = $1::oid AND attnum > 0",
                       {std::to_string(relid)});
    for (auto &row : r.rows) {
        int an = std::stoi(*row[1]);
        if (row[0]) ra.attnum[*row[0]] = an;
        ra.natts = std::max(ra.natts, an);
    }
    ra.col_of_attnum.assign(ra.natts + 1, -1);
    for (size_t i = 0; i < rel.columns.size(); i++) {
        auto f = ra.attnum.find(rel.columns[i].name);
        if (f != ra.attnum.end()) ra.col_of_attnum[f->second] = static_cast<int>(i);
    }
    return attrs_.emplace(relid, std::move(ra)).first->second;
}

}  // namespace es
