// The Cosine Adapter (Rossi et al., CIKM 2024) as quiver runs it: inputs -> network ->
// per-query parameters of a monotone score map -> sigmoid = probability of relevance.
// Immutable once trained; adapter_training.h builds it, filter_model_file.h stores it.
#pragma once

#include <Eigen/Dense>
#include <cstddef>
#include <span>
#include <vector>

#include "filters/adapter_inputs.h"
#include "filters/adapter_network.h"
#include "filters/score_map.h"
#include "quiver/metric.h"

namespace quiver::filters {

class CosineAdapter {
 public:
  // Throws InvalidArgument if the network's shape does not match the inputs and the map.
  CosineAdapter(Metric metric, std::size_t training_k, ScoreMap map, AdapterInputs inputs, AdapterNetwork network);

  // The map parameters the network outputs for this query and its hits' similarities.
  Eigen::VectorXd map_parameters(std::span<const float> query, std::span<const double> similarities) const;
  // The mapped score z (relevance = sigmoid(z)) of `similarity` under `theta`.
  double mapped_score(const Eigen::VectorXd& theta, double similarity) const;
  // Probability of relevance of each similarity (filters::similarity of a hit's score).
  std::vector<double> relevance(std::span<const float> query, std::span<const double> similarities) const;

  Metric metric() const { return metric_; }
  std::size_t training_k() const { return training_k_; }
  std::size_t dim() const { return inputs_.parts().query_dim; }
  const ScoreMap& map() const { return map_; }
  const AdapterInputs& inputs() const { return inputs_; }
  const AdapterNetwork& network() const { return network_; }

 private:
  Metric metric_;
  std::size_t training_k_;
  ScoreMap map_;
  AdapterInputs inputs_;
  AdapterNetwork network_;
};

}  // namespace quiver::filters
