#include "filters/pca.h"

#include <cassert>
#include <string>
#include <utility>

#include "quiver/error.h"

namespace quiver::filters {

Pca::Pca(Eigen::VectorXd mean, Eigen::MatrixXd components) : mean_(std::move(mean)), components_(std::move(components)) {
  assert(components_.cols() == mean_.size());
}

Pca Pca::fit(const Eigen::MatrixXd& rows, std::size_t dims) {
  const auto input_dim = static_cast<std::size_t>(rows.cols());
  if (dims == 0 || dims > input_dim) {
    throw InvalidArgument("PCA to " + std::to_string(dims) + " dimensions of " + std::to_string(input_dim) +
                          "-dimensional queries: choose between 1 and " + std::to_string(input_dim));
  }
  if (rows.rows() < 2) throw InvalidArgument("PCA needs at least 2 queries, got " + std::to_string(rows.rows()));
  Eigen::VectorXd mean = rows.colwise().mean().transpose();
  const Eigen::MatrixXd centred = rows.rowwise() - mean.transpose();
  Eigen::MatrixXd covariance = Eigen::MatrixXd::Zero(rows.cols(), rows.cols());
  covariance.selfadjointView<Eigen::Lower>().rankUpdate(centred.transpose(), 1.0 / static_cast<double>(rows.rows() - 1));
  // The solver reads only the lower triangle, which is what rankUpdate filled.
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(covariance);
  if (solver.info() != Eigen::Success) throw InvalidArgument("PCA: the eigen decomposition of the queries failed");

  // The solver sorts eigenvalues ascending: the leading directions are the last columns.
  const auto k = static_cast<Eigen::Index>(dims);
  Eigen::MatrixXd components(k, rows.cols());
  for (Eigen::Index i = 0; i < k; ++i) {
    Eigen::VectorXd direction = solver.eigenvectors().col(rows.cols() - 1 - i);
    Eigen::Index largest = 0;
    direction.cwiseAbs().maxCoeff(&largest);
    if (direction(largest) < 0) direction = -direction;
    components.row(i) = direction.transpose();
  }
  return Pca(std::move(mean), std::move(components));
}

Eigen::VectorXd Pca::project(std::span<const float> x) const {
  assert(x.size() == input_dim());
  const Eigen::Map<const Eigen::VectorXf> row(x.data(), static_cast<Eigen::Index>(x.size()));
  return components_ * (row.cast<double>() - mean_);
}

}  // namespace quiver::filters
