// Data preparation shared by train-filter and eval-filter: choosing a range of query
// rows, keeping only some classes in the base, and centring base and queries on the base
// mean.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "quiver/matrix.h"

namespace quiver::cli {

struct RowRange {
  std::size_t first = 0;
  std::size_t last = 0;  // exclusive
};

// "FIRST:LAST", rows FIRST..LAST-1 of `rows`. Throws InvalidArgument naming `option`.
RowRange parse_range(const std::string& text, const char* option, std::size_t rows);

// "0,2,4": class labels. Throws InvalidArgument naming `option` if the list is empty,
// malformed or repeats a class.
std::vector<std::int32_t> parse_class_list(const std::string& text, const char* option);

// Drops the base rows whose class is not in `classes`. Queries of the other classes then
// have no relevant result in the collection, and top-k still returns k results for them:
// the open-set case a relevance filter exists for. Throws InvalidArgument if the labels do
// not match the rows or no row is left.
void keep_base_classes(Matrix& base, std::vector<std::int32_t>& base_labels, std::span<const std::int32_t> classes);

// Subtracts the base vectors' mean from base and queries alike, so that cosine measures
// angles around the data's centre rather than around the origin (for pixels, all positive,
// every pair of images would otherwise look alike).
void center_by_base_mean(Matrix& base, Matrix& queries);

}  // namespace quiver::cli
