#include "quant/leanvec.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <istream>
#include <ostream>

#include "quant/leanvec_training.h"
#include "quant/stored_bytes.h"
#include "quiver/error.h"

namespace quiver::quant {
namespace {

namespace training = leanvec_training;

using RowMajorF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Stored layout, all little-endian:
//   offset 0   8 bytes  magic "QVLEANVC"
//          8   u32      format version (1)
//         12   u32      kind: 0 = in-distribution, 1 = out-of-distribution
//         16   u32      flags: bit 0 = centre_queries (in-distribution only); other bits zero
//         20   u32      input dimension D (2 ... 65536)
//         24   u32      output dimension d (1 ... D - 1)
//         28   float32  in-distribution: mean[D], then P^T[d x D] row-major
//                       out-of-distribution: A^T[d x D], then B^T[d x D], both row-major
//        end   u64      FNV-1a 64 of every byte before it
constexpr std::array<char, 8> kMagic = {'Q', 'V', 'L', 'E', 'A', 'N', 'V', 'C'};
constexpr std::uint32_t kFormatVersion = 1;
constexpr std::size_t kHeaderBytes = 28;
constexpr std::uint32_t kCentreQueriesFlag = 1;
// Bounds what a header can make load() expect; wider vectors than this are not embeddings.
constexpr std::size_t kMaxStoredDim = 65536;

// Rows centred per block in project_data_batch: the block (256 x D floats) stays in L2 while
// the matrix product runs over it.
constexpr std::size_t kBatchRows = 256;
// Elements centred at a time on the stack by the single-vector projections, so the hot path
// neither allocates nor loses precision by projecting the mean separately.
constexpr std::size_t kCentreChunk = 256;

using namespace stored_bytes;

// The index of the first row holding a NaN or infinity, or `rows` if none.
std::size_t first_non_finite_row(const float* values, std::size_t rows, std::size_t dim, std::size_t threads) {
  const std::size_t workers = std::min(training::resolve_threads(threads), std::max<std::size_t>(1, rows / 4096));
  std::vector<std::size_t> first(workers, rows);
  training::run_workers(workers, [&](std::size_t w) {
    const std::size_t end = rows * (w + 1) / workers;
    for (std::size_t r = rows * w / workers; r < end; ++r) {
      const float* row = values + r * dim;
      if (!std::all_of(row, row + dim, [](float v) { return std::isfinite(v); })) {
        first[w] = r;
        return;
      }
    }
  });
  return *std::min_element(first.begin(), first.end());
}

void check_rows(const LeanVecRows& rows, const char* what, std::size_t threads) {
  const std::size_t bad = first_non_finite_row(rows.values, rows.rows, rows.dim, threads);
  if (bad != rows.rows) {
    throw InvalidArgument(std::string("LeanVec::train: ") + what + " row " + std::to_string(bad) +
                          " holds a NaN or infinite value; every value must be finite");
  }
}

void validate(const LeanVecRows& data, const LeanVecRows& queries, const LeanVecOptions& options) {
  const std::string where = "LeanVec::train: ";
  if (data.values == nullptr || data.rows == 0) throw InvalidArgument(where + "no data rows to train on");
  if (data.dim < 2) {
    throw InvalidArgument(where + "data dimension " + std::to_string(data.dim) + " cannot be reduced; need at least 2");
  }
  if (options.target_dim >= data.dim) {
    throw InvalidArgument(where + "target_dim " + std::to_string(options.target_dim) +
                          " must be less than the data dimension " + std::to_string(data.dim));
  }
  if (data.rows < options.target_dim) {
    throw InvalidArgument(where + std::to_string(data.rows) + " data rows cannot determine " +
                          std::to_string(options.target_dim) + " directions; need at least target_dim rows");
  }
  if (options.max_sample == 0) throw InvalidArgument(where + "max_sample must be positive");
  if (options.kind == LeanVecKind::InDistribution) {
    if (options.target_dim == 0 && !(options.explained_variance > 0 && options.explained_variance <= 1)) {
      throw InvalidArgument(where + "explained_variance " + std::to_string(options.explained_variance) +
                            " must be in (0, 1]");
    }
    return;
  }
  if (options.target_dim == 0) {
    throw InvalidArgument(where +
                          "out-of-distribution LeanVec needs target_dim > 0 (explained_variance applies to "
                          "in-distribution only)");
  }
  if (queries.values == nullptr || queries.rows == 0) {
    throw InvalidArgument(where + "out-of-distribution LeanVec needs sample queries; none were given");
  }
  if (queries.dim != data.dim) {
    throw InvalidArgument(where + "sample queries have dimension " + std::to_string(queries.dim) +
                          ", the data has " + std::to_string(data.dim));
  }
  if (queries.rows < options.target_dim) {
    throw InvalidArgument(where + std::to_string(queries.rows) + " sample queries cannot determine " +
                          std::to_string(options.target_dim) + " directions; need at least target_dim queries");
  }
}

// A D x d double matrix stored as its transpose, d x D row-major floats: the layout in which
// each output element is one contiguous dot product.
std::vector<float> to_stored(const Eigen::MatrixXd& map) {
  std::vector<float> stored(static_cast<std::size_t>(map.size()));
  // Column-major D x d storage is exactly row-major d x D.
  Eigen::Map<Eigen::MatrixXf>(stored.data(), map.rows(), map.cols()) = map.cast<float>();
  return stored;
}

Eigen::MatrixXd from_stored(const std::vector<float>& stored, std::size_t input_dim, std::size_t output_dim) {
  return Eigen::Map<const Eigen::MatrixXf>(stored.data(), static_cast<Eigen::Index>(input_dim),
                                           static_cast<Eigen::Index>(output_dim))
      .cast<double>();
}

// out = map * (x - shift); an empty shift means none.
void apply(const std::vector<float>& map, std::span<const float> shift, std::span<const float> x,
           std::span<float> out) {
  const auto d = static_cast<Eigen::Index>(out.size());
  const auto dim = static_cast<Eigen::Index>(x.size());
  const Eigen::Map<const RowMajorF> m(map.data(), d, dim);
  Eigen::Map<Eigen::VectorXf> y(out.data(), d);
  if (shift.empty()) {
    y.noalias() = m * Eigen::Map<const Eigen::VectorXf>(x.data(), dim);
    return;
  }
  y.setZero();
  std::array<float, kCentreChunk> centred;
  for (Eigen::Index first = 0; first < dim; first += static_cast<Eigen::Index>(kCentreChunk)) {
    const Eigen::Index count = std::min(static_cast<Eigen::Index>(kCentreChunk), dim - first);
    for (Eigen::Index i = 0; i < count; ++i) centred[i] = x[first + i] - shift[first + i];
    y.noalias() += m.middleCols(first, count) * Eigen::Map<const Eigen::VectorXf>(centred.data(), count);
  }
}

void check_sizes(const char* function, std::size_t in, std::size_t out, std::size_t input_dim,
                 std::size_t output_dim) {
  if (in != input_dim || out != output_dim) {
    throw InvalidArgument(std::string("LeanVec::") + function + ": input has " + std::to_string(in) +
                          " values and output " + std::to_string(out) + "; expected " + std::to_string(input_dim) +
                          " and " + std::to_string(output_dim));
  }
}

}  // namespace

LeanVec LeanVec::train(const float* data, std::size_t rows, std::size_t dim, const float* sample_queries,
                       std::size_t query_rows, const LeanVecOptions& options) {
  return train(LeanVecRows{data, rows, dim}, LeanVecRows{sample_queries, query_rows, dim}, options);
}

LeanVec LeanVec::train(LeanVecRows data, LeanVecRows sample_queries, const LeanVecOptions& options) {
  validate(data, sample_queries, options);
  const std::size_t threads = training::resolve_threads(options.threads);
  check_rows(data, "data", threads);

  LeanVec lean;
  lean.input_dim_ = data.dim;
  lean.kind_ = options.kind;
  training::Maps maps;
  const std::vector<std::size_t> data_sample = training::sample_rows(data.rows, options.max_sample, options.seed);
  if (options.kind == LeanVecKind::InDistribution) {
    const Eigen::VectorXd mean = training::mean_of_rows(data.values, data.dim, data_sample, threads);
    const Eigen::MatrixXd covariance = training::second_moment(data.values, data.dim, data_sample, mean, threads);
    const training::Eigenbasis basis = training::descending_eigenbasis(covariance);
    lean.output_dim_ = options.target_dim != 0
                           ? options.target_dim
                           : training::dims_for_explained_variance(basis.values, options.explained_variance);
    maps.data = basis.vectors.leftCols(static_cast<Eigen::Index>(lean.output_dim_));
    maps.query = maps.data;
    lean.centre_queries_ = options.centre_queries;
    lean.mean_.resize(data.dim);
    Eigen::Map<Eigen::VectorXf>(lean.mean_.data(), mean.size()) = mean.cast<float>();
  } else {
    check_rows(sample_queries, "sample query", threads);
    lean.output_dim_ = options.target_dim;
    // Uncentred second moments: the objective is on raw inner products, and a per-query
    // constant would not be available for mean-shifted data at search time anyway.
    const Eigen::MatrixXd kx = training::second_moment(data.values, data.dim, data_sample, {}, threads);
    // A different stream from the data's, so that equal row counts do not pick equal rows.
    const std::vector<std::size_t> query_sample =
        training::sample_rows(sample_queries.rows, options.max_sample, options.seed + 1);
    const Eigen::MatrixXd kq = training::second_moment(sample_queries.values, data.dim, query_sample, {}, threads);
    if (options.solver == LeanVecSolver::Sphering) {
      maps = training::sphering(kq, kx, lean.output_dim_);
    } else {
      // Started from uncentred PCA of the data: the best A = B for queries shaped like the data.
      const auto d = static_cast<Eigen::Index>(lean.output_dim_);
      const Eigen::MatrixXd pca = training::descending_eigenbasis(kx).vectors.leftCols(d);
      maps = training::frank_wolfe(kq, kx, training::Maps{pca, pca});
    }
  }
  lean.query_map_ = to_stored(maps.query);
  lean.data_map_ = to_stored(maps.data);
  if (!all_finite(lean.query_map_) || !all_finite(lean.data_map_)) {
    throw InvalidArgument("LeanVec::train: the fitted maps are not finite; the input values are too large or degenerate");
  }
  return lean;
}

void LeanVec::project_data(std::span<const float> x, std::span<float> out) const {
  check_sizes("project_data", x.size(), out.size(), input_dim_, output_dim_);
  apply(data_map_, mean_, x, out);
}

void LeanVec::project_query(std::span<const float> q, std::span<float> out) const {
  check_sizes("project_query", q.size(), out.size(), input_dim_, output_dim_);
  apply(query_map_, centre_queries_ ? std::span<const float>(mean_) : std::span<const float>(), q, out);
}

void LeanVec::project_data_batch(const float* rows, std::size_t count, float* out, std::size_t threads) const {
  if (count == 0) return;
  if (rows == nullptr || out == nullptr) throw InvalidArgument("LeanVec::project_data_batch: null input or output");
  const auto dim = static_cast<Eigen::Index>(input_dim_);
  const auto d = static_cast<Eigen::Index>(output_dim_);
  const Eigen::Map<const RowMajorF> map(data_map_.data(), d, dim);
  const std::size_t blocks = (count + kBatchRows - 1) / kBatchRows;
  const std::size_t workers = std::min(training::resolve_threads(threads), blocks);
  training::run_workers(workers, [&](std::size_t w) {
    RowMajorF centred(mean_.empty() ? 0 : static_cast<Eigen::Index>(kBatchRows), dim);
    for (std::size_t b = w; b < blocks; b += workers) {
      const std::size_t first = b * kBatchRows;
      const auto n = static_cast<Eigen::Index>(std::min(kBatchRows, count - first));
      const Eigen::Map<const RowMajorF> in(rows + first * input_dim_, n, dim);
      Eigen::Map<RowMajorF> result(out + first * output_dim_, n, d);
      if (mean_.empty()) {
        result.noalias() = in * map.transpose();
      } else {
        const Eigen::Map<const Eigen::RowVectorXf> mean(mean_.data(), dim);
        centred.topRows(n) = in.rowwise() - mean;
        result.noalias() = centred.topRows(n) * map.transpose();
      }
    }
  });
}

double LeanVec::inner_product_error(const float* data, std::size_t rows, const float* queries,
                                    std::size_t query_rows, std::size_t threads) const {
  if (data == nullptr || rows == 0 || queries == nullptr || query_rows == 0) {
    throw InvalidArgument("LeanVec::inner_product_error: needs at least one data row and one query");
  }
  threads = training::resolve_threads(threads);
  const Eigen::VectorXd mean =
      mean_.empty() ? Eigen::VectorXd() : Eigen::Map<const Eigen::VectorXf>(mean_.data(), mean_.size()).cast<double>();
  const Eigen::VectorXd no_shift;
  // A "sample" of every row: the error is over all pairs.
  const Eigen::MatrixXd kx = training::second_moment(data, input_dim_, training::sample_rows(rows, rows, 0), mean, threads);
  const Eigen::MatrixXd kq = training::second_moment(
      queries, input_dim_, training::sample_rows(query_rows, query_rows, 0), centre_queries_ ? mean : no_shift, threads);
  return training::pair_error(kq, kx,
                              training::Maps{from_stored(query_map_, input_dim_, output_dim_),
                                             from_stored(data_map_, input_dim_, output_dim_)});
}

void LeanVec::save(std::ostream& out) const {
  std::string bytes(kMagic.begin(), kMagic.end());
  put_u32(bytes, kFormatVersion);
  put_u32(bytes, kind_ == LeanVecKind::InDistribution ? 0 : 1);
  put_u32(bytes, centre_queries_ ? kCentreQueriesFlag : 0);
  put_u32(bytes, static_cast<std::uint32_t>(input_dim_));
  put_u32(bytes, static_cast<std::uint32_t>(output_dim_));
  if (kind_ == LeanVecKind::InDistribution) {
    put_floats(bytes, mean_);
    put_floats(bytes, data_map_);
  } else {
    put_floats(bytes, query_map_);
    put_floats(bytes, data_map_);
  }
  put_u64(bytes, fnv1a(bytes));
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw IoError("LeanVec::save: the output stream failed");
}

LeanVec LeanVec::load(std::istream& in, const std::string& source_name) {
  const std::string header = read_exactly(in, kHeaderBytes, source_name, "LeanVec data", "header");
  auto corrupt = [&](const std::string& why) { return CorruptFile(source_name + ": " + why); };
  if (!std::equal(kMagic.begin(), kMagic.end(), header.begin())) throw corrupt("not a LeanVec model (bad magic)");
  const std::uint32_t version = get_u32(header, 8);
  if (version > kFormatVersion) {
    throw IncompatibleVersion(source_name + ": LeanVec format version " + std::to_string(version) +
                              " is newer than this build reads (" + std::to_string(kFormatVersion) + ")");
  }
  if (version == 0) throw corrupt("LeanVec format version 0 does not exist");
  const std::uint32_t kind = get_u32(header, 12);
  const std::uint32_t flags = get_u32(header, 16);
  const std::size_t input_dim = get_u32(header, 20);
  const std::size_t output_dim = get_u32(header, 24);
  if (kind > 1) throw corrupt("unknown LeanVec kind " + std::to_string(kind));
  const bool in_distribution = kind == 0;
  if ((flags & ~kCentreQueriesFlag) != 0 || (!in_distribution && flags != 0)) {
    throw corrupt("invalid LeanVec flags " + std::to_string(flags));
  }
  if (input_dim < 2 || input_dim > kMaxStoredDim) {
    throw corrupt("LeanVec input dimension " + std::to_string(input_dim) + " outside 2 ... " +
                  std::to_string(kMaxStoredDim));
  }
  if (output_dim == 0 || output_dim >= input_dim) {
    throw corrupt("LeanVec output dimension " + std::to_string(output_dim) + " outside 1 ... " +
                  std::to_string(input_dim - 1));
  }
  const std::size_t map_floats = input_dim * output_dim;
  const std::size_t first_floats = in_distribution ? input_dim : map_floats;
  const std::string payload =
      read_exactly(in, 4 * (first_floats + map_floats), source_name, "LeanVec data", "matrices");
  const std::string trailer = read_exactly(in, 8, source_name, "LeanVec data", "checksum");
  if (get_u64(trailer, 0) != fnv1a(payload, fnv1a(header))) throw corrupt("LeanVec checksum mismatch");

  LeanVec lean;
  lean.input_dim_ = input_dim;
  lean.output_dim_ = output_dim;
  lean.kind_ = in_distribution ? LeanVecKind::InDistribution : LeanVecKind::OutOfDistribution;
  lean.centre_queries_ = (flags & kCentreQueriesFlag) != 0;
  std::vector<float> first = get_floats(payload, 0, first_floats);
  lean.data_map_ = get_floats(payload, 4 * first_floats, map_floats);
  if (in_distribution) {
    lean.mean_ = std::move(first);
    lean.query_map_ = lean.data_map_;
  } else {
    lean.query_map_ = std::move(first);
  }
  if (!all_finite(lean.mean_) || !all_finite(lean.query_map_) || !all_finite(lean.data_map_)) {
    throw corrupt("LeanVec matrices hold NaN or infinite values");
  }
  return lean;
}

}  // namespace quiver::quant
