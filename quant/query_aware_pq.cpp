#include "quant/query_aware_pq.h"

#include <Eigen/Dense>
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <istream>
#include <ostream>
#include <string_view>

#include "quant/kmeans.h"
#include "quant/leanvec_training.h"
#include "quant/stored_bytes.h"
#include "quiver/error.h"

namespace quiver::quant {
namespace {

using RowMajorF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Stored layout, all little-endian:
//   offset 0   8 bytes  magic "QVQAPQCB"
//          8   u32      format version (1)
//         12   u32      flags: bit 0 = query-aware (the two maps follow); other bits zero
//         16   u32      dimension D (1 ... 65536)
//         20   u32      sub-spaces M (1 ... D, dividing D)
//         24   u32      bits per sub-code (4 or 8)
//         28   float32  query-aware only: W[D x D], then W⁻¹[D x D], row-major
//                       codebooks[M x 2^bits x D/M]
//        end   u64      FNV-1a 64 of every byte before it
constexpr std::array<char, 8> kMagic = {'Q', 'V', 'Q', 'A', 'P', 'Q', 'C', 'B'};
constexpr std::uint32_t kFormatVersion = 1;
constexpr std::size_t kHeaderBytes = 28;
constexpr std::uint32_t kQueryAwareFlag = 1;
constexpr std::size_t kMaxStoredDim = 65536;
// Rows whitened at a time by encode: bounds the temporary to 16384 x D floats.
constexpr std::size_t kEncodeRows = 16384;

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

  // The k-means sample, whitened once for all sub-spaces.
  const std::vector<std::size_t> chosen = leanvec_training::sample_rows(data.rows, options.max_train_rows, options.seed);
  std::vector<float> sample(chosen.size() * pq.dim_);
  for (std::size_t i = 0; i < chosen.size(); ++i) {
    const auto row = data.row(chosen[i]);
    std::copy(row.begin(), row.end(), sample.begin() + static_cast<std::ptrdiff_t>(i * pq.dim_));
  }
  if (pq.query_aware()) {
    std::vector<float> whitened(sample.size());
    pq.whiten(sample.data(), chosen.size(), whitened.data());
    sample = std::move(whitened);
  }

