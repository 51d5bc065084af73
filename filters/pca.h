// Principal component analysis of query vectors: the Cosine Adapter's network reads the
// query through its leading components, since a few dozen inputs generalise from a few
// thousand training queries where 784 raw pixels would over-fit.
#pragma once

#include <Eigen/Dense>
#include <cstddef>
#include <span>

namespace quiver::filters {

class Pca {
 public:
  // Learns the mean and the `dims` leading principal directions of `rows` (one sample per
  // row). Deterministic: each direction's largest-magnitude coordinate is made positive.
  static Pca fit(const Eigen::MatrixXd& rows, std::size_t dims);
  // `components` is dims x input_dim with orthonormal rows.
  Pca(Eigen::VectorXd mean, Eigen::MatrixXd components);

  // components * (x - mean)
  Eigen::VectorXd project(std::span<const float> x) const;

  std::size_t input_dim() const { return static_cast<std::size_t>(mean_.size()); }
  std::size_t output_dim() const { return static_cast<std::size_t>(components_.rows()); }
  const Eigen::VectorXd& mean() const { return mean_; }
  const Eigen::MatrixXd& components() const { return components_; }

 private:
  Eigen::VectorXd mean_;
  Eigen::MatrixXd components_;
};

}  // namespace quiver::filters
