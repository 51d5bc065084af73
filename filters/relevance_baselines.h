// The cut-off methods the Cosine Adapter is measured against. Query-independent
// calibrations of the raw similarity (Platt scaling, isotonic regression), and per-query
// rules that turn each hit into a decision score on which one global threshold acts (fixed
// top-k, distance from the top score, per-query z-score), plus the largest-gap cut.
// All take similarities where larger is better (filters::similarity).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "filters/scored_query.h"

namespace quiver::filters {

// p(relevant | s) = sigmoid(slope * s + intercept), fitted by maximum likelihood (Newton).
class PlattScaling {
 public:
  static PlattScaling fit(std::span<const double> scores, std::span<const std::uint8_t> labels);
  PlattScaling(double slope, double intercept) : slope_(slope), intercept_(intercept) {}

  double probability(double score) const;
  double slope() const { return slope_; }
  double intercept() const { return intercept_; }

 private:
  double slope_;
  double intercept_;
};

// The non-decreasing step function of s closest to the labels in squared error, found by
// pool-adjacent-violators. A score between two training scores gets the lower step.
class IsotonicCalibration {
 public:
  static IsotonicCalibration fit(std::span<const double> scores, std::span<const std::uint8_t> labels);

  double probability(double score) const;
  // Step i applies from step_starts()[i] up to the next start; values never decrease.
  const std::vector<double>& step_starts() const { return starts_; }
  const std::vector<double>& step_values() const { return values_; }

 private:
  std::vector<double> starts_;
  std::vector<double> values_;
};

// -rank (1-based, by descending score): a threshold of -k keeps the top k.
std::vector<double> negated_ranks(std::span<const double> scores);
// s - max(s): a threshold of -delta keeps the hits within delta of the query's best.
std::vector<double> distance_from_top(std::span<const double> scores);
// (s - mean) / std over the query's hits (0 for a query whose hits all score the same).
std::vector<double> z_scores(std::span<const double> scores);

// Keeps the hits ranked above the largest drop between consecutive scores among the drops
// after rank `min_rank` (1-based; 0 and 1 consider every drop). A single hit is kept.
std::vector<std::uint8_t> largest_gap_cut(std::span<const double> scores, std::size_t min_rank);

}  // namespace quiver::filters
