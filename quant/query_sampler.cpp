#include "quant/query_sampler.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <numeric>
#include <random>
#include <vector>

#include "quant/leanvec_training.h"
#include "quiver/error.h"

namespace quiver::quant {

namespace {

// The ridge, as a share of the mean eigenvalue.
constexpr double ridge_share = 1e-2;

// Standard normal variates by Box-Muller on mt19937_64's bits: std::normal_distribution
// differs between standard libraries, and the draws decide the learned graph.
class NormalSource {
 public:
  explicit NormalSource(std::uint64_t seed) : bits_(seed) {}
  double next() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double u1 = (static_cast<double>(bits_() >> 11) + 0.5) * 0x1.0p-53;  // in (0, 1)
    const double u2 = static_cast<double>(bits_() >> 11) * 0x1.0p-53;
    const double radius = std::sqrt(-2.0 * std::log(u1));
    const double angle = 2.0 * std::numbers::pi * u2;
    spare_ = radius * std::sin(angle);
    has_spare_ = true;
    return radius * std::cos(angle);
  }

 private:
  std::mt19937_64 bits_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace

Matrix draw_like_queries(MatrixView queries, std::size_t count, std::uint64_t seed, std::size_t threads) {
  if (queries.rows == 0) throw InvalidArgument("cannot draw stand-in queries without sample queries to fit");
  const std::size_t dim = queries.cols;
  std::vector<std::size_t> all(queries.rows);
  std::iota(all.begin(), all.end(), std::size_t{0});
  const Eigen::VectorXd mean = leanvec_training::mean_of_rows(queries.data, dim, all, threads);
  const Eigen::MatrixXd covariance = leanvec_training::second_moment(queries.data, dim, all, mean, threads);
  const auto basis = leanvec_training::descending_eigenbasis(covariance);
  const double ridge = ridge_share * basis.values.mean();
  // x = mean + V diag(sqrt(lambda + ridge)) z has the ridged covariance.
  const Eigen::MatrixXd shape = basis.vectors * (basis.values.array() + ridge).sqrt().matrix().asDiagonal();

  // In blocks of rows, so that the map is one matrix product per block (it is D x D per
  // row: 768-d queries would cost seconds row by row) and memory stays bounded.
  constexpr std::size_t block_rows = 1024;
  const auto d = static_cast<Eigen::Index>(dim);
  Matrix drawn(count, dim);
  NormalSource normal(seed);
  Eigen::MatrixXd z(d, static_cast<Eigen::Index>(block_rows));
  for (std::size_t first = 0; first < count; first += block_rows) {
    const auto rows = static_cast<Eigen::Index>(std::min(block_rows, count - first));
    for (Eigen::Index i = 0; i < rows; ++i) {
      for (Eigen::Index j = 0; j < d; ++j) z(j, i) = normal.next();
    }
    const Eigen::MatrixXd x = (shape * z.leftCols(rows)).colwise() + mean;
    for (Eigen::Index i = 0; i < rows; ++i) {
      auto row = drawn.row(first + static_cast<std::size_t>(i));
      for (Eigen::Index j = 0; j < d; ++j) row[static_cast<std::size_t>(j)] = static_cast<float>(x(j, i));
    }
  }
  return drawn;
}

}  // namespace quiver::quant
