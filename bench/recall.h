// Recall@k as ann-benchmarks counts it: a returned hit is correct when its exact
// distance is within the true k-th distance (+1e-3 relative), so that a system that
// returns an equally close point instead of the listed one is not punished for the tie.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "bench/dataset.h"
#include "quiver/matrix.h"

namespace quiver::bench {

class RecallScorer {
 public:
  // `truth`: nq x k exact neighbour ids of data.queries. `data` must outlive the scorer.
  RecallScorer(const Dataset& data, IntMatrixView truth);

  std::size_t k() const { return k_; }

  // `ids`: nq x k returned ids, row-major, best first, -1 where fewer than k came back.
  // Repeated ids and ids outside the base count once and never, respectively.
  double recall(std::span<const std::int64_t> ids) const;

  // "Recall 10@k": the share of each query's true top 10 among its k returned ids (the
  // same tie rule). What a first stage that hands k candidates to a re-ranker or to
  // attention over its top 10 needs. Empty when k <= 10, where it equals recall().
  std::optional<double> top10_recall(std::span<const std::int64_t> ids) const;

 private:
  const Dataset& data_;
  std::size_t k_;
  std::vector<double> thresholds_;        // per query: the largest distance that counts as a hit
  std::vector<double> top10_thresholds_;  // the same for the true top 10, when k > 10

  double share_within(std::span<const std::int64_t> ids, const std::vector<double>& thresholds,
                      std::size_t wanted) const;
};

}  // namespace quiver::bench
