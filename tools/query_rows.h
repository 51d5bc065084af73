// Query-set preparation shared by train-filter and eval-filter: choosing a range of
// query rows, and centring base and queries on the base mean.
#pragma once

#include <cstddef>
#include <string>

#include "quiver/matrix.h"

namespace quiver::cli {

struct RowRange {
  std::size_t first = 0;
  std::size_t last = 0;  // exclusive
};

// "FIRST:LAST", rows FIRST..LAST-1 of `rows`. Throws InvalidArgument naming `option`.
RowRange parse_range(const std::string& text, const char* option, std::size_t rows);

// Subtracts the base vectors' mean from base and queries alike, so that cosine measures
// angles around the data's centre rather than around the origin (for pixels, all positive,
// every pair of images would otherwise look alike).
void center_by_base_mean(Matrix& base, Matrix& queries);

}  // namespace quiver::cli
