#include "quant/query_aware_pq.h"

#include <Eigen/Dense>
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <istream>
#include <limits>
#include <ostream>
#include <string_view>
#include <utility>

#include "quant/kmeans.h"
#include "quant/leanvec_training.h"
#include "quant/exact_top_k.h"
#include "quant/stored_bytes.h"
#include "quiver/error.h"

namespace quiver::quant {
namespace {

using RowMajorF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Stored layout, all little-endian:
//   offset 0   8 bytes  magic "QVQAPQCB"
//          8   u32      format version (3; version 1 files hold only symmetric maps, A = W;
//                       version 2 files have no overlapping codebooks)
//         12   u32      flags: bit 0 = query-aware (the two maps follow), bit 1 = anisotropic
//                       encoding (η follows), bit 2 = plain PQ with a rotation (the two maps
//                       follow, both R), bit 3 = overlapping codebooks; other bits zero
//         16   u32      dimension D (1 ... 65536)
//         20   u32      sub-spaces M (1 ... D, dividing D)
//         24   u32      bits per sub-code (4 or 8)
//         28   float32  anisotropic only: η (> 1, at most kMaxAnisotropy)
//                       with maps: A[D x D], then B = A⁻ᵀ[D x D], row-major
//                       codebooks[M x 2^bits x D/M], or [M x 2^bits x 2D/M] overlapping
//        end   u64      FNV-1a 64 of every byte before it
constexpr std::array<char, 8> kMagic = {'Q', 'V', 'Q', 'A', 'P', 'Q', 'C', 'B'};
constexpr std::uint32_t kFormatVersion = 3;
constexpr std::size_t kHeaderBytes = 28;
constexpr std::uint32_t kQueryAwareFlag = 1;
constexpr std::uint32_t kAnisotropicFlag = 2;
constexpr std::uint32_t kRotationOnlyFlag = 4;
constexpr std::uint32_t kOverlappingFlag = 8;
// Predecessors a Viterbi step tries for each code: the previous step's best states. On
// attention keys 16 of 256 gave the same error as all 256.
constexpr std::size_t kViterbiBeam = 16;
// Training rows the overlapping codebooks' alternations run on (a strided subset of the
// k-means sample, which is 65,536 rows by default). Half of that cost 0.6 % more top-100
// score error on attention keys.
constexpr std::size_t kOverlappingTrainRows = 65536;
// Each least-squares update moves the codebooks this far past its solution (successive
// over-relaxation): the alternation creeps, and on attention keys 20 rounds at 1.6 reached
// what 40 plain ones did; 1.8 was no better.
constexpr double kOverRelaxation = 1.6;
// η beyond this would let the parallel error alone decide every code.
constexpr double kMaxAnisotropy = 1000.0;
// Keys per anisotropic-assignment block: M products of 256 x 2^bits floats stay in cache.
constexpr std::size_t kAnisotropicBlock = 256;
// Coordinate-descent sweeps over the sub-spaces; it settles in two or three.
constexpr std::size_t kAnisotropicSweeps = 6;
// Assignment / codebook-update alternations after the k-means codebooks. Chained codes
// settle slower, as a code moves two sub-spaces: at 8 rounds instead of 4 the top-100 score
// error of attention keys fell 0.7 % more (at M = 64).
constexpr std::size_t kAnisotropicTrainingRounds = 4;
constexpr std::size_t kOverlappingAnisotropicRounds = 8;
constexpr std::size_t kMaxStoredDim = 65536;
// Rows whitened at a time by encode: bounds the temporary to 16384 x D floats.
constexpr std::size_t kEncodeRows = 16384;
// Training rows rotated at a time: bounds that temporary to 4096 x D floats.
constexpr Eigen::Index kRotateRows = 4096;
// Whether to rotate is decided on at most this many training rows and Lloyd iterations.
constexpr std::size_t kTrialRows = 16384;
constexpr std::size_t kTrialIterations = 5;

using namespace stored_bytes;

void check_finite(MatrixView rows, const char* function, const char* what) {
  for (std::size_t r = 0; r < rows.rows; ++r) {
    const auto row = rows.row(r);
    if (!std::all_of(row.begin(), row.end(), [](float v) { return std::isfinite(v); })) {
      throw InvalidArgument(std::string(function) + ": " + what + " row " + std::to_string(r) +
                            " holds a NaN or infinite value; every value must be finite");
    }
  }
}

void validate(MatrixView data, MatrixView queries, const QueryAwarePqOptions& options) {
  const std::string where = "QueryAwarePq::train: ";
  if (options.bits != 4 && options.bits != 8) {
    throw InvalidArgument(where + std::to_string(options.bits) + "-bit sub-codes; expected 4 or 8");
  }
  if (data.cols == 0 || data.cols > kMaxStoredDim) {
    throw InvalidArgument(where + "dimension " + std::to_string(data.cols) + " outside 1 ... " +
                          std::to_string(kMaxStoredDim));
  }
  if (options.sub_spaces == 0 || data.cols % options.sub_spaces != 0) {
    throw InvalidArgument(where + "dimension " + std::to_string(data.cols) + " is not divisible into " +
                          std::to_string(options.sub_spaces) + " sub-spaces");
  }
  const std::size_t centroids = std::size_t{1} << options.bits;
  if (data.rows < centroids) {
    throw InvalidArgument(where + std::to_string(data.rows) + " training rows cannot place " +
                          std::to_string(centroids) + " centroids per sub-space; need at least that many rows");
  }
  if (options.max_train_rows < centroids) {
    throw InvalidArgument(where + "max_train_rows " + std::to_string(options.max_train_rows) + " is below the " +
                          std::to_string(centroids) + " centroids per sub-space");
  }
  if (!queries.empty()) {
    if (queries.cols != data.cols) {
      throw InvalidArgument(where + "sample queries have dimension " + std::to_string(queries.cols) +
                            ", the data has " + std::to_string(data.cols));
    }
    if (options.max_query_rows == 0) throw InvalidArgument(where + "max_query_rows must be positive");
    if (!(options.ridge >= 0 && std::isfinite(options.ridge))) {
      throw InvalidArgument(where + "ridge " + std::to_string(options.ridge) + " must be finite and >= 0");
    }
    if (!(options.weight_floor >= 0 && std::isfinite(options.weight_floor))) {
      throw InvalidArgument(where + "weight_floor " + std::to_string(options.weight_floor) +
                            " must be finite and >= 0");
    }
    if (options.weight_neighbours > 0 && options.max_weight_queries == 0) {
      throw InvalidArgument(where + "max_weight_queries must be positive when weight_neighbours is");
    }
  }
  check_finite(data, "QueryAwarePq::train", "data");
  check_finite(queries, "QueryAwarePq::train", "sample query");
}

std::vector<float> to_row_major(const Eigen::MatrixXd& m) {
  std::vector<float> out(static_cast<std::size_t>(m.size()));
  Eigen::Map<RowMajorF>(out.data(), m.rows(), m.cols()) = m.cast<float>();
  return out;
}

void check_query(std::span<const float> query, std::size_t dim, const char* function) {
  if (query.size() != dim) {
    throw InvalidArgument(std::string(function) + ": query has dimension " + std::to_string(query.size()) +
                          ", the codebooks " + std::to_string(dim));
  }
}

// The rows k-means trains on, increasing, each with the weight it stands for.
struct TrainingSample {
  std::vector<std::size_t> rows;
  std::vector<float> weights;  // empty: all rows weigh the same
};

// Without retrieval counts, a seeded uniform sample. With them, every row's weight is
// floor x mean(count) + count, and the sample is stratified so that keys some query
// retrieved are not lost to sampling: as many retrieved rows as fit, then never-retrieved
// ones; each sampled row's weight is scaled by its stratum's size over its sample size, so
// the weighted sum over the sample estimates the one over all rows.
TrainingSample training_sample(std::size_t rows, std::span<const std::uint32_t> counts,
                               const QueryAwarePqOptions& options) {
  if (counts.empty()) return {leanvec_training::sample_rows(rows, options.max_train_rows, options.seed), {}};
  double total = 0;
  std::vector<std::size_t> retrieved;
  std::vector<std::size_t> never;
  for (std::size_t i = 0; i < rows; ++i) {
    total += counts[i];
    (counts[i] > 0 ? retrieved : never).push_back(i);
  }
  const double floor = options.weight_floor * total / static_cast<double>(rows);
  const std::vector<std::size_t> picked_retrieved =
      leanvec_training::sample_rows(retrieved.size(), options.max_train_rows, options.seed);
  const std::vector<std::size_t> picked_never = leanvec_training::sample_rows(
      never.size(), options.max_train_rows - picked_retrieved.size(), options.seed + 2);
  std::vector<std::pair<std::size_t, float>> weighted;
  weighted.reserve(picked_retrieved.size() + picked_never.size());
  const double retrieved_scale =
      static_cast<double>(retrieved.size()) / static_cast<double>(std::max<std::size_t>(1, picked_retrieved.size()));
  for (const std::size_t p : picked_retrieved) {
    weighted.emplace_back(retrieved[p], static_cast<float>((floor + counts[retrieved[p]]) * retrieved_scale));
  }
  const double never_scale =
      static_cast<double>(never.size()) / static_cast<double>(std::max<std::size_t>(1, picked_never.size()));
  for (const std::size_t p : picked_never) weighted.emplace_back(never[p], static_cast<float>(floor * never_scale));
  std::sort(weighted.begin(), weighted.end());
  TrainingSample sample;
  for (const auto& [row, weight] : weighted) {
    sample.rows.push_back(row);
    sample.weights.push_back(weight);
  }
  return sample;
}

// An orthogonal R (dim x dim, rows the new axes) that deals the principal directions of
// the weighted rows to the sub-spaces so that each holds about the same product of
// variances: the non-parametric OPQ initialisation (Ge et al., CVPR 2013). PQ's error
// falls with that product, so no sub-space is left with most of the variance (contiguous
// coordinates of attention keys come in high-variance rotary pairs).
Eigen::MatrixXd balanced_rotation(const float* rows, std::size_t count, std::size_t dim, std::span<const float> weights,
                                  std::size_t sub_spaces) {
  const auto d = static_cast<Eigen::Index>(dim);
  Eigen::VectorXd mean = Eigen::VectorXd::Zero(d);
  double total = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const double w = weights.empty() ? 1.0 : double{weights[i]};
    mean += w * Eigen::Map<const Eigen::VectorXf>(rows + i * dim, d).cast<double>();
    total += w;
  }
  if (total <= 0) return Eigen::MatrixXd::Identity(d, d);
  mean /= total;
  // Σ w (x - mean)(x - mean)ᵀ, one product per block of weighted, centred rows.
  constexpr std::size_t kBlock = 4096;
  Eigen::MatrixXd covariance = Eigen::MatrixXd::Zero(d, d);
  Eigen::MatrixXd block;
  for (std::size_t first = 0; first < count; first += kBlock) {
    const std::size_t n = std::min(kBlock, count - first);
    block.resize(static_cast<Eigen::Index>(n), d);
    for (std::size_t i = 0; i < n; ++i) {
      const double w = weights.empty() ? 1.0 : double{weights[first + i]};
      block.row(static_cast<Eigen::Index>(i)) =
          std::sqrt(w) * (Eigen::Map<const Eigen::VectorXf>(rows + (first + i) * dim, d).cast<double>() - mean);
    }
    covariance.selfadjointView<Eigen::Lower>().rankUpdate(block.transpose());
  }
  covariance = covariance.selfadjointView<Eigen::Lower>();
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(covariance);
  if (solver.info() != Eigen::Success) return Eigen::MatrixXd::Identity(d, d);
  const Eigen::VectorXd& values = solver.eigenvalues();  // ascending
  const double tiny = 1e-12 * std::max(values.maxCoeff(), 1e-30);
  const std::size_t sub = dim / sub_spaces;
  std::vector<double> log_product(sub_spaces, 0.0);
  std::vector<std::size_t> filled(sub_spaces, 0);
  Eigen::MatrixXd rotation(d, d);
  for (Eigen::Index j = d - 1; j >= 0; --j) {
    // Largest variance first, each to the open sub-space with the least product so far;
    // empty sub-spaces first, so the M largest directions land one per sub-space.
    std::size_t best = sub_spaces;
    for (std::size_t m = 0; m < sub_spaces; ++m) {
      if (filled[m] == sub) continue;
      if (best == sub_spaces || (filled[m] == 0) > (filled[best] == 0) ||
          ((filled[m] == 0) == (filled[best] == 0) && log_product[m] < log_product[best])) {
        best = m;
      }
    }
    rotation.row(static_cast<Eigen::Index>(best * sub + filled[best])) = solver.eigenvectors().col(j).transpose();
    log_product[best] += std::log(std::max(values[j], tiny));
    ++filled[best];
  }
  return rotation;
}

// k-means per sub-space of the (mapped) training sample, rows x dim: the codebooks,
// sub_spaces x k x sub_dim.
std::vector<float> train_codebooks(const float* sample, std::size_t rows, std::size_t dim, std::size_t sub_spaces,
                                   std::size_t k, std::span<const float> weights, const QueryAwarePqOptions& options) {
  const std::size_t sub = dim / sub_spaces;
  std::vector<float> books(sub_spaces * k * sub);
  for (std::size_t m = 0; m < sub_spaces; ++m) {
    KMeansOptions kmeans_options;
    kmeans_options.iterations = options.iterations;
    kmeans_options.seed = options.seed + m;
    kmeans_options.threads = options.threads;
    const std::vector<float> centroids = kmeans({sample + m * sub, rows, sub, dim}, k, kmeans_options, weights);
    std::copy(centroids.begin(), centroids.end(), books.begin() + static_cast<std::ptrdiff_t>(m * k * sub));
  }
  return books;
}

// The k-means distortion of a split, estimated cheaply enough to try two: a few Lloyd
// iterations on an evenly strided subset of the (mapped) sample, rows x dim.
double trial_distortion(const std::vector<float>& sample, std::size_t dim, std::size_t sub_spaces, std::size_t k,
                        std::span<const float> weights, const QueryAwarePqOptions& options) {
  const std::size_t rows = sample.size() / dim;
  const std::size_t stride = std::max<std::size_t>(1, rows / kTrialRows);
  std::vector<float> subset;
  std::vector<float> subset_weights;
  for (std::size_t i = 0; i < rows; i += stride) {
    subset.insert(subset.end(), sample.begin() + static_cast<std::ptrdiff_t>(i * dim),
                  sample.begin() + static_cast<std::ptrdiff_t>((i + 1) * dim));
    if (!weights.empty()) subset_weights.push_back(weights[i]);
  }
  QueryAwarePqOptions trial = options;
  trial.iterations = std::min(options.iterations, kTrialIterations);
  const std::size_t count = subset.size() / dim;
  const std::vector<float> books = train_codebooks(subset.data(), count, dim, sub_spaces, k, subset_weights, trial);
  // Weighted squared distance of the subset to its nearest codes.
  const std::size_t sub = dim / sub_spaces;
  std::vector<std::uint8_t> labels(count);
  double distortion = 0;
  for (std::size_t m = 0; m < sub_spaces; ++m) {
    const float* centroids = books.data() + m * k * sub;
    assign_nearest({subset.data() + m * sub, count, sub, dim}, centroids, k, labels.data(), 1, options.threads);
    for (std::size_t i = 0; i < count; ++i) {
      const float* x = subset.data() + i * dim + m * sub;
      const float* c = centroids + labels[i] * sub;
      double d2 = 0;
      for (std::size_t j = 0; j < sub; ++j) d2 += (double{x[j]} - c[j]) * (double{x[j]} - c[j]);
      distortion += (subset_weights.empty() ? 1.0 : double{subset_weights[i]}) * d2;
    }
  }
  return distortion;
}

}  // namespace

