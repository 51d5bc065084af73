#include "filters/cosine_adapter.h"

#include <string>
#include <utility>

#include "filters/smooth_functions.h"
#include "quiver/error.h"

namespace quiver::filters {

CosineAdapter::CosineAdapter(Metric metric, std::size_t training_k, ScoreMap map, AdapterInputs inputs,
                             AdapterNetwork network)
    : metric_(metric), training_k_(training_k), map_(map), inputs_(std::move(inputs)), network_(std::move(network)) {
  if (network_.inputs() != inputs_.size() || network_.outputs() != map_.parameter_count()) {
    throw InvalidArgument("adapter: the network maps " + std::to_string(network_.inputs()) + " inputs to " +
                          std::to_string(network_.outputs()) + " outputs, but the inputs have " +
                          std::to_string(inputs_.size()) + " features and the " + to_string(map_.family()) +
                          " map takes " + std::to_string(map_.parameter_count()) + " parameters");
  }
}

Eigen::VectorXd CosineAdapter::map_parameters(std::span<const float> query, std::span<const double> similarities) const {
  std::vector<double> standardized(similarities.size());
  for (std::size_t i = 0; i < similarities.size(); ++i) standardized[i] = inputs_.standardize(similarities[i]);
  return network_.forward(inputs_.encode(query, standardized)).col(0);
}

double CosineAdapter::mapped_score(const Eigen::VectorXd& theta, double similarity) const {
  return map_.value({theta.data(), static_cast<std::size_t>(theta.size())}, inputs_.standardize(similarity));
}

std::vector<double> CosineAdapter::relevance(std::span<const float> query, std::span<const double> similarities) const {
  std::vector<double> out(similarities.size());
  if (similarities.empty()) return out;
  const Eigen::VectorXd theta = map_parameters(query, similarities);
  for (std::size_t i = 0; i < similarities.size(); ++i) out[i] = sigmoid(mapped_score(theta, similarities[i]));
  return out;
}

}  // namespace quiver::filters
