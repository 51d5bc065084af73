// A documented, seeded out-of-distribution generator: keys ("data") and queries come
// from different distributions, as attention keys and queries or image and text
// embeddings do, so that a graph built from the data alone serves queries badly.
//
// Keys:    x = s · (μ_x + A_x z),  queries: q = μ_q + A_q z', with z, z' ~ N(0, I).
//   μ_x and μ_q are random directions with cos(μ_x, μ_q) ≈ −0.3 (the cones point apart),
//   scaled to norms 2 and 3; A_x and A_q are independent random matrices whose column
//   scales decay as 1/(1 + j/4) (different anisotropic covariances); s is a log-normal
//   key scale (σ = 0.25), so key norms are heavy-tailed and inner product ≠ cosine.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>

#include "quiver/matrix.h"

namespace quiver::testing {

struct OodSet {
  Matrix keys;
  Matrix train_queries;
  Matrix eval_queries;
};

inline OodSet ood_synthetic(std::size_t keys, std::size_t train_queries, std::size_t eval_queries, std::size_t dim,
                            std::uint64_t seed = 2024) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto random_direction = [&](float norm) {
    std::vector<float> v(dim);
    float total = 0;
    for (float& x : v) {
      x = normal(rng);
      total += x * x;
    }
    for (float& x : v) x *= norm / std::sqrt(total);
    return v;
  };
  auto mu_x = random_direction(1.0f);
  auto noise = random_direction(1.0f);
  // Mix a direction opposite-ish to μ_x: cos = −0.3.
  std::vector<float> mu_q(dim);
  for (std::size_t j = 0; j < dim; ++j) mu_q[j] = -0.3f * mu_x[j] + std::sqrt(1.0f - 0.09f) * noise[j];
  for (auto& x : mu_x) x *= 2.0f;
  for (auto& x : mu_q) x *= 3.0f;
  auto random_map = [&]() {
    Matrix map(dim, dim);
    for (std::size_t i = 0; i < dim; ++i) {
      for (std::size_t j = 0; j < dim; ++j) map.row(i)[j] = normal(rng) / std::sqrt(float(dim)) / (1.0f + float(j) / 4.0f);
    }
    return map;
  };
  Matrix key_map = random_map();
  Matrix query_map = random_map();
  std::lognormal_distribution<float> key_scale(0.0f, 0.25f);
  auto sample = [&](std::size_t rows, const std::vector<float>& mean, const Matrix& map, bool scaled) {
    Matrix out(rows, dim);
    std::vector<float> z(dim);
    for (std::size_t r = 0; r < rows; ++r) {
      for (float& v : z) v = normal(rng);
      float s = scaled ? key_scale(rng) : 1.0f;
      for (std::size_t i = 0; i < dim; ++i) {
        float value = mean[i];
        for (std::size_t j = 0; j < dim; ++j) value += map.row(i)[j] * z[j];
        out.row(r)[i] = s * value;
      }
    }
    return out;
  };
  OodSet set;
  set.keys = sample(keys, mu_x, key_map, true);
  set.train_queries = sample(train_queries, mu_q, query_map, false);
  set.eval_queries = sample(eval_queries, mu_q, query_map, false);
  return set;
}

}  // namespace quiver::testing
