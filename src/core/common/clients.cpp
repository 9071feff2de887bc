// Who is connected (clients.hpp).
#include "core/common/clients.hpp"

#include <algorithm>

namespace es::clients {

Registry::Registry(size_t max_clients) : max_(std::max<size_t>(max_clients, 1)) {}

void Registry::set_max_clients(size_t n) {
    std::lock_guard<std::mutex> g(mu_);
    max_ = std::max<size_t>(n, 1);
    trim();
}

Client &Registry::touch(const std::string &id, const std::string &user_agent, int64_t now) {
    auto it = by_id_.find(id);
    if (it != by_id_.end()) {
        lru_.splice(lru_.begin(), lru_, it->second);
    } else {
        lru_.emplace_front();
        lru_.front().client_id = id;
        lru_.front().first_seen_ms = now;
        by_id_[id] = lru_.begin();
        trim();
    }
    Client &c = lru_.front();
    c.last_seen_ms = now;
    c.requests++;
    c.version++;
    if (!user_agent.empty()) c.user_agent = user_agent.substr(0, kMaxUserAgent);
    return c;
}

void Registry::trim() {
    while (lru_.size() > max_) {
        const std::string &id = lru_.back().client_id;
        dropped_.push_back(id);
        taken_.erase(id);
        by_id_.erase(id);
        lru_.pop_back();
    }
    // dropped_ grows with what trim removes between two takes; capped in case takes stop.
    if (dropped_.size() > 4 * max_) dropped_.erase(dropped_.begin(), dropped_.begin() + (dropped_.size() - 4 * max_));
}

void Registry::note_reader(const ReaderIdentity &who, const std::string &user_agent, int status,
                           const std::string &handle, const std::string &offset, bool up_to_date, int64_t now) {
    std::string id = !who.device.empty() ? "device:" + who.device
        : !who.subject.empty()           ? "sub:" + who.role + ":" + who.subject
        : !who.role.empty()              ? "role:" + who.role
        : who.admin                      ? std::string("admin")
                                         : std::string("public");
    std::lock_guard<std::mutex> g(mu_);
    Client &c = touch(id, user_agent, now);
    c.kind = "reader";
    c.role = who.role;
    c.device = who.device;
    c.subject = who.subject;
    c.last_status = status;
    if (status >= 400 && status != 409) {
        c.errors++;
        c.status = "error";
    } else {
        c.status = status == 409 || !up_to_date ? "syncing" : "idle";
    }
    if (!handle.empty() && !offset.empty()) {
        auto s = std::find_if(c.shapes.begin(), c.shapes.end(), [&](const ShapeSeen &x) { return x.handle == handle; });
        if (s != c.shapes.end()) c.shapes.erase(s);
        c.shapes.insert(c.shapes.begin(), ShapeSeen{handle, offset, up_to_date, now});
        if (c.shapes.size() > kMaxShapes) c.shapes.resize(kMaxShapes);
    }
}

void Registry::note_oversync(const std::string &user, const std::string &source, const std::string &user_agent,
                             int status, bool pending, int64_t pull_after, int64_t now) {
    std::lock_guard<std::mutex> g(mu_);
    Client &c = touch("oversync:" + user + "/" + source, user_agent, now);
    c.kind = "oversync";
    c.user = user;
    c.source = source;
    c.last_status = status;
    if (status >= 400) {
        c.errors++;
        c.status = "error";
    } else {
        c.status = pending ? "syncing" : "idle";
    }
    if (pull_after >= 0 && status < 400) c.last_pull_after = pull_after;
}

Registry::Changes Registry::take_changes() {
    std::lock_guard<std::mutex> g(mu_);
    Changes out;
    // A client dropped and seen again since is not dropped: it is upserted with the changes.
    for (std::string &id : dropped_)
        if (!by_id_.count(id)) out.dropped.push_back(std::move(id));
    dropped_.clear();
    for (const Client &c : lru_) {
        uint64_t &v = taken_[c.client_id];
        if (v == c.version) continue;
        v = c.version;
        out.changed.push_back(c);
    }
    return out;
}

Counts Registry::counts() const {
    std::lock_guard<std::mutex> g(mu_);
    Counts n;
    for (const Client &c : lru_) {
        (c.kind == "oversync" ? n.oversync : n.readers)++;
        (c.status == "error" ? n.error : c.status == "syncing" ? n.syncing : n.idle)++;
    }
    return n;
}

size_t Registry::size() const {
    std::lock_guard<std::mutex> g(mu_);
    return lru_.size();
}

}  // namespace es::clients
