// Deliberately bad: a server header other than postgres.h (the server include directory is
// absent on the thread side, so it is not found).
#include "utils/elog.h"
int barrier_bad() { return 0; }
