#include <doctest/doctest.h>

#include <Eigen/Dense>
#include <cmath>
#include <random>
#include <vector>

#include "filters/pca.h"
#include "quiver/error.h"

using namespace quiver;
using namespace quiver::filters;

TEST_CASE("PCA finds the directions of largest variance, orthonormal and sign-fixed") {
  // Samples spread 10 along (1, 1, 0, 0)/sqrt(2), 3 along (0, 0, 1, 0), noise 0.1 elsewhere,
  // around the mean (5, -2, 1, 0).
  std::mt19937_64 rng(3);
  std::normal_distribution<double> normal(0.0, 1.0);
  const Eigen::Vector4d mean(5, -2, 1, 0);
  const Eigen::Vector4d first = Eigen::Vector4d(1, 1, 0, 0) / std::sqrt(2.0);
  const Eigen::Vector4d second(0, 0, 1, 0);
  Eigen::MatrixXd rows(4000, 4);
  for (Eigen::Index i = 0; i < rows.rows(); ++i) {
    Eigen::Vector4d noise;
    for (int j = 0; j < 4; ++j) noise(j) = 0.1 * normal(rng);
    rows.row(i) = (mean + 10 * normal(rng) * first + 3 * normal(rng) * second + noise).transpose();
  }
  const Pca pca = Pca::fit(rows, 2);
  REQUIRE(pca.output_dim() == 2);
  REQUIRE(pca.input_dim() == 4);
  CHECK((pca.mean() - mean).norm() < 0.5);
  CHECK(std::abs(pca.components().row(0).dot(first)) > 0.999);
  CHECK(std::abs(pca.components().row(1).dot(second)) > 0.999);
  // Largest-magnitude coordinate positive: the direction's sign does not depend on the solver.
  CHECK(pca.components()(1, 2) > 0);
  const Eigen::MatrixXd gram = pca.components() * pca.components().transpose();
  CHECK((gram - Eigen::Matrix2d::Identity()).norm() < 1e-9);

  const std::vector<float> at_mean{5, -2, 1, 0};
  CHECK(pca.project(at_mean).norm() < 0.5);
  const std::vector<float> along_first{5 + 7.07107f, -2 + 7.07107f, 1, 0};
  CHECK(std::abs(pca.project(along_first)(0)) == doctest::Approx(10).epsilon(0.05));
}

TEST_CASE("PCA rejects a target dimension it cannot produce") {
  const Eigen::MatrixXd rows = Eigen::MatrixXd::Random(10, 3);
  CHECK_THROWS_WITH_AS(Pca::fit(rows, 4), doctest::Contains("between 1 and 3"), InvalidArgument);
  CHECK_THROWS_WITH_AS(Pca::fit(rows, 0), doctest::Contains("between 1 and 3"), InvalidArgument);
  CHECK_THROWS_AS(Pca::fit(rows.topRows(1), 2), InvalidArgument);
}
