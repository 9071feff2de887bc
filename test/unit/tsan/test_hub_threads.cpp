// The hub under ThreadSanitizer (make unit-tsan): the engine's publications, pool jobs and I/O
// threads meet only in ShapeHub/Shape, so their locking is exercised here with real threads,
// the way the worker uses them: one publisher (the main thread), several readers that park
// with wait_unless_data and read slices under the shape's lock, and lookups / trims in between.
#include <catch2/catch.hpp>

#include "hub/shape_hub.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

using namespace es::svc;
using es::electric::LogOffset;

namespace {

LogEntry entry(uint64_t lsn, bool chunk_end) {
    LogEntry e;
    e.off = LogOffset::at(lsn, 0);
    e.chunk_end = chunk_end;
    e.json = "{\"lsn\":" + std::to_string(lsn) + "}";
    return e;
}

ShapeInfo info(int64_t id) {
    ShapeInfo i;
    i.id = id;
    i.handle = std::to_string(id) + "-h";
    i.schema_name = "public";
    i.table_name = "t";
    return i;
}

}  // namespace

TEST_CASE("hub: one publisher and parked readers see every entry once, in order", "[hub][tsan]") {
    ShapeHub hub;
    constexpr int kShapes = 4, kReaders = 6, kEntries = 400;
    for (int s = 1; s <= kShapes; s++) {
        ShapePtr sh = hub.add(info(s), "def" + std::to_string(s));
        sh->set_snapshot({"[]"});
        sh->set_log({});
    }
    std::atomic<bool> failed{false};
    std::vector<std::thread> readers;
    for (int r = 0; r < kReaders; r++) {
        readers.emplace_back([&, r] {
            int64_t id = 1 + r % kShapes;
            ShapePtr sh = hub.by_id(id);
            LogOffset at = LogOffset::at(0, 0);
            uint64_t seen = 0;
            while (seen < static_cast<uint64_t>(kEntries)) {
                {
                    std::lock_guard<std::mutex> g(sh->mutex());
                    LogSlice sl = sh->slice_after(at);
                    for (const std::string *e : sl.entries) {
                        seen++;
                        if (*e != "{\"lsn\":" + std::to_string(seen) + "}") failed = true;
                    }
                    if (!sl.entries.empty()) at = sl.last;
                }
                if (seen >= static_cast<uint64_t>(kEntries)) break;
                std::mutex m;
                std::condition_variable cv;
                bool woken = false;
                uint64_t w = sh->wait_unless_data(at, [&] {
                    std::lock_guard<std::mutex> g(m);
                    woken = true;
                    cv.notify_one();
                });
                if (w != 0) {
                    std::unique_lock<std::mutex> l(m);
                    if (!cv.wait_for(l, std::chrono::seconds(10), [&] { return woken; })) {
                        failed = true;
                        sh->cancel_wait(w);
                        return;
                    }
                }
            }
        });
    }
    std::thread lookups([&] {
        for (int i = 0; i < 2000; i++) {
            (void)hub.by_handle(std::to_string(1 + i % kShapes) + "-h");
            (void)hub.by_definition("def" + std::to_string(1 + i % kShapes));
            (void)hub.all();
            (void)hub.trim_snapshots(1 << 20);
            hub.set_global_lsn(i);
        }
    });
    // The main thread publishes, as the engine does after each commit.
    for (int n = 1; n <= kEntries; n++)
        for (int s = 1; s <= kShapes; s++) hub.publish_append(s, {entry(n, n % 10 == 0)});
    for (auto &t : readers) t.join();
    lookups.join();
    CHECK_FALSE(failed);
}

TEST_CASE("hub: shapes gone or failed while readers wait wake them all", "[hub][tsan]") {
    ShapeHub hub;
    ShapePtr a = hub.add(info(1), "a");
    ShapePtr b = hub.add(info(2), "b");
    for (auto &s : {a, b}) {
        s->set_snapshot({"[]"});
        s->set_log({});
    }
    std::atomic<int> woken{0};
    std::vector<std::thread> ts;
    for (int i = 0; i < 8; i++) {
        ts.emplace_back([&, i] {
            ShapePtr s = i % 2 ? a : b;
            std::mutex m;
            std::condition_variable cv;
            bool done = false;
            uint64_t w = s->wait([&] {
                std::lock_guard<std::mutex> g(m);
                done = true;
                cv.notify_one();
            });
            if (w == 0) return;  // counted as not woken
            std::unique_lock<std::mutex> l(m);
            if (cv.wait_for(l, std::chrono::seconds(10), [&] { return done; })) woken++;
        });
    }
    // let them park, then stop one shape and fail the other, from a third thread
    while (a->waiting() + b->waiting() < 8) std::this_thread::yield();
    std::thread engine([&] {
        hub.publish_gone(1);
        hub.publish_failed(2, 400, "{\"message\":\"stopped\"}");
    });
    engine.join();
    for (auto &t : ts) t.join();
    CHECK(woken == 8);
    CHECK(hub.by_definition("a") == nullptr);
}
