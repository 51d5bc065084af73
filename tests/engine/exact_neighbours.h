// Brute-force neighbours and recall for engine tests: the ground truth every
// approximate result is measured against.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <span>
#include <vector>

#include "quiver/hit.h"
#include "quiver/matrix.h"
#include "quiver/metric.h"

namespace quiver::testing {

// Distance where smaller is closer, in double precision.
inline double reference_distance(Metric metric, std::span<const float> a, std::span<const float> b) {
  double dot = 0, aa = 0, bb = 0, l2 = 0;
  for (std::size_t j = 0; j < a.size(); ++j) {
    dot += double(a[j]) * b[j];
    aa += double(a[j]) * a[j];
    bb += double(b[j]) * b[j];
    l2 += (double(a[j]) - b[j]) * (double(a[j]) - b[j]);
  }
  switch (metric) {
    case Metric::L2: return l2;
    case Metric::InnerProduct: return -dot;
    case Metric::Cosine: return -dot / std::sqrt(aa * bb);
  }
  return 0;
}

// Ids (row numbers) of the k nearest rows of `data` to each query.
inline std::vector<std::vector<std::uint64_t>> exact_neighbours(MatrixView data, MatrixView queries, std::size_t k,
                                                                Metric metric) {
  std::vector<std::vector<std::uint64_t>> result(queries.rows);
  std::vector<std::pair<double, std::uint64_t>> scored(data.rows);
  for (std::size_t q = 0; q < queries.rows; ++q) {
    for (std::size_t i = 0; i < data.rows; ++i) scored[i] = {reference_distance(metric, queries.row(q), data.row(i)), i};
    std::partial_sort(scored.begin(), scored.begin() + k, scored.end());
    for (std::size_t i = 0; i < k; ++i) result[q].push_back(scored[i].second);
  }
  return result;
}

// Mean fraction of the true k neighbours found.
inline double recall(const std::vector<std::vector<Hit>>& found, const std::vector<std::vector<std::uint64_t>>& truth) {
  double total = 0;
  for (std::size_t q = 0; q < truth.size(); ++q) {
    std::size_t hits = 0;
    for (const auto& hit : found[q]) hits += std::count(truth[q].begin(), truth[q].end(), hit.id);
    total += double(hits) / truth[q].size();
  }
  return total / truth.size();
}

}  // namespace quiver::testing