QueryAwarePq QueryAwarePq::train(MatrixView data, MatrixView sample_queries, const QueryAwarePqOptions& options) {
  validate(data, sample_queries, options);
  QueryAwarePq pq;
  pq.dim_ = data.cols;
  pq.sub_spaces_ = options.sub_spaces;
  pq.bits_ = options.bits;

  if (!sample_queries.empty()) {
    const std::vector<std::size_t> chosen =
        leanvec_training::sample_rows(sample_queries.rows, options.max_query_rows, options.seed);
    Eigen::MatrixXd h =
        leanvec_training::second_moment(sample_queries.data, pq.dim_, chosen, Eigen::VectorXd(), options.threads);
    // Relative to the mean eigenvalue, so λ means the same for any query scale.
    const double mean_eigenvalue = h.trace() / static_cast<double>(pq.dim_);
    const double floor = std::max(options.ridge * mean_eigenvalue, 1e-12 * std::max(mean_eigenvalue, 1.0));
    h.diagonal().array() += floor;
    const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(h);
    if (solver.info() != Eigen::Success) {
      throw Error("QueryAwarePq::train: the eigen decomposition of the " + std::to_string(pq.dim_) + "x" +
                  std::to_string(pq.dim_) + " query second moment did not converge");
    }
    // Rounding can leave tiny negative eigenvalues on a rank-deficient H; the ridge is the floor.
    const Eigen::VectorXd values = solver.eigenvalues().cwiseMax(floor);
    const Eigen::MatrixXd& v = solver.eigenvectors();
    pq.data_map_ = to_row_major(v * values.cwiseSqrt().asDiagonal() * v.transpose());
    pq.query_map_ = to_row_major(v * values.cwiseSqrt().cwiseInverse().asDiagonal() * v.transpose());
  }

  // Score-aware statistics from the sample queries' exact top lists: how often each key is
  // retrieved, and how the queries that retrieve a key lie relative to it.
  std::vector<std::uint32_t> counts;
  if (pq.query_aware() && options.weight_neighbours > 0) {
    const std::vector<std::size_t> counted =
        leanvec_training::sample_rows(sample_queries.rows, options.max_weight_queries, options.seed + 1);
    const std::size_t top = std::min(options.weight_neighbours, data.rows);
    const std::vector<std::uint32_t> lists = exact_top_k(data, sample_queries, counted, top, options.threads);
    counts.assign(data.rows, 0);
    for (const std::uint32_t id : lists) ++counts[id];
    if (options.anisotropic) pq.anisotropy_ = pq.retrieval_anisotropy(data, sample_queries, counted, lists, top);
  }

  // The k-means sample, whitened once for all sub-spaces.
  const TrainingSample training = training_sample(data.rows, counts, options);
  const std::vector<std::size_t>& chosen = training.rows;
  std::vector<float> sample(chosen.size() * pq.dim_);
  for (std::size_t i = 0; i < chosen.size(); ++i) {
    const auto row = data.row(chosen[i]);
    std::copy(row.begin(), row.end(), sample.begin() + static_cast<std::ptrdiff_t>(i * pq.dim_));
  }
  if (pq.mapped()) {
    std::vector<float> whitened(sample.size());
    pq.whiten(sample.data(), chosen.size(), whitened.data());
    sample = std::move(whitened);
  }
  if (options.balance_sub_spaces && pq.sub_spaces_ > 1) {
    // Kept only where it lowers the distortion: the split it replaces may follow structure
    // (clusters, rotary pairs) that the variances alone do not show.
    const Eigen::MatrixXd rotation =
        balanced_rotation(sample.data(), chosen.size(), pq.dim_, training.weights, pq.sub_spaces_);
    const auto d = static_cast<Eigen::Index>(pq.dim_);
    const Eigen::MatrixXf rotation_f = rotation.cast<float>();
    std::vector<float> rotated(sample.size());
    const Eigen::Map<const RowMajorF> rows(sample.data(), static_cast<Eigen::Index>(chosen.size()), d);
    Eigen::Map<RowMajorF> rotated_rows(rotated.data(), rows.rows(), d);
    for (Eigen::Index first = 0; first < rows.rows(); first += kRotateRows) {
      const Eigen::Index count = std::min<Eigen::Index>(kRotateRows, rows.rows() - first);
      rotated_rows.middleRows(first, count).noalias() = rows.middleRows(first, count) * rotation_f.transpose();
    }
    if (trial_distortion(rotated, pq.dim_, pq.sub_spaces_, pq.centroids(), training.weights, options) <
        trial_distortion(sample, pq.dim_, pq.sub_spaces_, pq.centroids(), training.weights, options)) {
      sample = std::move(rotated);
      if (pq.mapped()) {
        // A = R W, B = A⁻ᵀ = R W⁻¹ (R orthogonal, W symmetric): scores and whitened norms stay.
        const Eigen::Map<const RowMajorF> w(pq.data_map_.data(), d, d);
        const Eigen::Map<const RowMajorF> w_inverse(pq.query_map_.data(), d, d);
        pq.data_map_ = to_row_major(rotation * w.cast<double>());
        pq.query_map_ = to_row_major(rotation * w_inverse.cast<double>());
      } else {
        pq.data_map_ = to_row_major(rotation);
        pq.query_map_ = pq.data_map_;
        pq.rotation_only_ = true;
      }
    }
  }
  pq.codebooks_ =
      train_codebooks(sample.data(), chosen.size(), pq.dim_, pq.sub_spaces_, pq.centroids(), training.weights, options);
  if (options.overlapping && pq.sub_spaces_ > 1) {
    const std::size_t stride = std::max<std::size_t>(1, chosen.size() / kOverlappingTrainRows);
    std::vector<float> subset;
    std::vector<float> subset_weights;
    for (std::size_t i = 0; i < chosen.size(); i += stride) {
      subset.insert(subset.end(), sample.begin() + static_cast<std::ptrdiff_t>(i * pq.dim_),
                    sample.begin() + static_cast<std::ptrdiff_t>((i + 1) * pq.dim_));
      if (!training.weights.empty()) subset_weights.push_back(training.weights[i]);
    }
    pq.train_overlapping(subset.data(), subset.size() / pq.dim_, subset_weights, options.overlapping_rounds,
                         options.threads);
  }
  if (pq.anisotropy_ > 1.0f) pq.refine_anisotropic(sample.data(), chosen.size(), training.weights, options.threads);
  return pq;
}

