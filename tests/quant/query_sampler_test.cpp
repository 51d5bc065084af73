// Stand-in queries drawn like the sample queries: their mean and covariance match the
// fitted ones, the draw is repeatable, and a few queries in many dimensions still give
// draws that reach every direction.
#include "quant/query_sampler.h"

#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

#include "quiver/error.h"

namespace quiver::quant {
namespace {

constexpr std::size_t dim = 6;

// Rows x = offset + A z, z standard normal: a correlated, anisotropic cloud off the origin.
Matrix correlated_rows(std::size_t count, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  Matrix rows(count, dim);
  for (std::size_t i = 0; i < count; ++i) {
    double z[dim];
    for (auto& value : z) value = normal(rng);
    for (std::size_t j = 0; j < dim; ++j) {
      // Each coordinate mixes itself (scale j + 1) with its predecessor.
      const double mixed = double(j + 1) * z[j] + (j > 0 ? 0.8 * z[j - 1] : 0.0);
      rows.row(i)[j] = static_cast<float>(3.0 - double(j) + mixed);
    }
  }
  return rows;
}

struct Moments {
  std::vector<double> mean;
  std::vector<double> covariance;  // dim x dim, row-major
};

Moments moments_of(const Matrix& rows) {
  Moments m{std::vector<double>(rows.cols, 0.0), std::vector<double>(rows.cols * rows.cols, 0.0)};
  for (std::size_t i = 0; i < rows.rows; ++i) {
    for (std::size_t j = 0; j < rows.cols; ++j) m.mean[j] += rows.row(i)[j] / double(rows.rows);
  }
  for (std::size_t i = 0; i < rows.rows; ++i) {
    for (std::size_t a = 0; a < rows.cols; ++a) {
      for (std::size_t b = 0; b < rows.cols; ++b) {
        m.covariance[a * rows.cols + b] +=
            (rows.row(i)[a] - m.mean[a]) * (rows.row(i)[b] - m.mean[b]) / double(rows.rows);
      }
    }
  }
  return m;
}

}  // namespace

TEST_CASE("drawn queries have the sample queries' mean and covariance") {
  const Matrix queries = correlated_rows(2000, 1);
  const Matrix drawn = draw_like_queries(queries, 40000, 7, 2);
  REQUIRE(drawn.rows == 40000);
  REQUIRE(drawn.cols == dim);
  const Moments want = moments_of(queries);
  const Moments got = moments_of(drawn);
  for (std::size_t j = 0; j < dim; ++j) {
    const double spread = std::sqrt(want.covariance[j * dim + j]);
    CHECK(std::abs(got.mean[j] - want.mean[j]) < 0.03 * spread);
  }
  double error = 0.0, norm = 0.0;
  for (std::size_t e = 0; e < dim * dim; ++e) {
    error += (got.covariance[e] - want.covariance[e]) * (got.covariance[e] - want.covariance[e]);
    norm += want.covariance[e] * want.covariance[e];
  }
  MESSAGE("relative covariance error ", std::sqrt(error / norm));
  CHECK(std::sqrt(error / norm) < 0.04);  // sampling noise plus the 1 % ridge
}

TEST_CASE("the same seed draws the same queries, another seed others") {
  const Matrix queries = correlated_rows(300, 2);
  const Matrix first = draw_like_queries(queries, 50, 11, 1);
  CHECK(draw_like_queries(queries, 50, 11, 2).values == first.values);
  CHECK(draw_like_queries(queries, 50, 12, 1).values != first.values);
}

TEST_CASE("drawn queries reach directions that fewer sample queries than dimensions leave out") {
  // Three queries span a plane through their mean at most; the last coordinate is constant.
  Matrix queries(3, dim);
  for (std::size_t i = 0; i < queries.rows; ++i) {
    for (std::size_t j = 0; j + 1 < dim; ++j) queries.row(i)[j] = float((i + 1) * (j + 2) % 5);
    queries.row(i)[dim - 1] = 4.0f;
  }
  const Moments got = moments_of(draw_like_queries(queries, 5000, 3, 1));
  CHECK(got.covariance[dim * dim - 1] > 0.0);
  CHECK(got.mean[dim - 1] == doctest::Approx(4.0).epsilon(0.05));
}

TEST_CASE("drawing needs sample queries") {
  CHECK_THROWS_AS(draw_like_queries(Matrix(0, dim), 10, 1, 1), InvalidArgument);
}

}  // namespace quiver::quant
