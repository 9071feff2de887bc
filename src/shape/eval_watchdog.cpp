// See eval_watchdog.hpp.
#include "pg/compat.hpp"
extern "C" {
#include "miscadmin.h"
#include "libpq/pqsignal.h"
}
#include "shape/eval_watchdog.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

namespace es::watchdog {

namespace {

std::atomic<int64_t> g_start_ms{0};  // start of the running evaluation (coarse clock)
std::atomic<uint64_t> g_seq{0};  // number of the running (or last) evaluation
std::atomic<uint64_t> g_signalled_seq{0};  // the evaluation the thread signalled
std::atomic<int> g_limit_ms{0};
volatile sig_atomic_t g_armed = 0;
volatile sig_atomic_t g_fired = 0;

std::thread *g_thread = nullptr;
std::mutex g_mu;
std::condition_variable g_cv;
bool g_stop = false;

int64_t coarse_ms() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Signal handler (main thread): cancel only the evaluation that was signalled.
void on_sigusr2(SIGNAL_ARGS) {
    int save_errno = errno;
    if (g_armed && g_seq.load(std::memory_order_relaxed) == g_signalled_seq.load(std::memory_order_relaxed)) {
        g_fired = 1;
        QueryCancelPending = true;
        InterruptPending = true;
    }
    errno = save_errno;
}

void run() {
    uint64_t signalled = 0;
    std::unique_lock<std::mutex> lk(g_mu);
    while (!g_stop) {
        int limit = g_limit_ms.load(std::memory_order_relaxed);
        int tick = limit <= 0 ? 100 : std::max(2, std::min(20, limit / 4));
        g_cv.wait_for(lk, std::chrono::milliseconds(tick));
        if (g_stop || limit <= 0 || !g_armed) continue;
        uint64_t seq = g_seq.load(std::memory_order_acquire);
        int64_t start = g_start_ms.load(std::memory_order_relaxed);
        // +4: the coarse clock's resolution.
        if (seq != signalled && coarse_ms() - start > limit + 4) {
            signalled = seq;
            g_signalled_seq.store(seq, std::memory_order_relaxed);
            kill(getpid(), SIGUSR2);
        }
    }
}

}  // namespace

void start() {
    if (g_thread) return;
    pqsignal(SIGUSR2, on_sigusr2);
    g_stop = false;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    try {
        g_thread = new std::thread(run);
    } catch (...) {
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
        throw;
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void stop() {
    if (!g_thread) return;
    {
        std::lock_guard<std::mutex> g(g_mu);
        g_stop = true;
    }
    g_cv.notify_all();
    g_thread->join();
    delete g_thread;
    g_thread = nullptr;
}

void set_limit_ms(int ms) { g_limit_ms.store(ms, std::memory_order_relaxed); }

Armed::Armed() {
    g_fired = 0;
    g_start_ms.store(coarse_ms(), std::memory_order_relaxed);
    g_seq.fetch_add(1, std::memory_order_release);
    g_armed = 1;
}

Armed::~Armed() {
    g_armed = 0;
    // Fired as the evaluation finished on its own: the cancel must not hit what comes next.
    if (g_fired) QueryCancelPending = false;
}

bool take_fired() {
    bool f = g_fired != 0;
    g_fired = 0;
    return f;
}

}  // namespace es::watchdog