void QueryAwarePq::refine_anisotropic(const float* sample, std::size_t rows, std::span<const float> weights,
                                      std::size_t threads) {
  // ScaNN's alternation for the anisotropic loss: assign codes for it, then move each
  // codebook's centroids to its minimiser with the other codebooks fixed. For centroid c
  // of codebook m, its span of coordinates, and the keys x coded to it (u = x/|x|,
  // t = x minus the other codebooks' reconstruction on the span, r = <u, x> minus the
  // other codebooks' <u, ĉ>), Σ w (|t - c|² + (η - 1)(r - <u_span, c>)²) is least at
  // [Σ w (I + (η - 1) u_span u_spanᵀ)] c = Σ w (t + (η - 1) r u_span): a span-sized system.
  const std::size_t k = centroids();
  const std::size_t sub = sub_dim();
  const std::size_t entry = entry_dim();
  const double extra = static_cast<double>(anisotropy_) - 1.0;
  std::vector<std::uint8_t> labels(rows * sub_spaces_);
  std::vector<float> reconstruction(rows * dim_);
  std::vector<double> parallel(rows);
  std::vector<double> inverse_norm(rows);
  for (std::size_t i = 0; i < rows; ++i) {
    const Eigen::Map<const Eigen::VectorXf> x(sample + i * dim_, static_cast<Eigen::Index>(dim_));
    const double norm = x.cast<double>().norm();
    inverse_norm[i] = norm > 0 ? 1.0 / norm : 0.0;
  }
  const std::size_t rounds = overlapping_ ? kOverlappingAnisotropicRounds : kAnisotropicTrainingRounds;
  for (std::size_t round = 0; round < rounds; ++round) {
    assign_codes(sample, rows, labels.data(), threads);
    // p = <u, x - x̂> per key, kept current as the codebooks' centroids move.
    for (std::size_t i = 0; i < rows; ++i) {
      float* x_hat = reconstruction.data() + i * dim_;
      reconstruct(labels.data() + i * sub_spaces_, x_hat);
      const float* x = sample + i * dim_;
      double p = 0;
      for (std::size_t j = 0; j < dim_; ++j) p += double{x[j]} * (x[j] - x_hat[j]);
      parallel[i] = p * inverse_norm[i];
    }
    for (std::size_t m = 0; m < sub_spaces_; ++m) {
      const std::size_t span = span_dim(m);
      const auto sd = static_cast<Eigen::Index>(span);
      std::vector<Eigen::MatrixXd> lhs(k, Eigen::MatrixXd::Zero(sd, sd));
      std::vector<Eigen::VectorXd> rhs(k, Eigen::VectorXd::Zero(sd));
      std::vector<double> mass(k, 0.0);
      for (std::size_t i = 0; i < rows; ++i) {
        const double w = weights.empty() ? 1.0 : double{weights[i]};
        if (w == 0) continue;
        const std::size_t c = labels[i * sub_spaces_ + m];
        const std::size_t offset = i * dim_ + m * sub;
        const Eigen::VectorXd x = Eigen::Map<const Eigen::VectorXf>(sample + offset, sd).cast<double>();
        const Eigen::VectorXd centroid =
            Eigen::Map<const Eigen::VectorXf>(codebooks_.data() + (m * k + c) * entry, sd).cast<double>();
        const Eigen::VectorXd others =
            Eigen::Map<const Eigen::VectorXf>(reconstruction.data() + offset, sd).cast<double>() - centroid;
        const Eigen::VectorXd u = x * inverse_norm[i];
        const double rest = parallel[i] + u.dot(centroid);
        lhs[c] += w * extra * u * u.transpose();
        lhs[c].diagonal().array() += w;
        rhs[c] += w * (x - others + extra * rest * u);
        mass[c] += w;
      }
      const std::vector<float> before(codebooks_.begin() + static_cast<std::ptrdiff_t>(m * k * entry),
                                      codebooks_.begin() + static_cast<std::ptrdiff_t>((m + 1) * k * entry));
      for (std::size_t c = 0; c < k; ++c) {
        if (mass[c] <= 0) continue;  // no key coded here: the centroid stays
        const Eigen::VectorXd solved = lhs[c].ldlt().solve(rhs[c]);
        if (!solved.allFinite()) continue;
        Eigen::Map<Eigen::VectorXf>(codebooks_.data() + (m * k + c) * entry, sd) = solved.cast<float>();
      }
      // p and x̂ with m's new centroid in place of the old: p + <u_span, old - new>.
      for (std::size_t i = 0; i < rows; ++i) {
        const std::size_t c = labels[i * sub_spaces_ + m];
        const float* x = sample + i * dim_ + m * sub;
        float* x_hat = reconstruction.data() + i * dim_ + m * sub;
        const float* old_centroid = before.data() + c * entry;
        const float* new_centroid = codebooks_.data() + (m * k + c) * entry;
        double shift = 0;
        for (std::size_t j = 0; j < span; ++j) {
          shift += double{x[j]} * (old_centroid[j] - new_centroid[j]);
          x_hat[j] += new_centroid[j] - old_centroid[j];
        }
        parallel[i] += shift * inverse_norm[i];
      }
    }
  }
}

