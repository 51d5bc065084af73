// Product quantization for inner-product search, optionally query-aware (A²ATS, He et al.,
// ACL Findings 2025): codebooks are trained in the metric of the sample queries' second
// moment, so that the error they minimise is the error of the scores <q, x>, not of the
// vectors. quiver goes further and makes them score-aware: k-means weighted by how often
// the sample queries retrieve each key, and ScaNN's anisotropic loss (Guo et al., ICML
// 2020) for codes and codebooks, both learned from the sample queries' exact top lists.
// Optionally each codebook also spans the next sub-space (overlapping codebooks, as in
// tree quantization, Babenko & Lempitsky, CVPR 2015): same codes, same lookup tables,
// lower error, codes found by dynamic programming along the chain.
// Keys are encoded once (encode -> PqCodes); each query builds a lookup table
// (lookup_table) that pq_flat_search scans, then re-ranks the best candidates exactly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <span>
#include <string>
#include <vector>

#include "quant/pq_codes.h"
#include "quiver/matrix.h"

namespace quiver::quant {

struct QueryAwarePqOptions {
  std::size_t sub_spaces = 16;  // M; must divide the dimension
  unsigned bits = 8;            // per sub-code: 8 (256 centroids) or 4 (16, fast-scan layout)
  // λ in H + λ·tr(H)/D·I: directions the sample queries never visit keep a little weight,
  // so evaluation queries that do visit them are not scored with unbounded error.
  double ridge = 1e-2;
  std::size_t max_train_rows = 65536;    // seeded sample of the data for k-means
  std::size_t max_query_rows = 100000;   // seeded sample of the queries for H
  std::size_t iterations = 20;           // Lloyd iterations per sub-space
  // Score-aware weighting (query-aware training only): each key's k-means weight is
  // weight_floor x (the mean count) + the number of sampled queries whose exact
  // top-`weight_neighbours` inner products hold it, so resolution goes to the keys whose
  // scores a top-k search ranks. 0 neighbours = unweighted, as A²ATS publishes it. The floor
  // keeps keys no sample query ranked from being quantised arbitrarily badly.
  std::size_t weight_neighbours = 100;
  std::size_t max_weight_queries = 4096;  // seeded sample of the queries for the counts
  double weight_floor = 1.0;
  // Also from those top lists: encode each key for the error along its own direction, which
  // the queries that retrieve it mostly share, weighted η = E[a²] / (E|q⊥|² / (D - 1))
  // against the rest (a: a retrieving query's component along the key, in the whitened
  // space). ScaNN's anisotropic loss, with η measured instead of chosen.
  bool anisotropic = true;
  // Rotate the (whitened) space so that every sub-space holds about the same product of
  // principal variances before splitting it: OPQ's eigenvalue allocation (Ge et al., 2013).
  // Contiguous coordinates are a poor split when variance sits in a few directions, as it
  // does after whitening. Kept only when a trial k-means (5 iterations, at most 16,384
  // training rows) gives it lower distortion than the contiguous split.
  bool balance_sub_spaces = true;
  // Codebook m (but the last) spans sub-spaces m and m + 1, so every sub-space after the
  // first is reconstructed as the sum of two codebooks' halves. A key's codes are then no
  // longer independent per sub-space but form a chain, encoded by Viterbi's dynamic
  // programme (a beam of the best 16 predecessors per step); the codebooks are trained by
  // alternating encodes and over-relaxed least-squares updates, starting from PQ's. The
  // lookup table keeps its shape: Σ_m lut[m][code_m] is still the score. On attention keys
  // at 64 sub-spaces of 8 bits the score-aware top-100 error falls by 19 %; encoding costs
  // about 0.25 ms per key and thread instead of microseconds, and training takes minutes,
  // hence off by default.
  bool overlapping = false;
  std::size_t overlapping_rounds = 20;  // encode / update alternations on at most 65,536 rows
  std::uint64_t seed = 11;
  std::size_t threads = 0;  // 0 = one per hardware thread
};

// Query-aware PQ. With H_λ = H + λ·tr(H)/D·I = V Λ Vᵀ (H = E[q qᵀ], uncentred), let
// W = H_λ^{1/2} = V Λ^{1/2} Vᵀ and A = R W, R the orthogonal balancing rotation (I without
// balance_sub_spaces). Data are quantized as x̃ = A x with ordinary PQ (independent
// sub-spaces, so lookup tables work), and decode to x̂ = A⁻¹ x̃̂. Then
// ‖x̃ − x̃̂‖² = (x − x̂)ᵀ Aᵀ A (x − x̂) = (x − x̂)ᵀ H_λ (x − x̂), which for λ = 0 is
// E_q[(qᵀ(x − x̂))²]: Euclidean k-means in the whitened space minimises the score error.
// Queries map to q̃ = B q, B = A⁻ᵀ = R W⁻¹, and <q̃, x̃̂> = qᵀ A⁻¹ A x̂ = <q, x̂>, so the
// lookup table gives the score of the decoded vector exactly. Trained without queries it
// is plain PQ (W = I; A = B = R). Immutable once trained or loaded: concurrent encodes and
// lookups need no locking.
class QueryAwarePq {
 public:
  // Plain PQ on `data`. Query-aware PQ when `sample_queries` is not empty (same columns as
  // data). Throws InvalidArgument if the dimension is not divisible by sub_spaces, bits is
  // not 4 or 8, data has fewer rows than 2^bits centroids, dimensions differ, a value is
  // NaN or infinite, or weight_floor is negative or not finite.
  static QueryAwarePq train(MatrixView data, MatrixView sample_queries, const QueryAwarePqOptions& options);

