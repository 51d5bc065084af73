// Trains the Cosine Adapter: binary cross-entropy of sigmoid(map(s)) against the labels
// of every (query, hit) pair, L2 weight decay, Adam on mini-batches of queries, and early
// stopping on held-out queries. The network starts as Platt scaling (a query-independent
// map) and learns how each query departs from it.
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <span>
#include <vector>

#include "filters/adapter_network.h"
#include "filters/cosine_adapter.h"
#include "filters/score_map.h"
#include "filters/scored_query.h"
#include "quiver/matrix.h"
#include "quiver/relevance_filter.h"

namespace quiver::filters {

// One query as the training loop sees it: its network input and its hits' standardised
// similarities and labels.
struct EncodedQuery {
  Eigen::VectorXd input;
  std::vector<double> scores;
  std::vector<std::uint8_t> labels;
};

// Mean cross-entropy per pair over `batch` (indices into `queries`); when `gradient` is
// given, adds the gradient of that mean with respect to the network's parameters.
double batch_loss(const AdapterNetwork& network, const ScoreMap& map, const std::vector<EncodedQuery>& queries,
                  std::span<const std::size_t> batch, Eigen::VectorXd* gradient);

// Validates the options and labels (InvalidArgument), then trains.
CosineAdapter train_cosine_adapter(MatrixView queries, const std::vector<ScoredQuery>& scored, Metric metric,
                                   const RelevanceOptions& options, RelevanceTrainingSummary& summary);

}  // namespace quiver::filters