void QueryAwarePq::train_overlapping(const float* sample, std::size_t rows, std::span<const float> weights,
                                     std::size_t rounds, std::size_t threads) {
  const std::size_t k = centroids();
  const std::size_t sub = sub_dim();
  std::vector<float> books(sub_spaces_ * k * 2 * sub, 0.0f);
  for (std::size_t entry = 0; entry < sub_spaces_ * k; ++entry) {
    std::copy_n(codebooks_.begin() + static_cast<std::ptrdiff_t>(entry * sub), sub,
                books.begin() + static_cast<std::ptrdiff_t>(entry * 2 * sub));
  }
  codebooks_ = std::move(books);
  overlapping_ = true;
  const std::size_t entry = entry_dim();
  const auto kk = static_cast<Eigen::Index>(k);
  const auto sd = static_cast<Eigen::Index>(sub);
  std::vector<std::uint8_t> labels(rows * sub_spaces_);
  for (std::size_t round = 0; round < rounds; ++round) {
    assign_chain(sample, rows, labels.data(), threads);
    // Sub-space m is reconstructed as L[a] + U[b]: L the first halves of codebook m, U the
    // second halves of codebook m - 1, a and b the key's codes there. The weighted least
    // squares of the two, with N[a][b] the weight coded (a, b), solve
    // [diag(n_L) N; Nᵀ diag(n_U)] [L; U] = [s_L; s_U]. A small ridge towards the current
    // values fixes the shift L + v, U - v that leaves every sum unchanged, and keeps
    // unused centroids where they are. Eliminating L leaves a k x k system in U. The step
    // is then over-relaxed (kOverRelaxation).
    const std::size_t workers =
        std::min(leanvec_training::resolve_threads(threads), std::max<std::size_t>(1, sub_spaces_));
    leanvec_training::run_workers(workers, [&](std::size_t w) {
      for (std::size_t m = w; m < sub_spaces_; m += workers) {
        Eigen::VectorXd mass_lower = Eigen::VectorXd::Zero(kk);
        Eigen::VectorXd mass_upper = Eigen::VectorXd::Zero(kk);
        Eigen::MatrixXd pairs = Eigen::MatrixXd::Zero(kk, kk);
        Eigen::MatrixXd sums_lower = Eigen::MatrixXd::Zero(kk, sd);
        Eigen::MatrixXd sums_upper = Eigen::MatrixXd::Zero(kk, sd);
        for (std::size_t i = 0; i < rows; ++i) {
          const double weight = weights.empty() ? 1.0 : double{weights[i]};
          const auto a = static_cast<Eigen::Index>(labels[i * sub_spaces_ + m]);
          const Eigen::VectorXd x = Eigen::Map<const Eigen::VectorXf>(sample + i * dim_ + m * sub, sd).cast<double>();
          mass_lower[a] += weight;
          sums_lower.row(a) += weight * x.transpose();
          if (m == 0) continue;
          const auto b = static_cast<Eigen::Index>(labels[i * sub_spaces_ + m - 1]);
          mass_upper[b] += weight;
          pairs(a, b) += weight;
          sums_upper.row(b) += weight * x.transpose();
        }
        Eigen::MatrixXd lower(kk, sd);
        Eigen::MatrixXd upper = Eigen::MatrixXd::Zero(kk, sd);
        for (Eigen::Index c = 0; c < kk; ++c) {
          lower.row(c) = Eigen::Map<const Eigen::VectorXf>(codebooks_.data() + (m * k + c) * entry, sd)
                             .cast<double>()
                             .transpose();
          if (m > 0) {
            upper.row(c) = Eigen::Map<const Eigen::VectorXf>(codebooks_.data() + ((m - 1) * k + c) * entry + sub, sd)
                               .cast<double>()
                               .transpose();
          }
        }
        const double total = mass_lower.sum();
        if (total <= 0) continue;
        const double ridge = 1e-3 * total / static_cast<double>(k);
        const Eigen::VectorXd lower_diagonal = mass_lower.array() + ridge;
        const Eigen::MatrixXd lower_rhs = sums_lower + ridge * lower;
        Eigen::MatrixXd solved_lower;
        Eigen::MatrixXd solved_upper = upper;
        if (m == 0) {
          solved_lower = lower_diagonal.cwiseInverse().asDiagonal() * lower_rhs;
        } else {
          const Eigen::MatrixXd scaled = lower_diagonal.cwiseInverse().asDiagonal() * pairs;  // diag(L)⁻¹ N
          Eigen::MatrixXd schur = -pairs.transpose() * scaled;
          schur.diagonal() += mass_upper + Eigen::VectorXd::Constant(kk, ridge);
          const Eigen::MatrixXd upper_rhs =
              sums_upper + ridge * upper - scaled.transpose() * lower_rhs;  // Nᵀ diag(L)⁻¹ s_L
          solved_upper = schur.ldlt().solve(upper_rhs);
          solved_lower = lower_diagonal.cwiseInverse().asDiagonal() * (lower_rhs - pairs * solved_upper);
        }
        if (!solved_lower.allFinite() || !solved_upper.allFinite()) continue;
        solved_lower = lower + kOverRelaxation * (solved_lower - lower);
        solved_upper = upper + kOverRelaxation * (solved_upper - upper);
        for (Eigen::Index c = 0; c < kk; ++c) {
          Eigen::Map<Eigen::VectorXf>(codebooks_.data() + (m * k + c) * entry, sd) =
              solved_lower.row(c).transpose().cast<float>();
          if (m > 0) {
            Eigen::Map<Eigen::VectorXf>(codebooks_.data() + ((m - 1) * k + c) * entry + sub, sd) =
                solved_upper.row(c).transpose().cast<float>();
          }
        }
      }
    });
  }
}

