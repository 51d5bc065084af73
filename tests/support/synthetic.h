// Seeded synthetic data for tests: Gaussian clusters, so that nearest neighbours are
// meaningful and recall bounds are stable across runs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "quiver/matrix.h"

namespace quiver::testing {

// `rows` vectors of `dim` dims around `clusters` random centres (spread 1 per dim,
// centres spread 4), generated from `seed`.
inline Matrix clustered_vectors(std::size_t rows, std::size_t dim, std::uint64_t seed,
                                std::size_t clusters = 32) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Matrix centres(clusters, dim);
  for (float& v : centres.values) v = 4.0f * normal(rng);
  Matrix out(rows, dim);
  std::uniform_int_distribution<std::size_t> pick(0, clusters - 1);
  for (std::size_t i = 0; i < rows; ++i) {
    auto centre = centres.row(pick(rng));
    auto row = out.row(i);
    for (std::size_t j = 0; j < dim; ++j) row[j] = centre[j] + normal(rng);
  }
  return out;
}

// Uniform values in [lo, hi).
inline Matrix uniform_vectors(std::size_t rows, std::size_t dim, std::uint64_t seed, float lo = -1.0f,
                              float hi = 1.0f) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> uniform(lo, hi);
  Matrix out(rows, dim);
  for (float& v : out.values) v = uniform(rng);
  return out;
}

// The ids first, first + 1, ..., first + count - 1.
inline std::vector<std::uint64_t> id_range(std::uint64_t first, std::size_t count) {
  std::vector<std::uint64_t> ids(count);
  std::iota(ids.begin(), ids.end(), first);
  return ids;
}

}  // namespace quiver::testing
