// A bound on one where-clause evaluation (electric_sync.where_eval_timeout), for the worker.
//
// The main thread arms the watchdog around each evaluation (two relaxed stores and a coarse
// clock read). A watchdog thread, started with every signal blocked, looks every few
// milliseconds; when one evaluation has run longer than the limit it sends SIGUSR2 to the
// process (only the main thread takes signals). The handler, if that same evaluation is still
// running, sets Postgres' cancel flags, so the evaluation ends with an ERROR at its next
// CHECK_FOR_INTERRUPTS, and records that the watchdog fired. The thread never calls Postgres.
#pragma once

namespace es::watchdog {

// Starts the thread and installs the SIGUSR2 handler (worker only; idempotent).
void start();
// Stops and joins the thread (idempotent).
void stop();
// The limit in milliseconds (0 = none); read by the thread.
void set_limit_ms(int ms);

// While alive, one evaluation is running (main thread only; does not nest).
class Armed {
public:
    Armed();
    ~Armed();
    Armed(const Armed &) = delete;
    Armed &operator=(const Armed &) = delete;
};

// True (once) if the watchdog cancelled the evaluation that just ended.
bool take_fired();

}  // namespace es::watchdog