void QueryAwarePq::reconstruct(const std::uint8_t* labels, float* out) const {
  const std::size_t k = centroids();
  const std::size_t sub = sub_dim();
  const std::size_t entry = entry_dim();
  std::fill(out, out + dim_, 0.0f);
  for (std::size_t m = 0; m < sub_spaces_; ++m) {
    const float* c = codebooks_.data() + (m * k + labels[m]) * entry;
    const std::size_t span = span_dim(m);
    for (std::size_t j = 0; j < span; ++j) out[m * sub + j] += c[j];
  }
}

void QueryAwarePq::whiten(const float* rows, std::size_t count, float* out) const {
  const auto d = static_cast<Eigen::Index>(dim_);
  const auto n = static_cast<Eigen::Index>(count);
  // The rows x̃ᵀ = xᵀ Aᵀ.
  Eigen::Map<RowMajorF>(out, n, d).noalias() =
      Eigen::Map<const RowMajorF>(rows, n, d) * Eigen::Map<const RowMajorF>(data_map_.data(), d, d).transpose();
}

float QueryAwarePq::retrieval_anisotropy(MatrixView data, MatrixView queries, std::span<const std::size_t> counted,
                                         std::span<const std::uint32_t> lists, std::size_t top) const {
  // In the whitened space the score is <q̃, x̃>. Split each retrieving query into its part
  // along the key, a = <q̃, x̃>/|x̃|, and the rest: η = E[a²] / (E|q̃ - a x̃/|x̃||² / (D - 1)).
  const auto d = static_cast<Eigen::Index>(dim_);
  const Eigen::Map<const RowMajorF> query_map(query_map_.data(), d, d);
  double along = 0;
  double across = 0;
  // One query's retrieved keys, gathered and then whitened together in one product.
  std::vector<float> keys(top * dim_);
  std::vector<float> whitened(top * dim_);
  for (std::size_t i = 0; i < counted.size(); ++i) {
    const Eigen::VectorXf q_tilde = query_map * Eigen::Map<const Eigen::VectorXf>(queries.row(counted[i]).data(), d);
    const double q_norm2 = q_tilde.squaredNorm();
    for (std::size_t j = 0; j < top; ++j) {
      const auto row = data.row(lists[i * top + j]);
      std::copy(row.begin(), row.end(), keys.begin() + static_cast<std::ptrdiff_t>(j * dim_));
    }
    whiten(keys.data(), top, whitened.data());
    const Eigen::Map<const RowMajorF> x_tilde(whitened.data(), static_cast<Eigen::Index>(top), d);
    const Eigen::VectorXf dots = x_tilde * q_tilde;
    for (std::size_t j = 0; j < top; ++j) {
      const double x_norm2 = x_tilde.row(static_cast<Eigen::Index>(j)).squaredNorm();
      if (x_norm2 <= 0) continue;
      const double dot = dots[static_cast<Eigen::Index>(j)];
      const double a2 = dot * dot / x_norm2;
      along += a2;
      across += std::max(0.0, q_norm2 - a2);
    }
  }
  if (dim_ < 2 || across <= 0 || along <= 0) return 1.0f;
  const double eta = along / (across / static_cast<double>(dim_ - 1));
  // Below 1 the key's own direction would matter less than the others: plain assignment.
  return static_cast<float>(std::clamp(eta, 1.0, kMaxAnisotropy));
}

