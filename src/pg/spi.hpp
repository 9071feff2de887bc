// SPI and transaction helpers for C++ code on the worker's main thread (and SQL functions).
// Every call is wrapped in pg_guard: a Postgres ERROR becomes es::PgException, and results are
// copied into C++ values before returning, so callers never hold palloc'd memory.
#pragma once
#include "pg/compat.hpp"

#include <optional>
#include <string>
#include <vector>

namespace es::spi {

using Value = std::optional<std::string>;
using Row = std::vector<Value>;

struct Result {
    std::vector<std::string> columns;
    std::vector<Row> rows;
    uint64 processed = 0;
};

// Runs sql with text parameters ($1..$n are of type text: cast them in the SQL) and copies the
// result. Must be called inside a transaction with SPI connected (see Tx).
Result exec(const std::string &sql, const std::vector<Value> &args = {}, long max_rows = 0);

// One transaction on the worker's main thread: start + SPI_connect + snapshot; commit() or the
// destructor aborts. Not for use inside SQL functions (they already run in a transaction).
class Tx {
public:
    explicit Tx(const char *activity = nullptr);
    ~Tx();
    void commit();
    Tx(const Tx &) = delete;
    Tx &operator=(const Tx &) = delete;

private:
    bool open_ = false;
};

}  // namespace es::spi