  std::size_t dim() const { return dim_; }
  std::size_t sub_spaces() const { return sub_spaces_; }
  std::size_t sub_dim() const { return dim_ / sub_spaces_; }
  unsigned bits() const { return bits_; }
  std::size_t centroids() const { return std::size_t{1} << bits_; }
  bool query_aware() const { return mapped() && !rotation_only_; }
  bool overlapping() const { return overlapping_; }
  // η of the anisotropic encoding; 1 = plain nearest-centroid codes.
  float anisotropy() const { return anisotropy_; }
  std::size_t code_bytes() const { return (sub_spaces_ * bits_ + 7) / 8; }

  // Codes of every row of `data` (dim() columns, finite), on `threads` threads (0 = all).
  PqCodes encode(MatrixView data, std::size_t threads = 0) const;
  // x̂ of vector i, in the original space; out has dim() values.
  void decode(const PqCodes& codes, std::size_t i, std::span<float> out) const;

  // Squared distance between two vectors' reconstructions in the whitened space, from
  // their sub-codes (8 bits: one byte per sub-space, as PqCodes::row holds them; 4 bits:
  // nibble-packed rows, see packed_nibble):
  // (x̂ − ŷ)ᵀ H_λ (x̂ − ŷ), i.e. how differently typical queries score the two (for
  // plain PQ, the Euclidean distance). What a graph over the codes should connect.
  float code_distance(const std::uint8_t* a, const std::uint8_t* b) const;

  // sub_spaces() x centroids() floats; Σ_m lut[m][code_m] = <query, decoded vector>.
  std::size_t lookup_table_size() const { return sub_spaces_ * centroids(); }
  // Throws InvalidArgument if query has other than dim() values or lut other than
  // lookup_table_size().
  void lookup_table(std::span<const float> query, std::span<float> lut) const;
  // The table's estimate of <query, x_i>: Σ_m lut[m][code of i in m], in float.
  float estimate(std::span<const float> lut, const PqCodes& codes, std::size_t i) const;

  // Binary, little-endian, self-describing, with a checksum (layout in query_aware_pq.cpp).
  // Throws IoError if the stream fails.
  void save(std::ostream& out) const;
  // Throws CorruptFile (naming source_name) on a truncated, inconsistent or corrupted
  // stream, IncompatibleVersion on a newer format.
  static QueryAwarePq load(std::istream& in, const std::string& source_name);

 private:
  QueryAwarePq() = default;
  // Whether vectors pass through A (and queries through B) before the sub-space split.
  bool mapped() const { return !data_map_.empty(); }
  // `count` rows mapped through A into out (count x dim).
  void whiten(const float* rows, std::size_t count, float* out) const;
  // η from the sample queries `counted` and their top-`top` data rows `lists`.
  float retrieval_anisotropy(MatrixView data, MatrixView queries, std::span<const std::size_t> counted,
                             std::span<const std::uint32_t> lists, std::size_t top) const;
  // Values per codebook entry: sub_dim(), or twice that with overlapping codebooks (the
  // last codebook's second half is then unused and zero).
  std::size_t entry_dim() const { return overlapping_ ? 2 * sub_dim() : sub_dim(); }
  // Values codebook m reconstructs: entry_dim(), but sub_dim() for the last codebook.
  std::size_t span_dim(std::size_t m) const { return m + 1 < sub_spaces_ ? entry_dim() : sub_dim(); }
  // The whitened reconstruction of one key's codes (labels, sub_spaces values) into out (dim values).
  void reconstruct(const std::uint8_t* labels, float* out) const;
  // Codes of `count` whitened rows into labels (count x sub_spaces): the nearest centroids
  // (the best chain for overlapping codebooks), refined for the anisotropic loss when
  // anisotropy_ > 1.
  void assign_codes(const float* rows, std::size_t count, std::uint8_t* labels, std::size_t threads) const;
  // Refines the nearest codes of `count` whitened rows (labels: count x sub_spaces, set to
  // the nearest centroids) for the anisotropic loss.
  void assign_anisotropic(const float* rows, std::size_t count, std::uint8_t* labels, std::size_t threads) const;
  // Overlapping codebooks: the chain of codes of least squared error for each of `count`
  // whitened rows, into labels.
  void assign_chain(const float* rows, std::size_t count, std::uint8_t* labels, std::size_t threads) const;
  // Overlapping codebooks: refines those codes for the anisotropic loss, by coordinate
  // descent on each key's residual.
  void assign_chain_anisotropic(const float* rows, std::size_t count, std::uint8_t* labels,
                                std::size_t threads) const;
  // Turns the trained PQ codebooks into overlapping ones (second halves zero: the same
  // quantizer) and alternates chain encodes of the whitened sample with least-squares
  // updates of each sub-space's two halves.
  void train_overlapping(const float* sample, std::size_t rows, std::span<const float> weights, std::size_t rounds,
                         std::size_t threads);
  // Moves the codebooks towards the anisotropic loss's minimum over the whitened training
  // sample (rows x dim, with its k-means weights; empty = all 1).
  void refine_anisotropic(const float* sample, std::size_t rows, std::span<const float> weights, std::size_t threads);

  std::size_t dim_ = 0;
  std::size_t sub_spaces_ = 0;
  unsigned bits_ = 8;
  std::vector<float> data_map_;   // A = R H_λ^{1/2}, dim x dim; empty for unrotated plain PQ
  std::vector<float> query_map_;  // B = A⁻ᵀ = R H_λ^{-1/2}, dim x dim; likewise
  bool rotation_only_ = false;    // plain PQ with a balancing rotation: A = B = R
  std::vector<float> codebooks_;  // sub_spaces x centroids x entry_dim, in the whitened space
  float anisotropy_ = 1.0f;
  bool overlapping_ = false;
};

}  // namespace quiver::quant
