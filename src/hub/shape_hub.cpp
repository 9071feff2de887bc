#include "hub/shape_hub.hpp"

#include <algorithm>
#include <chrono>

namespace es::svc {

LogOffset Shape::log_end() const {
    if (log_.empty()) return LogOffset::snapshot_end();
    return log_.back().off;
}

LogSlice Shape::slice_after(const LogOffset &after) const {
    LogSlice s;
    s.last = after;
    auto it = std::upper_bound(log_.begin(), log_.end(), after,
                               [](const LogOffset &o, const LogEntry &e) { return o < e.off; });
    if (it == log_.end()) {
        s.up_to_date = true;
        return s;
    }
    for (; it != log_.end(); ++it) {
        s.entries.push_back(&it->json);
        s.last = it->off;
        if (it->chunk_end) break;
    }
    s.up_to_date = it == log_.end() || std::next(it) == log_.end();
    return s;
}

LogEntry log_entry_from_row(const std::string &lsn, const std::string &op, const std::string &chunk_end,
                            std::string entry) {
    LogEntry e;
    e.off = LogOffset::at(std::stoull(lsn), std::stoull(op));
    e.chunk_end = chunk_end == "t" || chunk_end == "true";
    e.json = std::move(entry);
    return e;
}

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

void Shape::wake_locked(std::vector<std::function<void()>> &out) {
    for (auto &w : waiters_) out.push_back(std::move(w.second));
    waiters_.clear();
}

static void run_all(std::vector<std::function<void()>> &fns) {
    for (auto &f : fns) {
        try {
            f();
        } catch (...) {}
    }
}

void Shape::set_snapshot(std::vector<std::string> chunks) {
    std::vector<std::function<void()>> fns;
    {
        std::lock_guard<std::mutex> g(mu_);
        if (status_ == Status::Gone || status_ == Status::Failed || has_snapshot_) return;
        snapshot_ = std::move(chunks);
        snapshot_count_ = snapshot_.size();
        snapshot_bytes_ = 0;
        for (auto &c : snapshot_) snapshot_bytes_ += c.size();
        snapshot_used_ms_ = now_ms();
        has_snapshot_ = true;
        if (has_log_) status_ = Status::Ready;
        wake_locked(fns);
    }
    run_all(fns);
}

void Shape::set_snapshot_stored(size_t count) {
    std::vector<std::function<void()>> fns;
    {
        std::lock_guard<std::mutex> g(mu_);
        if (status_ == Status::Gone || status_ == Status::Failed || has_snapshot_) return;
        snapshot_.clear();
        snapshot_count_ = count;
        snapshot_bytes_ = 0;
        has_snapshot_ = true;
        if (has_log_) status_ = Status::Ready;
        wake_locked(fns);
    }
    run_all(fns);
}

const std::string *Shape::snapshot_chunk(size_t k, int64_t now) {
    if (k >= snapshot_.size()) return nullptr;
    snapshot_used_ms_ = now;
    return &snapshot_[k];
}

size_t Shape::evict_snapshot() {
    std::lock_guard<std::mutex> g(mu_);
    size_t freed = snapshot_bytes_;
    std::vector<std::string>().swap(snapshot_);
    snapshot_bytes_ = 0;
    return freed;
}

bool Shape::has_snapshot() const {
    std::lock_guard<std::mutex> g(mu_);
    return has_snapshot_;
}

void Shape::set_log(std::vector<LogEntry> log) {
    std::vector<std::function<void()>> fns;
    {
        std::lock_guard<std::mutex> g(mu_);
        if (status_ == Status::Gone || status_ == Status::Failed || has_log_) return;
        log_ = std::move(log);
        log_bytes_ = 0;
        for (auto &e : log_) log_bytes_ += e.json.size();
        for (auto &e : pending_) {
            if (!log_.empty() && !(log_.back().off < e.off)) continue;
            log_bytes_ += e.json.size();
            log_.push_back(std::move(e));
        }
        pending_.clear();
        has_log_ = true;
        if (has_snapshot_) status_ = Status::Ready;
        wake_locked(fns);
    }
    run_all(fns);
}

void Shape::append(std::vector<LogEntry> entries) {
    if (entries.empty()) return;
    std::vector<std::function<void()>> fns;
    {
        std::lock_guard<std::mutex> g(mu_);
        if (status_ == Status::Gone) return;
        auto &dst = has_log_ ? log_ : pending_;
        for (auto &e : entries) {
            if (!dst.empty() && !(dst.back().off < e.off)) continue;
            if (has_log_) log_bytes_ += e.json.size();
            dst.push_back(std::move(e));
        }
        if (has_log_) wake_locked(fns);
    }
    run_all(fns);
}

void Shape::set_gone() {
    std::vector<std::function<void()>> fns;
    {
        std::lock_guard<std::mutex> g(mu_);
        status_ = Status::Gone;
        wake_locked(fns);
    }
    run_all(fns);
}

void Shape::set_failed(int http_status, std::string body) {
    std::vector<std::function<void()>> fns;
    {
        std::lock_guard<std::mutex> g(mu_);
        if (status_ != Status::Loading) return;
        status_ = Status::Failed;
        failure_status_ = http_status;
        failure_body_ = std::move(body);
        wake_locked(fns);
    }
    run_all(fns);
}

void Shape::set_stopped(int http_status, std::string body) {
    std::vector<std::function<void()>> fns;
    {
        std::lock_guard<std::mutex> g(mu_);
        if (status_ == Status::Gone) return;
        status_ = Status::Failed;
        failure_status_ = http_status;
        failure_body_ = std::move(body);
        wake_locked(fns);
    }
    run_all(fns);
}

uint64_t Shape::wait(std::function<void()> fn) {
    std::lock_guard<std::mutex> g(mu_);
    uint64_t id = next_wait_id_++;
    waiters_.emplace_back(id, std::move(fn));
    return id;
}

uint64_t Shape::wait_unless_data(const LogOffset &after, std::function<void()> fn) {
    std::lock_guard<std::mutex> g(mu_);
    if (status_ == Status::Gone || status_ == Status::Failed) return 0;
    if (status_ == Status::Ready && !log_.empty() && after < log_.back().off) return 0;
    uint64_t id = next_wait_id_++;
    waiters_.emplace_back(id, std::move(fn));
    return id;
}

void Shape::cancel_wait(uint64_t id) {
    std::lock_guard<std::mutex> g(mu_);
    for (size_t i = 0; i < waiters_.size(); i++)
        if (waiters_[i].first == id) {
            waiters_[i] = std::move(waiters_.back());
            waiters_.pop_back();
            return;
        }
}

size_t Shape::waiting() const {
    std::lock_guard<std::mutex> g(mu_);
    return waiters_.size();
}

size_t Shape::log_bytes() const {
    std::lock_guard<std::mutex> g(mu_);
    return log_bytes_;
}

ShapePtr ShapeHub::by_handle(const std::string &handle) const {
    std::lock_guard<std::mutex> g(mu_);
    auto it = by_handle_.find(handle);
    return it == by_handle_.end() ? nullptr : it->second;
}

ShapePtr ShapeHub::by_id(int64_t id) const {
    std::lock_guard<std::mutex> g(mu_);
    auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : it->second;
}

ShapePtr ShapeHub::by_definition(const std::string &def) const {
    std::lock_guard<std::mutex> g(mu_);
    auto it = by_def_.find(def);
    if (it == by_def_.end()) return nullptr;
    auto s = by_id_.find(it->second);
    return s == by_id_.end() ? nullptr : s->second;
}

ShapePtr ShapeHub::add(ShapeInfo info, const std::string &def) {
    std::lock_guard<std::mutex> g(mu_);
    auto it = by_id_.find(info.id);
    ShapePtr s;
    if (it != by_id_.end() && it->second->info().handle == info.handle) {
        s = it->second;
    } else {
        // A new shape, or an id reused by a re-created extension: the old object is gone.
        if (it != by_id_.end()) {
            it->second->set_gone();
            by_handle_.erase(it->second->info().handle);
        }
        s = std::make_shared<Shape>(info);
        by_id_[info.id] = s;
        by_handle_[info.handle] = s;
    }
    if (!def.empty()) by_def_[def] = info.id;
    return s;
}

void ShapeHub::forget_definition(const std::string &def, int64_t id) {
    std::lock_guard<std::mutex> g(mu_);
    auto it = by_def_.find(def);
    if (it != by_def_.end() && it->second == id) by_def_.erase(it);
}

void ShapeHub::remove(const ShapePtr &s) {
    std::lock_guard<std::mutex> g(mu_);
    int64_t id = s->info().id;
    auto it = by_id_.find(id);
    if (it == by_id_.end() || it->second != s) return;
    by_id_.erase(it);
    auto h = by_handle_.find(s->info().handle);
    if (h != by_handle_.end() && h->second == s) by_handle_.erase(h);
    for (auto d = by_def_.begin(); d != by_def_.end();) {
        if (d->second == id)
            d = by_def_.erase(d);
        else
            ++d;
    }
}

void ShapeHub::publish_append(int64_t id, std::vector<LogEntry> entries) {
    if (auto s = by_id(id)) s->append(std::move(entries));
}

void ShapeHub::publish_log(int64_t id, std::vector<LogEntry> log) {
    if (auto s = by_id(id)) s->set_log(std::move(log));
}

// The shape with this id, its definitions forgotten (a new request of them makes a new shape).
ShapePtr ShapeHub::detach_definitions(int64_t id) {
    std::lock_guard<std::mutex> g(mu_);
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return nullptr;
    for (auto d = by_def_.begin(); d != by_def_.end();) {
        if (d->second == id)
            d = by_def_.erase(d);
        else
            ++d;
    }
    return it->second;
}

void ShapeHub::publish_gone(int64_t id) {
    if (ShapePtr s = detach_definitions(id)) s->set_gone();
}

void ShapeHub::publish_failed(int64_t id, int http_status, std::string body) {
    if (ShapePtr s = detach_definitions(id)) s->set_stopped(http_status, std::move(body));
}

void ShapeHub::clear() {
    std::unordered_map<int64_t, ShapePtr> old;
    {
        std::lock_guard<std::mutex> g(mu_);
        old.swap(by_id_);
        by_handle_.clear();
        by_def_.clear();
    }
    for (auto &p : old) p.second->set_gone();
    global_lsn_ = 0;
}

size_t ShapeHub::trim_snapshots(size_t budget) {
    struct Held {
        int64_t used;
        size_t bytes;
        ShapePtr s;
    };
    std::vector<Held> held;
    size_t total = 0;
    for (auto &s : all()) {
        std::lock_guard<std::mutex> g(s->mutex());
        if (s->snapshot_bytes() == 0) continue;
        held.push_back({s->snapshot_used_ms(), s->snapshot_bytes(), s});
        total += s->snapshot_bytes();
    }
    if (total <= budget) return total;
    std::sort(held.begin(), held.end(), [](const Held &a, const Held &b) { return a.used < b.used; });
    for (auto &h : held) {
        if (total <= budget) break;
        size_t freed = h.s->evict_snapshot();
        total -= std::min(total, freed);
    }
    return total;
}

std::vector<ShapePtr> ShapeHub::all() const {
    std::lock_guard<std::mutex> g(mu_);
    std::vector<ShapePtr> out;
    for (auto &p : by_id_) out.push_back(p.second);
    return out;
}

}  // namespace es::svc