void QueryAwarePq::assign_anisotropic(const float* rows, std::size_t count, std::uint8_t* labels,
                                      std::size_t threads) const {
  // Per key x (whitened), minimise Σ_m |x_m - c_m|² + (η - 1)(<u, x - ĉ>)², u = x/|x|, by
  // coordinate descent over the sub-spaces from the nearest codes (Guo et al., ScaNN, 2020).
  // One product per sub-space gives both terms: <x_m, c> yields |x_m - c|² and <u_m, c>.
  const std::size_t k = centroids();
  const std::size_t sub = sub_dim();
  const auto kk = static_cast<Eigen::Index>(k);
  const auto sd = static_cast<Eigen::Index>(sub);
  std::vector<float> book_norms(sub_spaces_ * k);
  for (std::size_t m = 0; m < sub_spaces_; ++m) {
    const Eigen::Map<const RowMajorF> book(codebooks_.data() + m * k * sub, kk, sd);
    Eigen::Map<Eigen::VectorXf>(book_norms.data() + m * k, kk) = book.rowwise().squaredNorm();
  }
  const double extra = static_cast<double>(anisotropy_) - 1.0;
  const std::size_t blocks = (count + kAnisotropicBlock - 1) / kAnisotropicBlock;
  const std::size_t workers = std::min(leanvec_training::resolve_threads(threads), std::max<std::size_t>(1, blocks));
  leanvec_training::run_workers(workers, [&](std::size_t w) {
    std::vector<RowMajorF> products(sub_spaces_);
    std::vector<float> distance(sub_spaces_ * k);
    std::vector<float> along(sub_spaces_ * k);
    for (std::size_t b = w; b < blocks; b += workers) {
      const std::size_t first = b * kAnisotropicBlock;
      const std::size_t n = std::min(kAnisotropicBlock, count - first);
      for (std::size_t m = 0; m < sub_spaces_; ++m) {
        const Eigen::Map<const RowMajorF, 0, Eigen::OuterStride<>> block(
            rows + first * dim_ + m * sub, static_cast<Eigen::Index>(n), sd,
            Eigen::OuterStride<>(static_cast<Eigen::Index>(dim_)));
        const Eigen::Map<const RowMajorF> book(codebooks_.data() + m * k * sub, kk, sd);
        products[m].noalias() = block * book.transpose();
      }
      for (std::size_t i = 0; i < n; ++i) {
        const float* x = rows + (first + i) * dim_;
        double norm2 = 0;
        for (std::size_t j = 0; j < dim_; ++j) norm2 += double{x[j]} * x[j];
        std::uint8_t* codes = labels + (first + i) * sub_spaces_;
        if (norm2 <= 0) continue;  // keeps the nearest codes: no direction to favour
        const double inverse_norm = 1.0 / std::sqrt(norm2);
        // p = <u, x - ĉ> = |x| - Σ_m <u_m, c_m>.
        double parallel = std::sqrt(norm2);
        for (std::size_t m = 0; m < sub_spaces_; ++m) {
          double sub_norm2 = 0;
          for (std::size_t j = 0; j < sub; ++j) sub_norm2 += double{x[m * sub + j]} * x[m * sub + j];
          for (std::size_t c = 0; c < k; ++c) {
            const double dot = products[m](static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(c));
            distance[m * k + c] = static_cast<float>(sub_norm2 - 2 * dot + book_norms[m * k + c]);
            along[m * k + c] = static_cast<float>(dot * inverse_norm);
          }
          parallel -= along[m * k + codes[m]];
        }
        for (std::size_t sweep = 0; sweep < kAnisotropicSweeps; ++sweep) {
          bool changed = false;
          for (std::size_t m = 0; m < sub_spaces_; ++m) {
            const double rest = parallel + along[m * k + codes[m]];
            std::size_t best = codes[m];
            double best_loss = std::numeric_limits<double>::infinity();
            for (std::size_t c = 0; c < k; ++c) {
              const double p = rest - along[m * k + c];
              const double loss = distance[m * k + c] + extra * p * p;
              if (loss < best_loss) best_loss = loss, best = c;
            }
            if (best != codes[m]) {
              codes[m] = static_cast<std::uint8_t>(best);
              changed = true;
            }
            parallel = rest - along[m * k + codes[m]];
          }
          if (!changed) break;
        }
      }
    }
  });
}

void QueryAwarePq::assign_chain(const float* rows, std::size_t count, std::uint8_t* labels,
                                std::size_t threads) const {
  // Sub-space m's error depends on the codes of m - 1 and m only, so the best chain is a
  // shortest path: cost_m[c] = min over b of cost_{m-1}[b] + |x_m - U[b] - L[c]|², L the
  // first halves of codebook m, U the second halves of codebook m - 1. Each step tries the
  // kViterbiBeam best b, with |x_m - U[b] - L[c]|² = |a|² - 2<a, L[c]> + |L[c]|², a = x_m - U[b].
  const std::size_t k = centroids();
  const std::size_t sub = sub_dim();
  const std::size_t entry = entry_dim();
  const std::size_t beam = std::min(kViterbiBeam, k);
  // First halves transposed (sub-space, coordinate, code), so the inner loop runs over codes.
  std::vector<float> lower(sub_spaces_ * sub * k);
  std::vector<float> lower_norms(sub_spaces_ * k, 0.0f);
  for (std::size_t m = 0; m < sub_spaces_; ++m) {
    for (std::size_t c = 0; c < k; ++c) {
      for (std::size_t j = 0; j < sub; ++j) {
        const float v = codebooks_[(m * k + c) * entry + j];
        lower[(m * sub + j) * k + c] = v;
        lower_norms[m * k + c] += v * v;
      }
    }
  }
  const std::size_t workers = std::min(leanvec_training::resolve_threads(threads), std::max<std::size_t>(1, count));
  leanvec_training::run_workers(workers, [&](std::size_t w) {
    std::vector<float> cost(k);
    std::vector<float> best(k);
    std::vector<float> candidate(k);
    std::vector<std::uint32_t> from(k);
    std::vector<std::uint32_t> beam_state(beam);
    std::vector<float> beam_cost(beam);
    std::vector<float> shifted(sub);
    std::vector<std::uint8_t> back(sub_spaces_ * k);
    for (std::size_t i = w; i < count; i += workers) {
      const float* x = rows + i * dim_;
      for (std::size_t c = 0; c < k; ++c) {
        float d = 0;
        for (std::size_t j = 0; j < sub; ++j) {
          const float e = x[j] - lower[j * k + c];
          d += e * e;
        }
        cost[c] = d;
      }
      for (std::size_t m = 1; m < sub_spaces_; ++m) {
        const float* x_m = x + m * sub;
        const float* lower_m = lower.data() + m * sub * k;
        const float* norms_m = lower_norms.data() + m * k;
        // The beam: the `beam` cheapest states so far, kept sorted by insertion. Once it is
        // full most states fail the first comparison, which nth_element's partitioning
        // (unpredictable branches on every element) does not allow.
        std::size_t kept = 0;
        for (std::size_t c = 0; c < k; ++c) {
          const float v = cost[c];
          if (kept == beam && !(v < beam_cost[beam - 1])) continue;
          std::size_t at = kept < beam ? kept++ : beam - 1;
          for (; at > 0 && v < beam_cost[at - 1]; --at) {
            beam_cost[at] = beam_cost[at - 1];
            beam_state[at] = beam_state[at - 1];
          }
          beam_cost[at] = v;
          beam_state[at] = static_cast<std::uint32_t>(c);
        }
        std::fill(best.begin(), best.end(), std::numeric_limits<float>::infinity());
        for (std::size_t t = 0; t < beam; ++t) {
          const std::uint32_t previous = beam_state[t];
          const float* upper = codebooks_.data() + ((m - 1) * k + previous) * entry + sub;
          float base = cost[previous];
          for (std::size_t j = 0; j < sub; ++j) {
            shifted[j] = x_m[j] - upper[j];
            base += shifted[j] * shifted[j];
          }
          // Unaliased and branch-free, so that these loops vectorise.
          float* __restrict scores = candidate.data();
          float* __restrict lowest = best.data();
          std::uint32_t* __restrict winner = from.data();
          for (std::size_t c = 0; c < k; ++c) scores[c] = base + norms_m[c];
          for (std::size_t j = 0; j < sub; ++j) {
            const float twice = 2.0f * shifted[j];
            const float* __restrict column = lower_m + j * k;
            for (std::size_t c = 0; c < k; ++c) scores[c] -= twice * column[c];
          }
          for (std::size_t c = 0; c < k; ++c) {
            const std::uint32_t better = 0u - static_cast<std::uint32_t>(scores[c] < lowest[c]);  // all ones or none
            lowest[c] = std::min(scores[c], lowest[c]);
            winner[c] = (previous & better) | (winner[c] & ~better);
          }
        }
        for (std::size_t c = 0; c < k; ++c) back[m * k + c] = static_cast<std::uint8_t>(from[c]);
        std::swap(cost, best);
      }
      auto code = static_cast<std::size_t>(std::min_element(cost.begin(), cost.end()) - cost.begin());
      std::uint8_t* codes = labels + i * sub_spaces_;
      for (std::size_t m = sub_spaces_; m-- > 0;) {
        codes[m] = static_cast<std::uint8_t>(code);
        if (m > 0) code = back[m * k + code];
      }
    }
  });
}

