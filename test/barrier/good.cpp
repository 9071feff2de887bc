// A thread-side file may include pure C++ headers of src/ and libpq.
#include "hub/shape_hub.hpp"
#include <libpq-fe.h>
int barrier_good() { return 0; }
