// Features of one query's own top-k score distribution, quiver's addition to the Cosine
// Adapter's input: how high the best hit scores and how fast scores fall off tell a tight
// neighbourhood (many relevant hits) from a diffuse one, whatever the query's score scale.
#pragma once

#include <cstddef>
#include <span>

namespace quiver::filters {

inline constexpr std::size_t score_feature_count = 12;

// Writes score_feature_count features of `scores` (standardised similarities, any order,
// at least one) to `out`: the top score, the last (rank-k) score, mean and standard
// deviation, the first three gaps between consecutive scores, and the drop from the top
// to ranks 2, 5, 10, 20 and 50 (clamped to the last rank when fewer hits are given).
void score_features(std::span<const double> scores, std::span<double> out);

}  // namespace quiver::filters
