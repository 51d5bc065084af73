// Seeded labelled retrieval results where every query has its own score scale: the
// offset of its scores follows the query's first coordinate and their spread its second,
// so no single raw-score threshold suits all queries but a query-aware map can.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "quiver/hit.h"
#include "quiver/matrix.h"
#include "quiver/relevance_filter.h"

namespace quiver::testing {

struct SyntheticRelevance {
  Matrix queries;
  std::vector<std::vector<Hit>> hits;
  std::vector<std::vector<std::uint8_t>> labels;
  Metric metric = Metric::InnerProduct;

  RelevanceTrainingSet set() const { return {queries.view(), hits, labels, metric, "synthetic"}; }
};

// Scores are inner products (larger is better); with `metric` L2 each similarity s is
// stored as the squared distance (40 - s)^2, which ranks the hits identically.
inline SyntheticRelevance synthetic_relevance(std::size_t queries, std::size_t k, std::size_t dim, std::uint64_t seed,
                                              Metric metric = Metric::InnerProduct) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  SyntheticRelevance out;
  out.metric = metric;
  out.queries = Matrix(queries, dim);
  for (float& v : out.queries.values) v = normal(rng);
  constexpr double separation = 3.0;  // relevant hits score this many spreads higher
  for (std::size_t q = 0; q < queries; ++q) {
    const auto x = out.queries.row(q);
    const double offset = 3.0 * x[0];
    const double spread = 0.5 * std::exp(0.4 * x[1]);
    const double relevant_rate = 1.0 / (1.0 + std::exp(-1.5 * x[2]));
    std::vector<std::pair<double, std::uint8_t>> pairs(k);
    for (auto& [score, label] : pairs) {
      label = uniform(rng) < relevant_rate ? 1 : 0;
      score = offset + spread * (separation * label + normal(rng));
    }
    std::sort(pairs.begin(), pairs.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    auto& hits = out.hits.emplace_back();
    auto& labels = out.labels.emplace_back();
    for (std::size_t i = 0; i < k; ++i) {
      const double s = pairs[i].first;
      const double score = metric == Metric::L2 ? (40.0 - s) * (40.0 - s) : s;
      hits.push_back({q * k + i, static_cast<float>(score)});
      labels.push_back(pairs[i].second);
    }
  }
  return out;
}

// Rows [first, first + count) of a synthetic set, as its own set.
inline SyntheticRelevance slice(const SyntheticRelevance& all, std::size_t first, std::size_t count) {
  SyntheticRelevance out;
  out.metric = all.metric;
  out.queries = Matrix(count, all.queries.cols);
  std::copy_n(all.queries.values.begin() + static_cast<std::ptrdiff_t>(first * all.queries.cols),
              count * all.queries.cols, out.queries.values.begin());
  out.hits.assign(all.hits.begin() + static_cast<std::ptrdiff_t>(first),
                  all.hits.begin() + static_cast<std::ptrdiff_t>(first + count));
  out.labels.assign(all.labels.begin() + static_cast<std::ptrdiff_t>(first),
                    all.labels.begin() + static_cast<std::ptrdiff_t>(first + count));
  return out;
}

// Small, fast training settings for tests: a tiny network that converges in a few epochs.
inline RelevanceOptions quick_relevance_options() {
  RelevanceOptions options;
  options.hidden_units = 8;
  options.max_epochs = 30;
  options.learning_rate = 1e-2;
  return options;
}

}  // namespace quiver::testing
