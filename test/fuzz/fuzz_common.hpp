// Shared helpers for the libFuzzer targets in test/fuzz/ (header only; not a target).
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

// An invariant the target checks: abort (libFuzzer records the input as a crash).
#define FUZZ_ASSERT(cond)                                                                        \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            std::fprintf(stderr, "FUZZ_ASSERT failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            std::abort();                                                                        \
        }                                                                                        \
    } while (0)

inline std::string_view fuzz_input(const uint8_t *data, size_t size) {
    return std::string_view(reinterpret_cast<const char *>(data), size);
}

// Every body the server sends must be JSON that nlohmann can parse.
inline void fuzz_assert_json(std::string_view body) { FUZZ_ASSERT(nlohmann::json::accept(body.begin(), body.end())); }
