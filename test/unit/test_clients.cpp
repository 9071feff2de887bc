// electric_sync.clients' source: the bounded registry of clients the HTTP side answered.
#include <catch2/catch.hpp>

#include "core/common/clients.hpp"

using namespace es::clients;

TEST_CASE("clients: identities, status, shapes most recent first and bounded") {
    Registry r(10);
    ReaderIdentity dev{"app", "d-1", "alice", false};
    r.note_reader(dev, "agent/1", 200, "h1", "0_0", false, 1000);
    auto ch = r.take_changes();
    REQUIRE(ch.changed.size() == 1);
    const Client &c = ch.changed[0];
    CHECK(c.client_id == "device:d-1");
    CHECK(c.kind == "reader");
    CHECK(c.status == "syncing");  // not up to date yet
    CHECK(c.user_agent == "agent/1");
    CHECK(c.first_seen_ms == 1000);
    CHECK(r.take_changes().changed.empty());  // nothing changed since

    for (int i = 0; i < 6; i++)
        r.note_reader(dev, "", 200, "h" + std::to_string(i), std::to_string(i) + "_0", true, 2000 + i);
    ch = r.take_changes();
    REQUIRE(ch.changed.size() == 1);
    CHECK(ch.changed[0].status == "idle");
    CHECK(ch.changed[0].user_agent == "agent/1");  // kept when a request has none
    REQUIRE(ch.changed[0].shapes.size() == kMaxShapes);
    CHECK(ch.changed[0].shapes[0].handle == "h5");
    CHECK(ch.changed[0].shapes[3].handle == "h2");
    CHECK(ch.changed[0].requests == 7);

    r.note_reader(dev, "", 400, "", "", false, 3000);
    CHECK(r.take_changes().changed[0].status == "error");
    r.note_reader(dev, "", 409, "h9", "", false, 3001);
    CHECK(r.take_changes().changed[0].status == "syncing");  // must-refetch is normal

    r.note_reader(ReaderIdentity{"app", "", "bob", false}, "", 200, "", "", true, 1);
    r.note_reader(ReaderIdentity{"anon", "", "", false}, "", 200, "", "", true, 1);
    r.note_reader(ReaderIdentity{"", "", "", true}, "", 200, "", "", true, 1);
    r.note_reader(ReaderIdentity{}, "", 200, "", "", true, 1);
    std::vector<std::string> ids;
    for (auto &x : r.take_changes().changed) ids.push_back(x.client_id);
    CHECK(ids == std::vector<std::string>{"public", "admin", "role:anon", "sub:app:bob"});
    CHECK(r.counts().readers == 5);
}

TEST_CASE("clients: the least recently seen is dropped, and reported once") {
    Registry r(3);
    for (int i = 0; i < 5; i++) r.note_reader(ReaderIdentity{"app", "", "u" + std::to_string(i), false}, "", 200, "", "", true, i);
    CHECK(r.size() == 3);
    auto ch = r.take_changes();
    CHECK(ch.changed.size() == 3);
    CHECK(ch.dropped == std::vector<std::string>{"sub:app:u0", "sub:app:u1"});
    CHECK(r.take_changes().dropped.empty());
    r.set_max_clients(1);
    CHECK(r.size() == 1);
    CHECK(r.take_changes().dropped.size() == 2);
    r.note_reader(ReaderIdentity{"app", "", "x", false}, std::string(1000, 'a'), 200, "", "", true, 9);
    CHECK(r.take_changes().changed[0].user_agent.size() == kMaxUserAgent);
}

TEST_CASE("clients: oversync sources") {
    Registry r;
    r.note_oversync("u", "s", "oversqlite", 200, true, -1, 1);  // a push under way
    auto c = r.take_changes().changed.at(0);
    CHECK(c.client_id == "oversync:u/s");
    CHECK(c.kind == "oversync");
    CHECK(c.status == "syncing");
    CHECK(c.last_pull_after == -1);
    r.note_oversync("u", "s", "", 200, false, 42, 2);
    c = r.take_changes().changed.at(0);
    CHECK(c.status == "idle");
    CHECK(c.last_pull_after == 42);
    r.note_oversync("u", "s", "", 409, false, 7, 3);  // a failed pull does not move the position
    c = r.take_changes().changed.at(0);
    CHECK(c.status == "error");
    CHECK(c.last_pull_after == 42);
    Counts n = r.counts();
    CHECK(n.oversync == 1);
    CHECK(n.error == 1);
}
