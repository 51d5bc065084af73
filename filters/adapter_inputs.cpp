#include "filters/adapter_inputs.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "filters/score_features.h"
#include "quiver/error.h"

namespace quiver::filters {
namespace {

// A feature (or score) that does not vary over the training set is centred but not
// scaled: dividing by its spread of ~0 would blow up any difference seen later.
constexpr double min_spread = 1e-9;

double scale_of(double spread) { return spread > min_spread ? spread : 1.0; }

std::size_t query_inputs(const AdapterInputs::Parts& parts) {
  if (!parts.use_query) return 0;
  return parts.pca ? parts.pca->output_dim() : parts.query_dim;
}

}  // namespace

AdapterInputs::AdapterInputs(Parts parts) : parts_(std::move(parts)) {
  const std::size_t expected = query_inputs(parts_) + (parts_.use_score_features ? score_feature_count : 0);
  if (static_cast<std::size_t>(parts_.feature_mean.size()) != expected ||
      parts_.feature_scale.size() != parts_.feature_mean.size()) {
    throw InvalidArgument("adapter inputs: expected " + std::to_string(expected) + " feature means and scales, got " +
                          std::to_string(parts_.feature_mean.size()) + " and " +
                          std::to_string(parts_.feature_scale.size()));
  }
  if (parts_.pca && parts_.pca->input_dim() != parts_.query_dim) {
    throw InvalidArgument("adapter inputs: the PCA reads " + std::to_string(parts_.pca->input_dim()) +
                          " dimensions but queries have " + std::to_string(parts_.query_dim));
  }
  if (!(parts_.score_scale > 0) || !(parts_.feature_scale.array() > 0).all()) {
    throw InvalidArgument("adapter inputs: standardisation scales must be positive");
  }
}

Eigen::VectorXd AdapterInputs::raw_features(const Parts& parts, std::span<const float> query,
                                            std::span<const double> standardized) {
  Eigen::VectorXd out(static_cast<Eigen::Index>(query_inputs(parts) +
                                                (parts.use_score_features ? score_feature_count : 0)));
  Eigen::Index next = 0;
  if (parts.use_query) {
    if (parts.pca) {
      const Eigen::VectorXd projected = parts.pca->project(query);
      out.head(projected.size()) = projected;
      next = projected.size();
    } else {
      for (const float v : query) out(next++) = v;
    }
  }
  if (parts.use_score_features) {
    score_features(standardized, {out.data() + next, score_feature_count});
  }
  return out;
}

AdapterInputs AdapterInputs::fit(MatrixView queries, const std::vector<ScoredQuery>& scored,
                                 std::span<const std::size_t> rows, const RelevanceOptions& options) {
  Parts parts;
  parts.query_dim = queries.cols;
  parts.use_query = options.use_query;
  parts.use_score_features = options.use_score_features;

  double sum = 0, square_sum = 0, count = 0;
  for (const std::size_t q : rows) {
    for (const double s : scored[q].scores) {
      sum += s;
      square_sum += s * s;
      ++count;
    }
  }
  parts.score_mean = sum / count;
  const double variance = std::max(0.0, square_sum / count - parts.score_mean * parts.score_mean);
  parts.score_scale = scale_of(std::sqrt(variance));

  if (options.use_query && options.pca_dims > 0 && queries.cols > options.pca_dims) {
    Eigen::MatrixXd samples(static_cast<Eigen::Index>(rows.size()), static_cast<Eigen::Index>(queries.cols));
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const auto row = queries.row(rows[i]);
      samples.row(static_cast<Eigen::Index>(i)) =
          Eigen::Map<const Eigen::RowVectorXf>(row.data(), static_cast<Eigen::Index>(row.size())).cast<double>();
    }
    parts.pca = Pca::fit(samples, options.pca_dims);
  }

  // raw_features() reads only the query and score settings, which are final by now.
  const std::size_t inputs = query_inputs(parts) + (parts.use_score_features ? score_feature_count : 0);
  Eigen::VectorXd feature_sum = Eigen::VectorXd::Zero(static_cast<Eigen::Index>(inputs));
  Eigen::VectorXd feature_square_sum = feature_sum;
  std::vector<double> standardized;
  for (const std::size_t q : rows) {
    standardized.clear();
    for (const double s : scored[q].scores) standardized.push_back((s - parts.score_mean) / parts.score_scale);
    const Eigen::VectorXd raw = raw_features(parts, queries.row(q), standardized);
    feature_sum += raw;
    feature_square_sum += raw.cwiseAbs2();
  }
  const auto n = static_cast<double>(rows.size());
  parts.feature_mean = feature_sum / n;
  parts.feature_scale =
      (feature_square_sum / n - parts.feature_mean.cwiseAbs2()).cwiseMax(0.0).cwiseSqrt().unaryExpr(&scale_of);
  return AdapterInputs(std::move(parts));
}

Eigen::VectorXd AdapterInputs::encode(std::span<const float> query, std::span<const double> standardized) const {
  return (raw_features(parts_, query, standardized) - parts_.feature_mean).cwiseQuotient(parts_.feature_scale);
}

}  // namespace quiver::filters
