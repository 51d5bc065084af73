#include "filters/score_features.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <functional>
#include <vector>

namespace quiver::filters {
namespace {

constexpr std::size_t consecutive_gaps = 3;
constexpr std::array<std::size_t, 5> drop_ranks = {2, 5, 10, 20, 50};  // 1-based
static_assert(4 + consecutive_gaps + drop_ranks.size() == score_feature_count);

}  // namespace

void score_features(std::span<const double> scores, std::span<double> out) {
  assert(!scores.empty() && out.size() == score_feature_count);
  std::vector<double> sorted(scores.begin(), scores.end());
  std::sort(sorted.begin(), sorted.end(), std::greater<>());
  const std::size_t n = sorted.size();
  const auto at_rank = [&](std::size_t rank) { return sorted[std::min(rank, n) - 1]; };

  double mean = 0;
  for (const double s : sorted) mean += s;
  mean /= static_cast<double>(n);
  double variance = 0;
  for (const double s : sorted) variance += (s - mean) * (s - mean);
  variance /= static_cast<double>(n);

  std::size_t f = 0;
  out[f++] = sorted.front();
  out[f++] = sorted.back();
  out[f++] = mean;
  out[f++] = std::sqrt(variance);
  for (std::size_t g = 1; g <= consecutive_gaps; ++g) out[f++] = at_rank(g) - at_rank(g + 1);
  for (const std::size_t rank : drop_ranks) out[f++] = sorted.front() - at_rank(rank);
}

}  // namespace quiver::filters
