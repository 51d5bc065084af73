// How well a relevance score separates relevant from irrelevant hits, over all (query,
// hit) pairs pooled: average precision, precision at a recall, the outcome of one global
// threshold, and calibration (reliability bins, expected calibration error). Evaluation
// and the baselines' tuning both measure through these functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "quiver/relevance_filter.h"

namespace quiver::filters {

struct CutOutcome {
  double precision = 0;  // 0 when nothing is kept
  double recall = 0;     // relevant kept / relevant pairs; 0 when there are none
  double f1 = 0;
  double mean_returned = 0;  // kept pairs per query
};

// The outcome of keeping the pairs with kept[i] != 0, over `queries` queries.
CutOutcome selection_outcome(std::span<const std::uint8_t> kept, std::span<const std::uint8_t> labels,
                             std::size_t queries);

// The outcome of keeping the pairs whose score is >= threshold.
CutOutcome threshold_outcome(std::span<const double> scores, std::span<const std::uint8_t> labels, double threshold,
                             std::size_t queries);

// Average precision of the ranking of all pairs by score (the area under the
// precision-recall curve as a step function). Tied scores form one cut, as a threshold
// cannot split them. 0 when no pair is relevant.
double average_precision(std::span<const double> scores, std::span<const std::uint8_t> labels);

// The best precision of any threshold whose recall is at least `recall`.
double precision_at_recall(std::span<const double> scores, std::span<const std::uint8_t> labels, double recall);

// The largest threshold whose recall is at least `recall` (the tightest cut that still
// reaches it).
double threshold_for_recall(std::span<const double> scores, std::span<const std::uint8_t> labels, double recall);

// The threshold with the highest F1 (the largest such one on ties).
double best_f1_threshold(std::span<const double> scores, std::span<const std::uint8_t> labels);

struct Reliability {
  std::vector<ReliabilityBin> bins;
  double ece = 0;  // sum over bins of (count / total) * |mean predicted - observed|
};

// Equal-width bins of predicted probability over [0, 1] (1 falls in the last bin).
Reliability reliability(std::span<const double> probabilities, std::span<const std::uint8_t> labels,
                        std::size_t bin_count = 10);

}  // namespace quiver::filters
