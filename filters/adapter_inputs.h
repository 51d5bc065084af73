// What the Cosine Adapter's network reads for one query: the query itself (through a PCA
// when it is wide) and the features of its top-k score distribution, each standardised
// with the training set's mean and spread so that no input dominates by its units. Also
// standardises the raw similarities that the score map transforms.
#pragma once

#include <Eigen/Dense>
#include <cstddef>
#include <optional>
#include <span>
#include <vector>

#include "filters/pca.h"
#include "filters/scored_query.h"
#include "quiver/matrix.h"
#include "quiver/relevance_filter.h"

namespace quiver::filters {

class AdapterInputs {
 public:
  struct Parts {
    std::size_t query_dim = 0;
    double score_mean = 0;
    double score_scale = 1;
    bool use_query = true;
    bool use_score_features = true;
    std::optional<Pca> pca;
    Eigen::VectorXd feature_mean;   // per network input
    Eigen::VectorXd feature_scale;
  };

  // Learns the standardisations (and the PCA, for queries wider than options.pca_dims)
  // from the queries `rows` of `queries` and `scored`.
  static AdapterInputs fit(MatrixView queries, const std::vector<ScoredQuery>& scored,
                           std::span<const std::size_t> rows, const RelevanceOptions& options);
  // Checks that the parts fit together; throws InvalidArgument naming the mismatch.
  explicit AdapterInputs(Parts parts);

  // (similarity - mean) / scale over the training pairs.
  double standardize(double similarity) const { return (similarity - parts_.score_mean) / parts_.score_scale; }
  // The network input for a query and its standardised similarities (at least one).
  Eigen::VectorXd encode(std::span<const float> query, std::span<const double> standardized) const;

  std::size_t size() const { return static_cast<std::size_t>(parts_.feature_mean.size()); }
  const Parts& parts() const { return parts_; }

 private:
  // Features before standardisation.
  static Eigen::VectorXd raw_features(const Parts& parts, std::span<const float> query,
                                      std::span<const double> standardized);

  Parts parts_;
};

}  // namespace quiver::filters
