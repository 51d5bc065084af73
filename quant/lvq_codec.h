// LVQ (Locally-adaptive Vector Quantization, ALGORITHMS.md §1): vectors stored as 8- or
// 4-bit codes with a per-vector float16 step and bias, optionally plus a second-level
// residual code. The graph walks level 1 with distance(); re-ranking adds level 2.
#pragma once

#include <cassert>
#include <cstddef>
#include <iosfwd>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace quiver::quant {

// Bits per component of the first level (8 or 4) and of the optional second level
// (0 = none; 8 gives "LVQ-4x8", 4 gives "LVQ-8x4"; 0, 4 and 8 are allowed).
struct LvqConfig {
  unsigned bits = 8;
  unsigned residual_bits = 0;
};

// Code layout (what the kernels in lvq_kernels*.cpp read):
//   primary:  [packed level-1 codes][step: float16][bias: float16][zeros to a multiple of 16 B]
//   residual: [packed level-2 codes][zeros to a multiple of 16 B]
// 8-bit codes are one byte per dimension. 4-bit codes come in blocks of 32 dimensions in
// 16 bytes: byte k of block g holds dimension 32g + k in its low nibble and 32g + 16 + k
// in its high nibble, so one widening load and one mask (or shift) give 16 consecutive
// dimensions, and the last block is zero-padded. float16 values are little-endian.
// Kernels may read every byte of primary_bytes() / residual_bytes(), never more.
class LvqCodec {
 public:
  // Bounds every allocation a loaded file can request.
  static constexpr std::size_t kMaxDim = 65536;
  // Query values and the stored mean are zero-padded to a multiple of this many floats,
  // so the kernels load whole SIMD registers past dim without a bounds check.
  static constexpr std::size_t kPadDims = 32;

  enum class Kind { L2, InnerProduct };  // values index the kernel tables

  // A query prepared by one codec for one metric; owns its buffer.
  class Query {
   public:
    Kind kind() const { return kind_; }
    std::size_t dim() const { return dim_; }
    // What the kernels read: q - mean (L2) or q (inner product), zero-padded to a
    // multiple of kPadDims; for the inner product also sum_j q_j and <q, mean>.
    const float* values() const { return values_.data(); }
    float sum() const { return sum_; }
    float offset() const { return offset_; }

   private:
    friend class LvqCodec;
    Query(Kind kind, std::size_t dim, std::vector<float> values, float sum, float offset)
        : kind_(kind), dim_(dim), values_(std::move(values)), sum_(sum), offset_(offset) {}

    Kind kind_;
    std::size_t dim_;
    std::vector<float> values_;
    float sum_;
    float offset_;
  };

  using DistanceFn = float (*)(const Query&, const std::byte* primary, std::size_t dim);
  using TwoLevelFn = float (*)(const Query&, const std::byte* primary, const std::byte* residual,
                               std::size_t dim);
  // `mean` is zero-padded to a multiple of kPadDims.
  using SymmetricFn = float (*)(const std::byte* a, const std::byte* b, const float* mean, std::size_t dim);

  // mean: the global per-dimension mean subtracted before coding (size = dim). Throws
  // InvalidArgument for dim outside [1, kMaxDim], bits not 4 or 8, residual bits not 0,
  // 4 or 8, a mean of another size or with a non-finite entry.
  LvqCodec(std::size_t dim, LvqConfig config, std::vector<float> mean);
  // Mean of the rows (computed in double, blocked), then the codec. rows x dim row-major.
  static LvqCodec train(const float* rows, std::size_t count, std::size_t dim, LvqConfig config);

  std::size_t dim() const { return dim_; }
  const LvqConfig& config() const { return config_; }
  std::span<const float> mean() const { return {mean_.data(), dim_}; }
  // Bytes of one first-level code including its float16 step and bias, padded to a
  // multiple of 16 bytes.
  std::size_t primary_bytes() const { return primary_bytes_; }
  std::size_t residual_bytes() const { return residual_bytes_; }  // 0 if no second level

  // Writes primary_bytes() to `primary` and, if `residual` is not null, residual_bytes()
  // to `residual`. Throws InvalidArgument if x has the wrong size or a non-finite
  // component, if x - mean spans a range float16 constants cannot hold, or if `residual`
  // is given to a codec without a second level.
  void encode(std::span<const float> x, std::byte* primary, std::byte* residual) const;
  // encode() of each row into consecutive codes; `threads` 0 means all cores.
  void encode_batch(const float* rows, std::size_t count, std::byte* primaries, std::byte* residuals,
                    std::size_t threads) const;
  // The reconstruction; `residual` null means first level only.
  void decode(const std::byte* primary, const std::byte* residual, std::span<float> out) const;

  // Asymmetric distances, float query vs codes. prepare() once per query.
  Query prepare(std::span<const float> q, Kind kind) const;
  // L2: squared distance to the reconstruction; InnerProduct: the inner product with the
  // reconstruction (not negated). `q` must come from this codec's prepare().
  float distance(const Query& q, const std::byte* primary) const {
    assert(q.dim() == dim_);
    return first_level_[index(q.kind())](q, primary, dim_);
  }
  // Both levels; with no second level configured this is distance(q, primary) and
  // `residual` is not read.
  float distance(const Query& q, const std::byte* primary, const std::byte* residual) const {
    assert(q.dim() == dim_);
    return two_level_[index(q.kind())](q, primary, residual, dim_);
  }
  // Symmetric, code vs code (first level), for graph construction: squared L2 between
  // reconstructions, or inner product of reconstructions.
  float symmetric(Kind kind, const std::byte* a, const std::byte* b) const {
    return symmetric_[index(kind)](a, b, mean_.data(), dim_);
  }
  // The dispatched first-level kernel, for hoisting out of a search loop: for a query of
  // this kind, distance_fn(kind)(q, primary, dim()) == distance(q, primary).
  DistanceFn distance_fn(Kind kind) const { return first_level_[index(kind)]; }

  // The instruction set of the kernels in use (as distance.h's DistanceKernels::isa).
  const char* isa() const { return isa_; }
  // This codec with the kernels for instruction set `isa` (a name from distance.h's
  // supported_kernels()), for comparing variants in tests and benchmarks. Throws
  // InvalidArgument if the variant is not runnable here.
  LvqCodec with_isa(std::string_view isa) const;

  // Binary: magic, version, dim, config, mean, checksum.
  void save(std::ostream& out) const;
  // Throws CorruptFile naming `source_name` on any truncation or inconsistency, and
  // IncompatibleVersion for a format newer than this build's. Checks the dimension
  // against kMaxDim before allocating anything sized by the stream.
  static LvqCodec load(std::istream& in, const std::string& source_name);

 private:
  static std::size_t index(Kind kind) { return static_cast<std::size_t>(kind); }
  void select_kernels(std::string_view isa);
  void encode_with(std::span<const float> x, std::span<float> centred, std::byte* primary,
                   std::byte* residual) const;

  std::size_t dim_;
  LvqConfig config_;
  std::vector<float> mean_;  // zero-padded to a multiple of kPadDims
  std::size_t primary_bytes_;
  std::size_t residual_bytes_;
  const char* isa_ = nullptr;
  DistanceFn first_level_[2] = {};  // indexed by index(Kind)
  TwoLevelFn two_level_[2] = {};
  SymmetricFn symmetric_[2] = {};
};

}  // namespace quiver::quant
