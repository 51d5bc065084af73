// LeanVec dimensionality reduction (Tepper et al., TMLR 2024; Sphering from GleanVec, 2024):
// learned linear maps that shrink D-dimensional vectors to d dimensions so that the graph is
// built and walked on short "primary" vectors, with full vectors kept for re-ranking.
// Training happens once per index; project_data / project_query sit on the insert and query paths.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <span>
#include <string>
#include <vector>

namespace quiver::quant {

// InDistribution: centred PCA of the data, one map for data and queries.
// OutOfDistribution: separate query and data maps fitted to sample queries, for query sets whose
// distribution differs from the data's (text-to-image, attention queries vs keys).
enum class LeanVecKind { InDistribution, OutOfDistribution };
// OutOfDistribution only. Sphering is closed-form and at least as accurate; FrankWolfe is the
// original paper's iterative solver, kept for comparison.
enum class LeanVecSolver { Sphering, FrankWolfe };

struct LeanVecOptions {
  LeanVecKind kind = LeanVecKind::InDistribution;
  std::size_t target_dim = 0;        // 0 = choose by explained_variance (InDistribution only)
  double explained_variance = 0.95;  // InDistribution only, when target_dim == 0
  LeanVecSolver solver = LeanVecSolver::Sphering;
  bool centre_queries = false;       // InDistribution only: true for L2 (queries centred like data),
                                     // false for inner product
  std::size_t max_sample = 100000;   // rows of data / queries used for training (seeded random sample)
  std::uint64_t seed = 7;
  std::size_t threads = 0;           // 0 = one per hardware thread
};

// Row-major float vectors, one per row: a view, not a copy.
struct LeanVecRows {
  const float* values = nullptr;
  std::size_t rows = 0;
  std::size_t dim = 0;
};

// Learned linear maps: data x -> B^T (x - mu), query q -> A^T (q - mu) or A^T q. For
// InDistribution A = B = P (PCA) and mu is the data mean; for OutOfDistribution mu = 0, since
// the objective is on raw inner products. <A^T q, B^T x> approximates <q, x - mu>, which ranks
// data exactly as <q, x> does; with centre_queries (InDistribution, L2) the distance between the
// projected query and data approximates ||q - x||.
// Immutable once trained or loaded, so concurrent projections need no locking.
class LeanVec {
 public:
  // `data`: rows x dim row-major. sample_queries (query_rows x dim) are required for
  // OutOfDistribution and ignored otherwise. Throws InvalidArgument if they are missing or fewer
  // than target_dim, if target_dim >= dim, or if any input value is NaN or infinite.
  static LeanVec train(const float* data, std::size_t rows, std::size_t dim, const float* sample_queries,
                       std::size_t query_rows, const LeanVecOptions& options);
  // The same, with the queries' dimension given separately so that a mismatch is caught.
  static LeanVec train(LeanVecRows data, LeanVecRows sample_queries, const LeanVecOptions& options);

  std::size_t input_dim() const { return input_dim_; }
  std::size_t output_dim() const { return output_dim_; }
  LeanVecKind kind() const { return kind_; }
  bool centre_queries() const { return centre_queries_; }

  // x / q: input_dim() values; out: output_dim() values. InvalidArgument on other sizes.
  void project_data(std::span<const float> x, std::span<float> out) const;
  void project_query(std::span<const float> q, std::span<float> out) const;
  // `count` rows of input_dim() values into `count` rows of output_dim() values, blocked into
  // matrix products. Agrees with project_data up to float rounding (a different summation order).
  void project_data_batch(const float* rows, std::size_t count, float* out, std::size_t threads) const;

  // Mean over ALL query/data pairs of (<q', x'> - <A^T q, B^T x>)^2, where q', x' are the vectors
  // as the maps see them (x' = x - mu; q' = q - mu with centre_queries, else q): the objective
  // LeanVec minimises. Exact, computed from the second moments of both sets in
  // O((rows + query_rows) * D^2) rather than pair by pair; float rounding of the projections is
  // not included. For benchmarks and tests.
  double inner_product_error(const float* data, std::size_t rows, const float* queries, std::size_t query_rows,
                             std::size_t threads = 0) const;

  // Binary, little-endian, self-describing, with a checksum; see leanvec.cpp for the layout.
  // Throws IoError if the stream fails.
  void save(std::ostream& out) const;
  // Throws CorruptFile (naming source_name) on a truncated, inconsistent or corrupted stream,
  // IncompatibleVersion on a newer format. Allocation is bounded by what the stream holds.
  static LeanVec load(std::istream& in, const std::string& source_name);

 private:
  LeanVec() = default;

  std::size_t input_dim_ = 0;   // D
  std::size_t output_dim_ = 0;  // d
  LeanVecKind kind_ = LeanVecKind::InDistribution;
  bool centre_queries_ = false;
  std::vector<float> mean_;       // D values; empty for OutOfDistribution
  std::vector<float> query_map_;  // A^T: d x D row-major
  std::vector<float> data_map_;   // B^T: d x D row-major (a copy of query_map_ for InDistribution)
};

}  // namespace quiver::quant
