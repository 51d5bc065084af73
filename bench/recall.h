// Recall@k as ann-benchmarks counts it: a returned hit is correct when its exact
// distance is within the true k-th distance (+1e-3 relative), so that a system that
// returns an equally close point instead of the listed one is not punished for the tie.
#pragma once

#include <cstddef>
#include <cstdint>
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

 private:
  const Dataset& data_;
  std::size_t k_;
  std::vector<double> thresholds_;  // per query: the largest distance that counts as a hit
};

}  // namespace quiver::bench
