// Deliberately bad: a thread-side file that includes a Postgres server header after others.
// test/barrier/run.sh compiles it with the thread side's flags and expects the barrier's error.
#include <string>
#include "hub/shape_hub.hpp"
#include "postgres.h"
int barrier_bad() { return 0; }
