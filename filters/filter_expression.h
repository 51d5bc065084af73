// The metadata filter language: `category = "shoes" AND price < 50 AND tags CONTAINS "sale"`.
// This parses an expression into a small tree and prints its normal form (the cache key);
// evaluating the tree against stored attributes is the AttributeStore's job (engine/).
//
//   expression := or
//   or         := and { OR and }
//   and        := unary { AND unary }
//   unary      := NOT unary | '(' expression ')' | predicate
//   predicate  := name ( op value | IN '(' value { ',' value } ')' | CONTAINS value )
//   op         := = | != | < | <= | > | >=
//   value      := "string" | 'string' | integer | decimal
//
// Keywords are case-insensitive, attribute names ([A-Za-z_][A-Za-z0-9_.]*) are not.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace quiver::filters {

enum class CompareOp { Equal, NotEqual, Less, LessEqual, Greater, GreaterEqual };

// "=", "!=", "<", "<=", ">", ">="
std::string_view to_string(CompareOp op);

using Literal = std::variant<std::int64_t, double, std::string>;

struct FilterNode {
  enum class Kind { Compare, In, Contains, Not, And, Or };
  Kind kind = Kind::Compare;
  std::string attribute;             // Compare, In, Contains
  CompareOp op = CompareOp::Equal;   // Compare
  std::vector<Literal> values;       // Compare and Contains: one; In: one or more
  std::vector<FilterNode> children;  // Not: one; And, Or: two or more (nested ones are flattened)
  std::size_t column = 0;            // 1-based column of the attribute name, for error messages
};

// Nesting deeper than this (parentheses or NOTs) is rejected: the parser recurses.
inline constexpr std::size_t max_filter_depth = 64;

// Throws quiver::InvalidArgument for a syntax error, naming the column and what was
// expected, e.g. "expected a value after '<' at column 17, found end of input".
FilterNode parse_filter(std::string_view text);

// The normal form: keywords upper-case, single spaces, only the parentheses precedence
// needs, numbers printed shortest-exact, strings double-quoted, and the operands of
// AND/OR and the values of IN sorted, so that expressions that differ only in those
// ways share a cache entry.
std::string normalise(const FilterNode& node);

}  // namespace quiver::filters