  const std::size_t k = pq.centroids();
  const std::size_t sub = pq.sub_dim();
  pq.codebooks_.resize(pq.sub_spaces_ * k * sub);
  for (std::size_t m = 0; m < pq.sub_spaces_; ++m) {
    KMeansOptions kmeans_options;
    kmeans_options.iterations = options.iterations;
    kmeans_options.seed = options.seed + m;
    kmeans_options.threads = options.threads;
    const std::vector<float> centroids =
        kmeans({sample.data() + m * sub, chosen.size(), sub, pq.dim_}, k, kmeans_options);
    std::copy(centroids.begin(), centroids.end(), pq.codebooks_.begin() + static_cast<std::ptrdiff_t>(m * k * sub));
  }
  return pq;
}

void QueryAwarePq::whiten(const float* rows, std::size_t count, float* out) const {
  const auto d = static_cast<Eigen::Index>(dim_);
  const auto n = static_cast<Eigen::Index>(count);
  // W is symmetric, so the rows x̃ᵀ = xᵀ Wᵀ = xᵀ W.
  Eigen::Map<RowMajorF>(out, n, d).noalias() =
      Eigen::Map<const RowMajorF>(rows, n, d) * Eigen::Map<const RowMajorF>(data_map_.data(), d, d);
}

PqCodes QueryAwarePq::encode(MatrixView data, std::size_t threads) const {
  if (data.cols != dim_) {
    throw InvalidArgument("QueryAwarePq::encode: data have dimension " + std::to_string(data.cols) +
                          ", the codebooks " + std::to_string(dim_));
  }
  check_finite(data, "QueryAwarePq::encode", "data");
  const std::size_t k = centroids();
  const std::size_t sub = sub_dim();
  std::vector<std::uint8_t> labels(data.rows * sub_spaces_);
  std::vector<float> whitened(query_aware() ? std::min(kEncodeRows, data.rows) * dim_ : 0);
  for (std::size_t first = 0; first < data.rows; first += kEncodeRows) {
    const std::size_t count = std::min(kEncodeRows, data.rows - first);
    const float* rows = data.data + first * dim_;
    if (query_aware()) {
      whiten(rows, count, whitened.data());
      rows = whitened.data();
    }
    for (std::size_t m = 0; m < sub_spaces_; ++m) {
      assign_nearest({rows + m * sub, count, sub, dim_}, codebooks_.data() + m * k * sub, k,
                     labels.data() + first * sub_spaces_ + m, sub_spaces_, threads);
    }
  }
  return PqCodes(labels, sub_spaces_, bits_);
}

float QueryAwarePq::code_distance(const std::uint8_t* a, const std::uint8_t* b) const {
  const std::size_t k = centroids();
  const std::size_t sub = sub_dim();
  float sum = 0.0f;
  for (std::size_t m = 0; m < sub_spaces_; ++m) {
    if (a[m] == b[m]) continue;
    const float* x = codebooks_.data() + (m * k + a[m]) * sub;
    const float* y = codebooks_.data() + (m * k + b[m]) * sub;
    for (std::size_t j = 0; j < sub; ++j) sum += (x[j] - y[j]) * (x[j] - y[j]);
  }
  return sum;
}

void QueryAwarePq::decode(const PqCodes& codes, std::size_t i, std::span<float> out) const {
  if (out.size() != dim_ || i >= codes.size() || codes.sub_spaces() != sub_spaces_ || codes.bits() != bits_) {
    throw InvalidArgument("QueryAwarePq::decode: vector " + std::to_string(i) + " of " +
                          std::to_string(codes.size()) + " into " + std::to_string(out.size()) +
                          " values; expected an index in range, dim() values and codes of this quantizer");
  }
  const std::size_t k = centroids();
  const std::size_t sub = sub_dim();
  std::vector<float> whitened(dim_);
  for (std::size_t m = 0; m < sub_spaces_; ++m) {
    const float* c = codebooks_.data() + (m * k + codes.get(i, m)) * sub;
    std::copy(c, c + sub, whitened.begin() + static_cast<std::ptrdiff_t>(m * sub));
  }
  if (!query_aware()) {
    std::copy(whitened.begin(), whitened.end(), out.begin());
    return;
  }
  const auto d = static_cast<Eigen::Index>(dim_);
  Eigen::Map<Eigen::VectorXf>(out.data(), d).noalias() =
      Eigen::Map<const RowMajorF>(query_map_.data(), d, d) * Eigen::Map<const Eigen::VectorXf>(whitened.data(), d);
}

void QueryAwarePq::lookup_table(std::span<const float> query, std::span<float> lut) const {
  check_query(query, dim_, "QueryAwarePq::lookup_table");
  if (lut.size() != lookup_table_size()) {
    throw InvalidArgument("QueryAwarePq::lookup_table: table has " + std::to_string(lut.size()) +
                          " entries; expected " + std::to_string(lookup_table_size()));
  }
  const auto d = static_cast<Eigen::Index>(dim_);
  Eigen::VectorXf transformed = Eigen::Map<const Eigen::VectorXf>(query.data(), d);
  if (query_aware()) {
    // q̃ = W⁻ᵀ q = W⁻¹ q (symmetric), so that <q̃, x̃> = <q, x>.
    transformed = Eigen::Map<const RowMajorF>(query_map_.data(), d, d) * transformed;
  }
  const auto k = static_cast<Eigen::Index>(centroids());
  const auto sub = static_cast<Eigen::Index>(sub_dim());
  for (std::size_t m = 0; m < sub_spaces_; ++m) {
    const auto mi = static_cast<Eigen::Index>(m);
    const Eigen::Map<const RowMajorF> book(codebooks_.data() + m * centroids() * sub_dim(), k, sub);
    Eigen::Map<Eigen::VectorXf>(lut.data() + m * centroids(), k).noalias() = book * transformed.segment(mi * sub, sub);
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
  put_u32(bytes, query_aware() ? kQueryAwareFlag : 0);
  put_u32(bytes, static_cast<std::uint32_t>(dim_));
  put_u32(bytes, static_cast<std::uint32_t>(sub_spaces_));
  put_u32(bytes, bits_);
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
  if ((flags & ~kQueryAwareFlag) != 0) throw corrupt("invalid PQ codebook flags " + std::to_string(flags));
  if (dim == 0 || dim > kMaxStoredDim) {
    throw corrupt("PQ dimension " + std::to_string(dim) + " outside 1 ... " + std::to_string(kMaxStoredDim));
  }
  if (sub_spaces == 0 || dim % sub_spaces != 0) {
    throw corrupt("PQ sub-space count " + std::to_string(sub_spaces) + " does not divide dimension " +
                  std::to_string(dim));
  }
  if (bits != 4 && bits != 8) throw corrupt("PQ sub-codes of " + std::to_string(bits) + " bits; expected 4 or 8");
  const std::size_t map_floats = (flags & kQueryAwareFlag) != 0 ? dim * dim : 0;
  const std::size_t book_floats = (std::size_t{1} << bits) * dim;
  const std::string payload =
      read_exactly(in, 4 * (2 * map_floats + book_floats), source_name, "PQ codebook", "matrices");
  const std::string trailer = read_exactly(in, 8, source_name, "PQ codebook", "checksum");
  if (get_u64(trailer, 0) != fnv1a(payload, fnv1a(header))) throw corrupt("PQ codebook checksum mismatch");

  QueryAwarePq pq;
  pq.dim_ = dim;
  pq.sub_spaces_ = sub_spaces;
  pq.bits_ = bits;
  pq.data_map_ = get_floats(payload, 0, map_floats);
  pq.query_map_ = get_floats(payload, 4 * map_floats, map_floats);
  pq.codebooks_ = get_floats(payload, 8 * map_floats, book_floats);
  if (!all_finite(pq.data_map_) || !all_finite(pq.query_map_) || !all_finite(pq.codebooks_)) {
    throw corrupt("PQ codebook holds NaN or infinite values");
  }
  return pq;
}

}  // namespace quiver::quant