void QueryAwarePq::assign_chain_anisotropic(const float* rows, std::size_t count, std::uint8_t* labels,
                                            std::size_t threads) const {
  // As assign_anisotropic, but a code now moves two sub-spaces of the reconstruction, so
  // each key keeps its residual r = x - x̂ and p = <u, r>; the loss of code c of codebook
  // m is the span's |r + ĉ_old - c|² plus (η - 1)(p + <u_span, ĉ_old - c>)².
  const std::size_t k = centroids();
  const std::size_t sub = sub_dim();
  const std::size_t entry = entry_dim();
  const double extra = static_cast<double>(anisotropy_) - 1.0;
  const std::size_t workers = std::min(leanvec_training::resolve_threads(threads), std::max<std::size_t>(1, count));
  leanvec_training::run_workers(workers, [&](std::size_t w) {
    std::vector<float> residual(dim_);
    for (std::size_t i = w; i < count; i += workers) {
      const float* x = rows + i * dim_;
      std::uint8_t* codes = labels + i * sub_spaces_;
      double norm2 = 0;
      for (std::size_t j = 0; j < dim_; ++j) norm2 += double{x[j]} * x[j];
      if (norm2 <= 0) continue;  // keeps the chain's codes: no direction to favour
      const double inverse_norm = 1.0 / std::sqrt(norm2);
      reconstruct(codes, residual.data());
      double parallel = 0;
      for (std::size_t j = 0; j < dim_; ++j) {
        residual[j] = x[j] - residual[j];
        parallel += double{x[j]} * residual[j];
      }
      parallel *= inverse_norm;
      for (std::size_t sweep = 0; sweep < kAnisotropicSweeps; ++sweep) {
        bool changed = false;
        for (std::size_t m = 0; m < sub_spaces_; ++m) {
          const std::size_t span = span_dim(m);
          const float* r = residual.data() + m * sub;
          const float* u = x + m * sub;
          const float* current = codebooks_.data() + (m * k + codes[m]) * entry;
          std::size_t best = codes[m];
          double best_loss = std::numeric_limits<double>::infinity();
          double best_along = 0;
          for (std::size_t c = 0; c < k; ++c) {
            const float* centroid = codebooks_.data() + (m * k + c) * entry;
            double squared = 0;
            double along = 0;
            for (std::size_t j = 0; j < span; ++j) {
              const double moved = double{current[j]} - centroid[j];
              const double e = r[j] + moved;
              squared += e * e;
              along += u[j] * moved;
            }
            const double p = parallel + along * inverse_norm;
            const double loss = squared + extra * p * p;
            if (loss < best_loss) best_loss = loss, best = c, best_along = along;
          }
          if (best == codes[m]) continue;
          const float* chosen = codebooks_.data() + (m * k + best) * entry;
          for (std::size_t j = 0; j < span; ++j) residual[m * sub + j] += current[j] - chosen[j];
          parallel += best_along * inverse_norm;
          codes[m] = static_cast<std::uint8_t>(best);
          changed = true;
        }
        if (!changed) break;
      }
    }
  });
}

void QueryAwarePq::assign_codes(const float* rows, std::size_t count, std::uint8_t* labels,
                                std::size_t threads) const {
  if (overlapping_) {
    assign_chain(rows, count, labels, threads);
    if (anisotropy_ > 1.0f) assign_chain_anisotropic(rows, count, labels, threads);
    return;
  }
  const std::size_t k = centroids();
  const std::size_t sub = sub_dim();
  for (std::size_t m = 0; m < sub_spaces_; ++m) {
    assign_nearest({rows + m * sub, count, sub, dim_}, codebooks_.data() + m * k * sub, k, labels + m, sub_spaces_,
                   threads);
  }
  if (anisotropy_ > 1.0f) assign_anisotropic(rows, count, labels, threads);
}

PqCodes QueryAwarePq::encode(MatrixView data, std::size_t threads) const {
  if (data.cols != dim_) {
    throw InvalidArgument("QueryAwarePq::encode: data have dimension " + std::to_string(data.cols) +
                          ", the codebooks " + std::to_string(dim_));
  }
  check_finite(data, "QueryAwarePq::encode", "data");
  std::vector<std::uint8_t> labels(data.rows * sub_spaces_);
  std::vector<float> whitened(mapped() ? std::min(kEncodeRows, data.rows) * dim_ : 0);
  for (std::size_t first = 0; first < data.rows; first += kEncodeRows) {
    const std::size_t count = std::min(kEncodeRows, data.rows - first);
    const float* rows = data.data + first * dim_;
    if (mapped()) {
      whiten(rows, count, whitened.data());
      rows = whitened.data();
    }
    assign_codes(rows, count, labels.data() + first * sub_spaces_, threads);
  }
  return PqCodes(labels, sub_spaces_, bits_);
}

float QueryAwarePq::code_distance(const std::uint8_t* a, const std::uint8_t* b) const {
  const std::size_t k = centroids();
  const std::size_t sub = sub_dim();
  const std::size_t entry = entry_dim();
  auto code = [&](const std::uint8_t* codes, std::size_t m) -> std::size_t {
    return bits_ == 8 ? codes[m] : packed_nibble(codes, m);
  };
  float sum = 0.0f;
  for (std::size_t m = 0; m < sub_spaces_; ++m) {
    const std::size_t code_a = code(a, m);
    const std::size_t code_b = code(b, m);
    // Sub-space m: codebook m's first half, plus codebook m - 1's second half if overlapping.
    const bool second = overlapping_ && m > 0;
    const std::size_t previous_a = second ? code(a, m - 1) : 0;
    const std::size_t previous_b = second ? code(b, m - 1) : 0;
    if (code_a == code_b && previous_a == previous_b) continue;
    const float* x = codebooks_.data() + (m * k + code_a) * entry;
    const float* y = codebooks_.data() + (m * k + code_b) * entry;
    for (std::size_t j = 0; j < sub; ++j) {
      float difference = x[j] - y[j];
      if (second) {
        difference += codebooks_[((m - 1) * k + previous_a) * entry + sub + j] -
                      codebooks_[((m - 1) * k + previous_b) * entry + sub + j];
      }
      sum += difference * difference;
    }
  }
  return sum;
}

void QueryAwarePq::decode(const PqCodes& codes, std::size_t i, std::span<float> out) const {
  if (out.size() != dim_ || i >= codes.size() || codes.sub_spaces() != sub_spaces_ || codes.bits() != bits_) {
    throw InvalidArgument("QueryAwarePq::decode: vector " + std::to_string(i) + " of " +
                          std::to_string(codes.size()) + " into " + std::to_string(out.size()) +
                          " values; expected an index in range, dim() values and codes of this quantizer");
  }
  std::vector<std::uint8_t> labels(sub_spaces_);
  for (std::size_t m = 0; m < sub_spaces_; ++m) labels[m] = static_cast<std::uint8_t>(codes.get(i, m));
  std::vector<float> whitened(dim_);
  reconstruct(labels.data(), whitened.data());
  if (!mapped()) {
    std::copy(whitened.begin(), whitened.end(), out.begin());
    return;
  }
  const auto d = static_cast<Eigen::Index>(dim_);
  // x̂ = A⁻¹ x̃̂ = Bᵀ x̃̂, B = A⁻ᵀ being the query map.
  Eigen::Map<Eigen::VectorXf>(out.data(), d).noalias() =
      Eigen::Map<const RowMajorF>(query_map_.data(), d, d).transpose() *
      Eigen::Map<const Eigen::VectorXf>(whitened.data(), d);
}

