// Subset `order_by` (§9) parser: a hand-written scanner, no regex (a std::regex over a long
// quoted identifier recursed once per character and overflowed the stack).
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace es::electric {

inline constexpr size_t kOrderByMaxBytes = 8192;  // whole input
inline constexpr size_t kOrderByMaxItems = 64;  // columns
inline constexpr size_t kOrderByMaxNameBytes = 63;  // NAMEDATALEN - 1, after unquoting

struct OrderByItem {
    std::string column;  // unquoted ("" -> "), plain names folded to lower case
    bool descending = false;  // DESC given
    std::optional<bool> nulls_first;  // NULLS FIRST -> true, NULLS LAST -> false, absent -> nullopt
};

struct OrderByResult {
    std::vector<OrderByItem> items;  // empty on error
    std::optional<std::string> error;  // message for the subset "order_by" field
    bool ok() const { return !error.has_value(); }
};

// Grammar (keywords case-insensitive, whitespace = space \t \n \r \f \v around tokens):
//   order_by := item ( "," item )*
//   item     := name [ ASC | DESC ] [ NULLS ( FIRST | LAST ) ]
//   name     := plain | quoted
//   plain    := [A-Za-z_\x80-\xff][A-Za-z0-9_$\x80-\xff]*      (ASCII folded to lower case)
//   quoted   := '"' ( any byte but '"' and NUL | '""' )+ '"'   (case kept, "" -> ")
// The first word of an item is always the column (so a column may be called asc or nulls).
// Not accepted: qualified names (t.c), expressions, positions (1), COLLATE, USING, comments,
// empty items, empty quoted names, names over 63 bytes, more than 64 items, input over
// 8192 bytes, invalid UTF-8. Never throws (except std::bad_alloc), never recurses.
OrderByResult parse_order_by(std::string_view input);

// SQL text for ORDER BY: each column double-quoted (quote_ident), then DESC and NULLS
// FIRST/LAST when given: "a" DESC NULLS LAST, "B"
std::string order_by_sql(const std::vector<OrderByItem> &items);

}  // namespace es::electric
