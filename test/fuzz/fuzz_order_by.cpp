// Subset order_by scanner (parse_order_by): bounds hold, and the SQL it renders parses back
// to the same items.
// fuzz-sources: src/core/electric/*.cpp src/core/common/json_limits.cpp src/core/common/utf8.cpp
#include "core/electric/order_by.hpp"
#include "core/common/utf8.hpp"
#include "fuzz_common.hpp"

using namespace es::electric;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    auto r = parse_order_by(fuzz_input(data, size));
    if (!r.ok()) {
        FUZZ_ASSERT(r.items.empty());
        return 0;
    }
    FUZZ_ASSERT(!r.items.empty() && r.items.size() <= kOrderByMaxItems);
    FUZZ_ASSERT(size <= kOrderByMaxBytes);
    for (auto &it : r.items) {
        FUZZ_ASSERT(!it.column.empty() && it.column.size() <= kOrderByMaxNameBytes);
        FUZZ_ASSERT(it.column.find('\0') == std::string::npos);
        FUZZ_ASSERT(es::utf8::valid(it.column));
    }
    std::string sql = order_by_sql(r.items);
    auto back = parse_order_by(sql);
    if (sql.size() <= kOrderByMaxBytes) {
        FUZZ_ASSERT(back.ok() && back.items.size() == r.items.size());
        for (size_t i = 0; i < r.items.size(); ++i) {
            FUZZ_ASSERT(back.items[i].column == r.items[i].column);
            FUZZ_ASSERT(back.items[i].descending == r.items[i].descending);
            FUZZ_ASSERT(back.items[i].nulls_first == r.items[i].nulls_first);
        }
    }
    return 0;
}