void QueryAwarePq::lookup_table(std::span<const float> query, std::span<float> lut) const {
  check_query(query, dim_, "QueryAwarePq::lookup_table");
  if (lut.size() != lookup_table_size()) {
    throw InvalidArgument("QueryAwarePq::lookup_table: table has " + std::to_string(lut.size()) +
                          " entries; expected " + std::to_string(lookup_table_size()));
  }
  const auto d = static_cast<Eigen::Index>(dim_);
  Eigen::VectorXf transformed = Eigen::Map<const Eigen::VectorXf>(query.data(), d);
  if (mapped()) {
    // q̃ = B q = A⁻ᵀ q, so that <q̃, x̃> = qᵀ A⁻¹ A x = <q, x>.
    transformed = Eigen::Map<const RowMajorF>(query_map_.data(), d, d) * transformed;
  }
  const auto k = static_cast<Eigen::Index>(centroids());
  const auto sub = static_cast<Eigen::Index>(sub_dim());
  const auto entry = static_cast<Eigen::Index>(entry_dim());
  for (std::size_t m = 0; m < sub_spaces_; ++m) {
    const auto mi = static_cast<Eigen::Index>(m);
    const auto span = static_cast<Eigen::Index>(span_dim(m));
    const Eigen::Map<const RowMajorF, 0, Eigen::OuterStride<>> book(codebooks_.data() + mi * k * entry, k, span,
                                                                      Eigen::OuterStride<>(entry));
    Eigen::Map<Eigen::VectorXf>(lut.data() + m * centroids(), k).noalias() = book * transformed.segment(mi * sub, span);
  }
}

float QueryAwarePq::estimate(std::span<const float> lut, const PqCodes& codes, std::size_t i) const {
  const std::size_t k = centroids();
  float sum = 0;
  for (std::size_t m = 0; m < sub_spaces_; ++m) sum += lut[m * k + codes.get(i, m)];
  return sum;
}

void QueryAwarePq::save(std::ostream& out) const {
  std::string bytes(kMagic.begin(), kMagic.end());
  put_u32(bytes, kFormatVersion);
  const bool anisotropic = anisotropy_ > 1.0f;
  put_u32(bytes, (query_aware() ? kQueryAwareFlag : 0) | (anisotropic ? kAnisotropicFlag : 0) |
                     (rotation_only_ ? kRotationOnlyFlag : 0) | (overlapping_ ? kOverlappingFlag : 0));
  put_u32(bytes, static_cast<std::uint32_t>(dim_));
  put_u32(bytes, static_cast<std::uint32_t>(sub_spaces_));
  put_u32(bytes, bits_);
  if (anisotropic) put_floats(bytes, std::vector<float>{anisotropy_});
  put_floats(bytes, data_map_);
  put_floats(bytes, query_map_);
  put_floats(bytes, codebooks_);
  put_u64(bytes, fnv1a(bytes));
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw IoError("QueryAwarePq::save: the output stream failed");
}

QueryAwarePq QueryAwarePq::load(std::istream& in, const std::string& source_name) {
  const std::string header = read_exactly(in, kHeaderBytes, source_name, "PQ codebook", "header");
  auto corrupt = [&](const std::string& why) { return CorruptFile(source_name + ": " + why); };
  if (!std::equal(kMagic.begin(), kMagic.end(), header.begin())) throw corrupt("not a PQ codebook (bad magic)");
  const std::uint32_t version = get_u32(header, 8);
  if (version > kFormatVersion) {
    throw IncompatibleVersion(source_name + ": PQ codebook format version " + std::to_string(version) +
                              " is newer than this build reads (" + std::to_string(kFormatVersion) + ")");
  }
  if (version == 0) throw corrupt("PQ codebook format version 0 does not exist");
  const std::uint32_t flags = get_u32(header, 12);
  const std::size_t dim = get_u32(header, 16);
  const std::size_t sub_spaces = get_u32(header, 20);
  const std::uint32_t bits = get_u32(header, 24);
  if ((flags & ~(kQueryAwareFlag | kAnisotropicFlag | kRotationOnlyFlag | kOverlappingFlag)) != 0 ||
      (version < 3 && (flags & kOverlappingFlag) != 0) ||
      ((flags & kQueryAwareFlag) != 0 && (flags & kRotationOnlyFlag) != 0)) {
    throw corrupt("invalid PQ codebook flags " + std::to_string(flags));
  }
  if ((flags & kAnisotropicFlag) != 0 && (flags & kQueryAwareFlag) == 0) {
    throw corrupt("PQ codebook flags " + std::to_string(flags) + ": anisotropic encoding without query-aware maps");
  }
  if (dim == 0 || dim > kMaxStoredDim) {
    throw corrupt("PQ dimension " + std::to_string(dim) + " outside 1 ... " + std::to_string(kMaxStoredDim));
  }
  if (sub_spaces == 0 || dim % sub_spaces != 0) {
    throw corrupt("PQ sub-space count " + std::to_string(sub_spaces) + " does not divide dimension " +
                  std::to_string(dim));
  }
  if (bits != 4 && bits != 8) throw corrupt("PQ sub-codes of " + std::to_string(bits) + " bits; expected 4 or 8");
  const std::size_t eta_floats = (flags & kAnisotropicFlag) != 0 ? 1 : 0;
  const std::size_t map_floats = (flags & (kQueryAwareFlag | kRotationOnlyFlag)) != 0 ? dim * dim : 0;
  const bool overlapping = (flags & kOverlappingFlag) != 0;
  if (overlapping && sub_spaces < 2) throw corrupt("overlapping PQ codebooks need at least two sub-spaces");
  const std::size_t book_floats = (std::size_t{1} << bits) * dim * (overlapping ? 2 : 1);
  const std::string eta = read_exactly(in, 4 * eta_floats, source_name, "PQ codebook", "anisotropy");
  const std::string payload =
      read_exactly(in, 4 * (2 * map_floats + book_floats), source_name, "PQ codebook", "matrices");
  const std::string trailer = read_exactly(in, 8, source_name, "PQ codebook", "checksum");
  if (get_u64(trailer, 0) != fnv1a(payload, fnv1a(eta, fnv1a(header)))) {
    throw corrupt("PQ codebook checksum mismatch");
  }

  QueryAwarePq pq;
  pq.dim_ = dim;
  pq.sub_spaces_ = sub_spaces;
  pq.bits_ = bits;
  pq.rotation_only_ = (flags & kRotationOnlyFlag) != 0;
  pq.overlapping_ = overlapping;
  pq.data_map_ = get_floats(payload, 0, map_floats);
  pq.query_map_ = get_floats(payload, 4 * map_floats, map_floats);
  pq.codebooks_ = get_floats(payload, 8 * map_floats, book_floats);
  if (eta_floats != 0) {
    pq.anisotropy_ = get_floats(eta, 0, 1)[0];
    if (!(pq.anisotropy_ > 1.0f && pq.anisotropy_ <= kMaxAnisotropy)) {
      throw corrupt("PQ anisotropy " + std::to_string(pq.anisotropy_) + " outside (1, " +
                    std::to_string(kMaxAnisotropy) + "]");
    }
  }
  if (!all_finite(pq.data_map_) || !all_finite(pq.query_map_) || !all_finite(pq.codebooks_)) {
    throw corrupt("PQ codebook holds NaN or infinite values");
  }
  return pq;
}

}  // namespace quiver::quant
