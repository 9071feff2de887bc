// Who is connected (docs/authorization.md, "Who is connected"): a bounded, sampled record of
// the clients the HTTP side has answered, for the electric_sync.clients view and /v1/metrics.
// Pure C++, thread-safe. The HTTP threads call note_*() once per response; every 2 s the
// service takes the changed entries and writes them to electric_sync.client_activity through
// the DB pool.
//
// Bounds: at most max_clients entries (the least recently seen is dropped first), at most
// kMaxShapes shapes per client (the most recent), user agents cut at 256 bytes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace es::clients {

inline constexpr size_t kMaxShapes = 4;
inline constexpr size_t kMaxUserAgent = 256;
inline constexpr size_t kMaxDocuments = 16;

// A reader of /v1/shape: a device (device token), a token subject, a role without subject,
// the administrator's secret ("admin") or anyone (read_auth = none: "public").
struct ReaderIdentity {
    std::string role, device, subject;
    bool admin = false;
};

struct ShapeSeen {
    std::string handle, offset;
    bool up_to_date = false;
    int64_t at_ms = 0;
};

struct Client {
    std::string client_id;  // "device:<id>", "sub:<role>:<sub>", "role:<role>", "admin", "public",
                            // "oversync:<user>/<source>", "synckit:<connection number>"
    std::string kind;  // "reader", "oversync" or "synckit"
    std::string role, device, subject;  // readers
    std::string user, source;  // oversync sources
    std::string user_agent;
    int64_t first_seen_ms = 0, last_seen_ms = 0;
    uint64_t requests = 0, errors = 0;
    int last_status = 0;
    // "idle" (up to date / nothing pending), "syncing" (catching up, a push or pull under way),
    // "error" (the last request failed).
    std::string status;
    std::vector<ShapeSeen> shapes;  // most recent first
    int64_t last_pull_after = -1;  // oversync: after_bundle_seq of the last pull (-1 = none)
    // synckit: the documents subscribed (at most kMaxDocuments). SyncKit connections are not
    // held here: the endpoint keeps their rows (synckit/endpoint.hpp, take_client_changes).
    std::vector<std::string> documents;
    uint64_t version = 0;  // bumped by every change
};

struct Counts {
    size_t readers = 0, oversync = 0, idle = 0, syncing = 0, error = 0;
};

class Registry {
public:
    explicit Registry(size_t max_clients = 10000);
    void set_max_clients(size_t n);

    // A /v1/shape response. handle/offset: its electric-handle / electric-offset headers ("" if
    // none); up_to_date: it carried electric-up-to-date.
    void note_reader(const ReaderIdentity &who, const std::string &user_agent, int status, const std::string &handle,
                     const std::string &offset, bool up_to_date, int64_t now_ms);
    // A /sync/ response of an authenticated source. pending: more to do (a push not committed
    // yet, a pull with has_more). pull_after: the pull's after_bundle_seq (-1: not a pull).
    // (Push positions are in the database: os_source_state.)
    void note_oversync(const std::string &user, const std::string &source, const std::string &user_agent,
                       int status, bool pending, int64_t pull_after, int64_t now_ms);

    // The entries changed since the last take (copies), and the ids dropped since then.
    struct Changes {
        std::vector<Client> changed;
        std::vector<std::string> dropped;
    };
    Changes take_changes();
    Counts counts() const;
    size_t size() const;

private:
    Client &touch(const std::string &id, const std::string &user_agent, int64_t now_ms);
    void trim();

    mutable std::mutex mu_;
    size_t max_;
    std::list<Client> lru_;  // most recently seen first
    std::unordered_map<std::string, std::list<Client>::iterator> by_id_;
    std::unordered_map<std::string, uint64_t> taken_;  // id -> version at the last take
    std::vector<std::string> dropped_;
};

}  // namespace es::clients
