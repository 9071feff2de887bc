// Catch2 (v2, Debian's catch2 package) test runner for the pure C++ core in src/core/.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
