#include "quant/kmeans.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>

#include "quant/leanvec_training.h"
#include "quiver/error.h"

namespace quiver::quant {
namespace {

using RowMajorF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using StridedMap = Eigen::Map<const RowMajorF, 0, Eigen::OuterStride<>>;

// Rows scored per matrix product: 256 x k floats of scores stay in L2 beside the block.
constexpr std::size_t kBlockRows = 256;
constexpr std::size_t kMaxCentroids = 256;

double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

float squared_distance(const float* a, const float* b, std::size_t dim) {
  float sum = 0;
  for (std::size_t j = 0; j < dim; ++j) {
    const float d = a[j] - b[j];
    sum += d * d;
  }
  return sum;
}

// Labels (and, if `distances` is not null, squared distances) of rows [first, first + count).
// ||x - c||^2 = ||x||^2 - 2<x, c> + ||c||^2, with the cross terms of a whole block in one product.
double assign_block(const StridedRows& rows, std::size_t first, std::size_t count, const RowMajorF& centroids,
                    const Eigen::VectorXf& centroid_norms, std::uint8_t* labels, std::size_t label_stride,
                    float* distances) {
  const auto n = static_cast<Eigen::Index>(count);
  const auto d = static_cast<Eigen::Index>(rows.dim);
  const StridedMap block(rows.row(first), n, d, Eigen::OuterStride<>(static_cast<Eigen::Index>(rows.stride)));
  RowMajorF cross(n, centroids.rows());
  cross.noalias() = block * centroids.transpose();
  double total = 0;
  for (Eigen::Index i = 0; i < n; ++i) {
    Eigen::Index best = 0;
    float best_score = std::numeric_limits<float>::infinity();
    for (Eigen::Index c = 0; c < centroids.rows(); ++c) {
      const float score = centroid_norms[c] - 2.0f * cross(i, c);
      if (score < best_score) {
        best_score = score;
        best = c;
      }
    }
    // Clamped: the expansion can go slightly negative by cancellation.
    const float distance = std::max(0.0f, block.row(i).squaredNorm() + best_score);
    labels[static_cast<std::size_t>(i) * label_stride] = static_cast<std::uint8_t>(best);
    if (distances != nullptr) distances[i] = distance;
    total += distance;
  }
  return total;
}

double assign_all(const StridedRows& rows, const RowMajorF& centroids, std::uint8_t* labels, std::size_t label_stride,
                  float* distances, std::size_t threads) {
  const Eigen::VectorXf norms = centroids.rowwise().squaredNorm();
  const std::size_t blocks = (rows.rows + kBlockRows - 1) / kBlockRows;
  const std::size_t workers =
      std::min(leanvec_training::resolve_threads(threads), std::max<std::size_t>(1, blocks));
  std::vector<double> partial(workers, 0.0);
  leanvec_training::run_workers(workers, [&](std::size_t w) {
    for (std::size_t b = w; b < blocks; b += workers) {
      const std::size_t first = b * kBlockRows;
      const std::size_t count = std::min(kBlockRows, rows.rows - first);
      partial[w] += assign_block(rows, first, count, centroids, norms, labels + first * label_stride, label_stride,
                                 distances == nullptr ? nullptr : distances + first);
    }
  });
  double total = 0;
  for (const double p : partial) total += p;
  return total;
}

// k-means++ (Arthur and Vassilvitskii, 2007): each seed is drawn with probability
// proportional to its weighted squared distance from the seeds chosen so far.
RowMajorF seed_centroids(const StridedRows& rows, std::size_t k, const KMeansOptions& options,
                         std::span<const float> weights, std::mt19937_64& rng) {
  const std::vector<std::size_t> sample =
      leanvec_training::sample_rows(rows.rows, std::max(options.init_sample, k), options.seed);
  const auto d = static_cast<Eigen::Index>(rows.dim);
  RowMajorF centroids(static_cast<Eigen::Index>(k), d);
  auto set_centroid = [&](std::size_t c, std::size_t row) {
    for (Eigen::Index j = 0; j < d; ++j) centroids(static_cast<Eigen::Index>(c), j) = rows.row(row)[j];
  };
  set_centroid(0, sample[static_cast<std::size_t>(uniform01(rng) * static_cast<double>(sample.size()))]);
  auto weight = [&](std::size_t i) { return weights.empty() ? 1.0 : static_cast<double>(weights[sample[i]]); };
  std::vector<double> nearest(sample.size());
  for (std::size_t i = 0; i < sample.size(); ++i) {
    nearest[i] = weight(i) * squared_distance(rows.row(sample[i]), centroids.row(0).data(), rows.dim);
  }
  for (std::size_t c = 1; c < k; ++c) {
    double total = 0;
    for (const double v : nearest) total += v;
    std::size_t pick = 0;
    if (total > 0) {
      double target = uniform01(rng) * total;
      while (pick + 1 < sample.size() && target >= nearest[pick]) target -= nearest[pick++];
      // Rounding may walk past the last positive weight; step back onto one.
      while (pick > 0 && nearest[pick] == 0) --pick;
    } else {
      // Fewer distinct rows than centroids: duplicates are unavoidable, any row will do.
      pick = static_cast<std::size_t>(uniform01(rng) * static_cast<double>(sample.size()));
    }
    set_centroid(c, sample[pick]);
    for (std::size_t i = 0; i < sample.size(); ++i) {
      const double dist = squared_distance(rows.row(sample[i]), centroids.row(static_cast<Eigen::Index>(c)).data(),
                                           rows.dim);
      nearest[i] = std::min(nearest[i], weight(i) * dist);
    }
  }
  return centroids;
}

}  // namespace

std::vector<float> kmeans(StridedRows rows, std::size_t k, const KMeansOptions& options,
                          std::span<const float> weights) {
  if (k == 0 || k > kMaxCentroids) {
    throw InvalidArgument("kmeans: k = " + std::to_string(k) + " centroids; expected 1 ... 256");
  }
  if (rows.rows < k) {
    throw InvalidArgument("kmeans: " + std::to_string(rows.rows) + " training rows cannot place " +
                          std::to_string(k) + " centroids; need at least k rows");
  }
  if (rows.dim == 0 || rows.stride < rows.dim) {
    throw InvalidArgument("kmeans: row dimension " + std::to_string(rows.dim) + " with stride " +
                          std::to_string(rows.stride) + "; expected 0 < dim <= stride");
  }
  if (!weights.empty()) {
    if (weights.size() != rows.rows) {
      throw InvalidArgument("kmeans: " + std::to_string(weights.size()) + " weights for " +
                            std::to_string(rows.rows) + " rows; expected one per row");
    }
    double total = 0;
    for (const float w : weights) {
      if (!(w >= 0 && std::isfinite(w))) {
        throw InvalidArgument("kmeans: weight " + std::to_string(w) + "; weights must be finite and >= 0");
      }
      total += w;
    }
    if (!(total > 0)) throw InvalidArgument("kmeans: the weights sum to zero; at least one must be positive");
  }
  auto weight = [&](std::size_t i) { return weights.empty() ? 1.0 : static_cast<double>(weights[i]); };
  std::mt19937_64 rng(options.seed);
  RowMajorF centroids = seed_centroids(rows, k, options, weights, rng);
  const auto d = static_cast<Eigen::Index>(rows.dim);
  std::vector<std::uint8_t> labels(rows.rows);
  std::vector<float> distances(rows.rows);
  for (std::size_t iteration = 0; iteration < options.iterations; ++iteration) {
    assign_all(rows, centroids, labels.data(), 1, distances.data(), options.threads);
    Eigen::MatrixXd sums = Eigen::MatrixXd::Zero(static_cast<Eigen::Index>(k), d);
    std::vector<double> counts(k, 0.0);
    for (std::size_t i = 0; i < rows.rows; ++i) {
      const float* x = rows.row(i);
      const double w = weight(i);
      distances[i] = static_cast<float>(w * distances[i]);
      if (w == 0) continue;
      auto sum = sums.row(labels[i]);
      for (Eigen::Index j = 0; j < d; ++j) sum[j] += w * x[j];
      counts[labels[i]] += w;
    }
    for (std::size_t c = 0; c < k; ++c) {
      const auto row = static_cast<Eigen::Index>(c);
      if (counts[c] > 0) {
        centroids.row(row) = (sums.row(row) / counts[c]).cast<float>();
        continue;
      }
      // An empty (or weightless) cluster takes the worst-served row, which then no longer
      // counts as far.
      const auto far = static_cast<std::size_t>(std::max_element(distances.begin(), distances.end()) - distances.begin());
      for (Eigen::Index j = 0; j < d; ++j) centroids(row, j) = rows.row(far)[j];
      distances[far] = 0;
    }
  }
  std::vector<float> out(static_cast<std::size_t>(centroids.size()));
  Eigen::Map<RowMajorF>(out.data(), centroids.rows(), centroids.cols()) = centroids;
  return out;
}

double assign_nearest(StridedRows rows, const float* centroids, std::size_t k, std::uint8_t* out,
                      std::size_t out_stride, std::size_t threads) {
  if (k == 0 || k > kMaxCentroids) {
    throw InvalidArgument("assign_nearest: k = " + std::to_string(k) + " centroids; expected 1 ... 256");
  }
  const RowMajorF c = Eigen::Map<const RowMajorF>(centroids, static_cast<Eigen::Index>(k),
                                                  static_cast<Eigen::Index>(rows.dim));
  return assign_all(rows, c, out, out_stride, nullptr, threads);
}

}  // namespace quiver::quant
